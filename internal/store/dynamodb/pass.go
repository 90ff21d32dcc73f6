package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Drifts live in one partition per client ("DRIFT/client"), sorted by
// stack then id: a stack's are a prefix of its client's. Results live in
// one partition per client ("RESULT/client") sorted by start time.

func driftKey(clientID, stackID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("DRIFT/" + clientID), "sk": str(stackID + " " + id)}
}

func driftItem(d drift.Drift) (map[string]types.AttributeValue, error) {
	d = store.TruncateDrift(d)
	doc, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode drift %s: %w", d.ID, err)
	}
	it := driftKey(d.ClientID, d.StackID, d.ID)
	it["doc"] = str(string(doc))
	it["open"] = &types.AttributeValueMemberBOOL{Value: d.ResolvedAt == nil}
	it["drift_id"] = str(d.ID)
	return it, checkItem("drift "+d.ID, it)
}

func decodeDrift(it map[string]types.AttributeValue) (drift.Drift, error) {
	var d drift.Drift
	if err := json.Unmarshal([]byte(getS(it, "doc")), &d); err != nil {
		return drift.Drift{}, fmt.Errorf("decode drift %s: %w", getS(it, "sk"), err)
	}
	return d, nil
}

// stackDrifts reads a stack's drifts (every stack's of the client when
// stackID is empty), by stack then id.
func (s *Store) stackDrifts(ctx context.Context, clientID, stackID string, resolved bool) ([]drift.Drift, error) {
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("DRIFT/" + clientID)}}
	if stackID != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :st)")
		in.ExpressionAttributeValues[":st"] = str(stackID + " ")
	}
	if !resolved {
		in.FilterExpression = aws.String("#open = :t")
		in.ExpressionAttributeNames = map[string]string{"#open": "open"}
		in.ExpressionAttributeValues[":t"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	items, err := s.queryAll(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make([]drift.Drift, 0, len(items))
	for _, it := range items {
		d, err := decodeDrift(it)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ListDrifts returns drifts ordered by stack then id.
func (s *Store) ListDrifts(ctx context.Context, q store.DriftQuery) ([]drift.Drift, error) {
	out, err := s.stackDrifts(ctx, q.ClientID, q.StackID, q.IncludeResolved)
	if err != nil {
		return nil, fmt.Errorf("list drifts: %w", err)
	}
	return out, nil
}

// errPassIncomplete: CommitPass of a pass with parts the driver does not
// write yet (heal attempts, approvals, a fence, stream events, checked
// events).
var errPassIncomplete = fmt.Errorf("%w: commit pass with heals, approvals or stream events", ErrIncomplete)

// CommitPass writes a pass in one transaction, conditional on the state's
// revision and on the audit chain's head: state, drifts (those no longer
// open resolved), result, audit entries. The transaction holds one write
// per item; a pass that needs more than TransactWriteItems' 100 (or 4 MB)
// is refused whole with ErrTooLarge, never split.
func (s *Store) CommitPass(ctx context.Context, p store.Pass) (store.StateRecord, error) {
	key := p.State.Key()
	if len(p.Heals)+len(p.HealUpdates)+len(p.Approvals)+len(p.RetiredApprovals)+len(p.Stream) > 0 {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, errPassIncomplete)
	}
	r, err := store.CheckPassResult(p)
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
	}
	for i, d := range p.Drifts {
		if p.Drifts[i], err = store.CheckPassDrift(p, d); err != nil {
			return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
		}
	}
	if err := store.CheckAudit(p.Audit); err != nil {
		return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
	}
	for range auditRetries {
		out, entries, err := s.tryCommitPass(ctx, p, r)
		if errors.Is(err, errHeadMoved) {
			continue
		}
		if err != nil {
			return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
		}
		copy(p.Audit, entries)
		if err := s.markChecked(ctx, p.State.ClientID, p.State.StackID, p.CheckedThrough); err != nil {
			return out, fmt.Errorf("commit pass %s: the pass is committed, its events are not all marked checked (the next pass reads them again): %w", key, err)
		}
		return out, nil
	}
	return store.StateRecord{}, fmt.Errorf("commit pass %s: %w: the audit head moved %d times", key, store.ErrConflict, auditRetries)
}

// errHeadMoved: a pass lost the audit head (not its state) to a
// concurrent write, and chains again.
var errHeadMoved = errors.New("audit head moved")

func (s *Store) tryCommitPass(ctx context.Context, p store.Pass, r store.ReconciliationResult) (store.StateRecord, []store.AuditEntry, error) {
	cur, err := s.GetState(ctx, p.State.ClientID, p.State.StackID)
	if err != nil {
		return store.StateRecord{}, nil, err
	}
	if cur.Revision != p.State.Revision {
		return store.StateRecord{}, nil, fmt.Errorf("revision %d: %w", p.State.Revision, store.ErrConflict)
	}
	rec := p.State
	rec.CreatedAt, rec.Hold, rec.UpdatedAt, rec.Revision = cur.CreatedAt, cur.Hold, s.now(), cur.Revision+1
	out, err := storedRecord(rec)
	if err != nil {
		return store.StateRecord{}, nil, err
	}
	var t txn
	if err := putState(&t, s.table(tState), out, cur.Revision); err != nil {
		return store.StateRecord{}, nil, err
	}
	fence := -1
	if p.Fence != nil {
		fence = len(t.items)
		t.check(s.fenceCheck(p.Fence, r.CompletedAt))
	}
	if err := s.passDrifts(ctx, &t, p, r); err != nil {
		return store.StateRecord{}, nil, err
	}
	res, err := resultItem(r)
	if err != nil {
		return store.StateRecord{}, nil, err
	}
	t.put(s.table(tData), res, "attribute_not_exists(pk)", nil)
	// A reconciliation id is unique across the store: its own item,
	// written only if absent, holds it.
	rid := len(t.items)
	t.put(s.table(tData), ridItem(r), "attribute_not_exists(pk)", nil)
	var entries []store.AuditEntry
	if len(p.Audit) > 0 {
		if entries, err = s.chainAudit(ctx, &t, p.Audit); err != nil {
			return store.StateRecord{}, nil, err
		}
	}
	err = s.commit(ctx, "write", &t)
	switch at := conflictAt(err); {
	case at == 0:
		return store.StateRecord{}, nil, fmt.Errorf("revision %d: %w", p.State.Revision, store.ErrConflict)
	case at == fence:
		return store.StateRecord{}, nil, fmt.Errorf("shard %d epoch %d of %s: %w", p.Fence.Shard, p.Fence.Epoch, p.Fence.Owner, store.ErrFenced)
	case at == rid:
		return store.StateRecord{}, nil, fmt.Errorf("reconciliation id %s is stored already: %w", r.ReconciliationID, store.ErrConflict)
	case at > 0:
		// A drift acknowledged or the audit head moved since they were
		// read: read them again.
		return store.StateRecord{}, nil, errHeadMoved
	}
	return out, entries, err
}

func ridItem(r store.ReconciliationResult) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("RID/" + r.ReconciliationID), "sk": str("-"),
		"client_id": str(r.ClientID), "stack_id": str(r.StackID)}
}

