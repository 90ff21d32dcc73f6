package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// The audit chain's checkpoint is an item of its partition (sk "CP");
// signed heads are a partition of their own ("AUDITHEAD", by padded seq
// then key id). Pruning writes the checkpoint first, conditional on the
// one the pruner built on, on the entry it names and on the head being
// past it; the entries and heads it stands for are deleted after, in
// batches (ListAudit starts after the checkpoint, so entries not deleted
// yet are never listed, and a pruner that died is finished by the next).

var checkpointKey = map[string]types.AttributeValue{"pk": str(auditPK), "sk": str("CP")}

func auditHeadItemKey(seq int64, keyID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("AUDITHEAD"), "sk": str(fmt.Sprintf("%020d %s", seq, keyID))}
}

// AuditCheckpoint returns the latest checkpoint, or store.ErrNotFound.
func (s *Store) AuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error) {
	it, err := s.getItem(ctx, checkpointKey)
	if err != nil {
		return store.AuditCheckpoint{}, fmt.Errorf("audit checkpoint: %w", err)
	}
	if it == nil {
		return store.AuditCheckpoint{}, fmt.Errorf("audit checkpoint: %w", store.ErrNotFound)
	}
	var cp store.AuditCheckpoint
	if err := json.Unmarshal([]byte(getS(it, "doc")), &cp); err != nil {
		return cp, fmt.Errorf("decode audit checkpoint: %w", err)
	}
	return cp, nil
}

// checkpointSeq is the seq of the stored checkpoint, 0 when none.
func (s *Store) checkpointSeq(ctx context.Context) (int64, error) {
	it, err := s.getItem(ctx, checkpointKey)
	if err != nil {
		return 0, err
	}
	return getN(it, "seq"), nil
}

// PruneAudit stores cp as the checkpoint and deletes the entries and
// signed heads with Seq <= cp.Seq.
func (s *Store) PruneAudit(ctx context.Context, prevSeq int64, cp store.AuditCheckpoint) (int, error) {
	if cp.Seq <= prevSeq {
		return 0, fmt.Errorf("prune audit: %w: checkpoint %d is not after %d", store.ErrConflict, cp.Seq, prevSeq)
	}
	cp.CreatedAt = store.Truncate(cp.CreatedAt)
	doc, err := json.Marshal(cp)
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	var t txn
	it := map[string]types.AttributeValue{"pk": str(auditPK), "sk": str("CP"), "seq": num(cp.Seq), "doc": str(string(doc))}
	if prevSeq == 0 {
		t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
	} else {
		t.put(s.table(tData), it, "seq = :prev", map[string]types.AttributeValue{":prev": num(prevSeq)})
	}
	t.check(&types.ConditionCheck{TableName: aws.String(s.table(tData)),
		Key:                 map[string]types.AttributeValue{"pk": str(auditPK), "sk": str(auditSK(cp.Seq))},
		ConditionExpression: aws.String("#h = :hash"), ExpressionAttributeNames: map[string]string{"#h": "hash"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":hash": str(cp.Hash)}})
	t.check(&types.ConditionCheck{TableName: aws.String(s.table(tData)), Key: auditHeadKey,
		ConditionExpression: aws.String("seq > :seq"), ExpressionAttributeValues: map[string]types.AttributeValue{":seq": num(cp.Seq)}})
	if err := s.commit(ctx, "prune audit", &t); err != nil {
		return 0, err
	}
	return s.deletePruned(ctx, cp.Seq)
}

// deletePruned deletes the entries and heads a checkpoint at seq stands
// for (those a pruner before left too).
func (s *Store) deletePruned(ctx context.Context, seq int64) (int, error) {
	entries, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"), ProjectionExpression: aws.String("pk, sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(auditPK), ":from": str(auditSK(1)), ":to": str(auditSK(seq))}})
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	heads, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk < :to"), ProjectionExpression: aws.String("pk, sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("AUDITHEAD"), ":to": str(fmt.Sprintf("%020d~", seq))}})
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	keys := append(entries, heads...)
	for start := 0; start < len(keys); start += MaxTxItems {
		var t txn
		for _, k := range keys[start:min(start+MaxTxItems, len(keys))] {
			t.del(s.table(tData), k)
		}
		if err := s.commit(ctx, "prune audit", &t); err != nil {
			return start, err
		}
	}
	return len(entries), nil
}

