package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// Known-good snapshots: one partition per stack ("SNAP/client/stack", by
// TakenAt then id), a pointer per id ("SNAPID/id") for GetSnapshot.
// Inserting one prunes the stack's oldest beyond store.MaxSnapshots in
// the same transaction, under a check of the stack's state revision as
// read (the hold naming the snapshot it keeps). Rollback records are rare
// (an operator starts each): one partition ("ROLLBACK", by id).

func snapshotPK(clientID, stackID string) string { return "SNAP/" + clientID + "/" + stackID }

func snapshotPtrKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("SNAPID/" + id), "sk": str("-")}
}

func snapshotItem(sn store.Snapshot) (map[string]types.AttributeValue, error) {
	doc, err := json.Marshal(sn)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot %s: %w", sn.ID, err)
	}
	it := map[string]types.AttributeValue{"pk": str(snapshotPK(sn.ClientID, sn.StackID)),
		"sk": str(padMicros(microsOf(sn.TakenAt)) + " " + sn.ID), "id": str(sn.ID), "doc": str(string(doc))}
	return it, checkItem("snapshot "+sn.ID, it)
}

func decodeSnapshot(it map[string]types.AttributeValue) (store.Snapshot, error) {
	var sn store.Snapshot
	if err := json.Unmarshal([]byte(getS(it, "doc")), &sn); err != nil {
		return sn, fmt.Errorf("decode snapshot %s: %w", getS(it, "id"), err)
	}
	return sn, nil
}

// snapshotByID reads a snapshot's item through its pointer; nil when none.
func (s *Store) snapshotByID(ctx context.Context, id string) (map[string]types.AttributeValue, error) {
	ptr, err := s.getItem(ctx, snapshotPtrKey(id))
	if err != nil || ptr == nil {
		return nil, err
	}
	return s.getItem(ctx, map[string]types.AttributeValue{"pk": ptr["spk"], "sk": ptr["ssk"]})
}

// PutSnapshot inserts a snapshot or confirms a known one, and prunes the
// stack's oldest beyond store.MaxSnapshots, in one transaction.
func (s *Store) PutSnapshot(ctx context.Context, sn store.Snapshot) (store.Snapshot, error) {
	if err := store.CheckSnapshot(sn); err != nil {
		return store.Snapshot{}, fmt.Errorf("put snapshot: %w", err)
	}
	sn.TakenAt, sn.ConfirmedAt = store.Truncate(sn.TakenAt), store.Truncate(sn.ConfirmedAt)
	if sn.ConfirmedAt.IsZero() {
		sn.ConfirmedAt = sn.TakenAt
	}
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		out, err := s.tryPutSnapshot(ctx, sn)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return out, err
	}
	return store.Snapshot{}, fmt.Errorf("put snapshot %s: %w", sn.ID, store.ErrConflict)
}

func (s *Store) tryPutSnapshot(ctx context.Context, sn store.Snapshot) (store.Snapshot, error) {
	what := "put snapshot " + sn.ID
	old, err := s.snapshotByID(ctx, sn.ID)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("%s: %w", what, err)
	}
	var t txn
	if old != nil {
		cur, err := decodeSnapshot(old)
		if err != nil || !sn.ConfirmedAt.After(cur.ConfirmedAt) {
			return cur, err
		}
		cur.ConfirmedAt = sn.ConfirmedAt
		it, err := snapshotItem(cur)
		if err != nil {
			return store.Snapshot{}, fmt.Errorf("%s: %w", what, err)
		}
		t.put(s.table(tData), it, "doc = :doc", map[string]types.AttributeValue{":doc": old["doc"]})
		return cur, s.commit(ctx, what, &t)
	}
	it, err := snapshotItem(sn)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("%s: %w", what, err)
	}
	t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
	t.put(s.table(tData), map[string]types.AttributeValue{"pk": str("SNAPID/" + sn.ID), "sk": str("-"),
		"spk": it["pk"], "ssk": it["sk"]}, "attribute_not_exists(pk)", nil)
	if err := s.pruneSnapshots(ctx, &t, sn, getS(it, "sk")); err != nil {
		return store.Snapshot{}, fmt.Errorf("%s: %w", what, err)
	}
	return sn, s.commit(ctx, what, &t)
}

// pruneSnapshots adds to t the deletion of the stack's snapshots beyond
// the MaxSnapshots newest (counting the one being inserted, sorted as
// newSK) but for the one the stack's hold names, and a check that the
// state (its hold) is as read.
func (s *Store) pruneSnapshots(ctx context.Context, t *txn, sn store.Snapshot, newSK string) error {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), ScanIndexForward: aws.Bool(false),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(snapshotPK(sn.ClientID, sn.StackID))}})
	if err != nil || len(items) < store.MaxSnapshots {
		return err
	}
	sks := []string{newSK}
	ids := map[string]string{newSK: sn.ID}
	for _, it := range items {
		sks = append(sks, getS(it, "sk"))
		ids[getS(it, "sk")] = getS(it, "id")
	}
	slices.Sort(sks)
	slices.Reverse(sks)
	st, err := s.getStateItem(ctx, sn.ClientID, sn.StackID)
	if err != nil {
		return err
	}
	check := &types.ConditionCheck{TableName: aws.String(s.table(tState)), Key: stateKey(sn.ClientID, sn.StackID),
		ConditionExpression: aws.String("attribute_not_exists(client_id)")}
	held := ""
	if st != nil {
		rec, err := decodeState(st)
		if err != nil {
			return err
		}
		if rec.Hold != nil {
			held = rec.Hold.Snapshot
		}
		check.ConditionExpression = aws.String("revision = :rev")
		check.ExpressionAttributeValues = map[string]types.AttributeValue{":rev": num(rec.Revision)}
	}
	for _, sk := range sks[min(len(sks), store.MaxSnapshots):] {
		if ids[sk] == held {
			continue
		}
		t.del(s.table(tData), map[string]types.AttributeValue{"pk": str(snapshotPK(sn.ClientID, sn.StackID)), "sk": str(sk)})
		t.del(s.table(tData), snapshotPtrKey(ids[sk]))
	}
	t.check(check)
	return nil
}

// GetSnapshot returns a snapshot by id.
func (s *Store) GetSnapshot(ctx context.Context, id string) (store.Snapshot, error) {
	it, err := s.snapshotByID(ctx, id)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("get snapshot %s: %w", id, err)
	}
	if it == nil {
		return store.Snapshot{}, fmt.Errorf("get snapshot %s: %w", id, store.ErrNotFound)
	}
	return decodeSnapshot(it)
}

// ListSnapshots lists a stack's snapshots, newest first.
func (s *Store) ListSnapshots(ctx context.Context, clientID, stackID string) ([]store.Snapshot, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), ScanIndexForward: aws.Bool(false),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(snapshotPK(clientID, stackID))}})
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s/%s: %w", clientID, stackID, err)
	}
	out := make([]store.Snapshot, 0, len(items))
	for _, it := range items {
		sn, err := decodeSnapshot(it)
		if err != nil {
			return nil, err
		}
		out = append(out, sn)
	}
	return out, nil
}