// passDrifts adds the pass's drifts to t, and resolves the stack's open
// drifts the pass no longer lists. An open drift stays acknowledged.
func (s *Store) passDrifts(ctx context.Context, t *txn, p store.Pass, r store.ReconciliationResult) error {
	open, err := s.stackDrifts(ctx, p.State.ClientID, p.State.StackID, false)
	if err != nil {
		return fmt.Errorf("read drifts: %w", err)
	}
	stored := map[string]drift.Drift{}
	docs := map[string]string{}
	for _, d := range open {
		stored[d.ID] = d
		it, err := driftItem(d)
		if err != nil {
			return err
		}
		docs[d.ID] = getS(it, "doc")
	}
	// Each write is conditional on the drift being as read: an
	// acknowledgement in between makes the pass read again.
	cond := func(id string) (string, map[string]types.AttributeValue) {
		if doc, ok := docs[id]; ok {
			return "doc = :doc", map[string]types.AttributeValue{":doc": str(doc)}
		}
		return "attribute_not_exists(pk) OR #open = :f", nil
	}
	for _, d := range p.Drifts {
		if old, ok := stored[d.ID]; ok && old.Acknowledged {
			d.Acknowledged, d.AcknowledgedBy = true, old.AcknowledgedBy
		}
		delete(stored, d.ID)
		it, err := driftItem(d)
		if err != nil {
			return err
		}
		c, vals := cond(d.ID)
		t.putNamed(s.table(tData), it, c, vals)
	}
	at := store.Truncate(r.CompletedAt)
	for _, d := range stored {
		d.ResolvedAt = &at
		it, err := driftItem(d)
		if err != nil {
			return err
		}
		c, vals := cond(d.ID)
		t.putNamed(s.table(tData), it, c, vals)
	}
	return nil
}

func resultItem(r store.ReconciliationResult) (map[string]types.AttributeValue, error) {
	r.StartedAt, r.CompletedAt = store.Truncate(r.StartedAt), store.Truncate(r.CompletedAt)
	doc, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode result %s: %w", r.ReconciliationID, err)
	}
	it := map[string]types.AttributeValue{"pk": str("RESULT/" + r.ClientID),
		"sk":       str(fmt.Sprintf("%020d %s", r.StartedAt.UnixMicro()+1<<62, strings.ReplaceAll(r.ReconciliationID, " ", "_"))),
		"stack_id": str(r.StackID), "doc": str(string(doc))}
	return it, checkItem("result "+r.ReconciliationID, it)
}