func decodeAuditHead(it map[string]types.AttributeValue) (store.AuditHead, error) {
	var h store.AuditHead
	err := json.Unmarshal([]byte(getS(it, "doc")), &h)
	return h, err
}

// AuditChainHead returns the newest entry's Seq and Hash.
func (s *Store) AuditChainHead(ctx context.Context) (store.AuditHead, error) {
	it, err := s.getItem(ctx, auditHeadKey)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("audit chain head: %w", err)
	}
	if it == nil {
		return store.AuditHead{}, fmt.Errorf("audit chain head: %w", store.ErrNotFound)
	}
	return store.AuditHead{Seq: getN(it, "seq"), Hash: getS(it, "hash")}, nil
}

// AddAuditHead stores a signed head of an entry stored with its hash,
// once per (Seq, KeyID).
func (s *Store) AddAuditHead(ctx context.Context, h store.AuditHead) (bool, error) {
	h.SignedAt = store.Truncate(h.SignedAt)
	doc, err := json.Marshal(h)
	if err != nil {
		return false, fmt.Errorf("add audit head: %w", err)
	}
	var t txn
	t.check(&types.ConditionCheck{TableName: aws.String(s.table(tData)),
		Key:                 map[string]types.AttributeValue{"pk": str(auditPK), "sk": str(auditSK(h.Seq))},
		ConditionExpression: aws.String("#h = :hash"), ExpressionAttributeNames: map[string]string{"#h": "hash"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":hash": str(h.Hash)}})
	it := auditHeadItemKey(h.Seq, h.KeyID)
	it["doc"], it["key_id"] = str(string(doc)), str(h.KeyID)
	t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
	err = s.commit(ctx, "add audit head", &t)
	switch conflictAt(err) {
	case 0:
		return false, fmt.Errorf("add audit head %d: %w: no entry %d with that hash", h.Seq, store.ErrConflict, h.Seq)
	case 1:
		return false, nil
	}
	return err == nil, err
}

// ListAuditHeads lists the signed heads by Seq then KeyID.
func (s *Store) ListAuditHeads(ctx context.Context, cursor string, limit int) ([]store.AuditHead, store.Page, error) {
	after := ""
	if cursor != "" {
		var seq int64
		var key string
		if err := store.DecodeCursor(cursor, &seq, &key); err != nil {
			return nil, "", fmt.Errorf("list audit heads: %w", err)
		}
		after = getS(auditHeadItemKey(seq, key), "sk")
	}
	limit = store.PageLimit(limit)
	items, err := s.queryPage(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk AND sk > :after"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("AUDITHEAD"), ":after": str(after)},
		Limit:                     aws.Int32(int32(limit + 1))}, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list audit heads: %w", err)
	}
	var out []store.AuditHead
	for _, it := range items[:min(len(items), limit+1)] {
		h, err := decodeAuditHead(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, h)
	}
	out, next := store.NextPage(out, limit, store.AuditHeadKey)
	return out, next, nil
}

// LatestAuditHead returns keyID's signed head of the highest Seq.
func (s *Store) LatestAuditHead(ctx context.Context, keyID string) (store.AuditHead, error) {
	items, err := s.queryPage(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), FilterExpression: aws.String("key_id = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("AUDITHEAD"), ":k": str(keyID)},
		ScanIndexForward:          aws.Bool(false)}, 1)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("latest audit head: %w", err)
	}
	if len(items) == 0 {
		return store.AuditHead{}, fmt.Errorf("latest audit head of %s: %w", keyID, store.ErrNotFound)
	}
	return decodeAuditHead(items[0])
}
