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
	out, _, err := s.stackDriftItems(ctx, clientID, stackID, resolved)
	return out, err
}

// stackDriftItems is stackDrifts with the items read.
func (s *Store) stackDriftItems(ctx context.Context, clientID, stackID string, resolved bool) ([]drift.Drift, []map[string]types.AttributeValue, error) {
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
		return nil, nil, err
	}
	out := make([]drift.Drift, 0, len(items))
	for _, it := range items {
		d, err := decodeDrift(it)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, d)
	}
	return out, items, nil
}

// ListDrifts returns drifts ordered by stack then id.
func (s *Store) ListDrifts(ctx context.Context, q store.DriftQuery) ([]drift.Drift, error) {
	out, err := s.stackDrifts(ctx, q.ClientID, q.StackID, q.IncludeResolved)
	if err != nil {
		return nil, fmt.Errorf("list drifts: %w", err)
	}
	return out, nil
}

// CommitPass writes a pass in one transaction, conditional on the state's
// revision, the shard's lease (Fence), the audit chain's head and every
// record it read: state, drifts (those no longer open resolved, returns
// recorded), result, audit entries, heal attempts and verdicts, approval
// requests; then marks the events it saw checked (markChecked). The transaction holds one write
// per item; a pass that needs more than TransactWriteItems' 100 (or 4 MB)
// is refused whole with ErrTooLarge, never split.
func (s *Store) CommitPass(ctx context.Context, p store.Pass) (store.StateRecord, error) {
	key := p.State.Key()
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
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		out, entries, err := s.tryCommitPass(ctx, p, r)
		if errors.Is(err, errHeadMoved) {
			continue
		}
		if err != nil {
			return store.StateRecord{}, fmt.Errorf("commit pass %s: %w", key, err)
		}
		copy(p.Audit, entries)
		if len(p.Stream) > 0 {
			s.streamWake.wake()
		}
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
	groups, err := s.passHeals(ctx, &t, p)
	if err != nil {
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
	if err := s.chainStream(ctx, &t, p.Stream); err != nil {
		return store.StateRecord{}, nil, err
	}
	later := packGroups(&t, groups)
	err = s.commit(ctx, "write", &t)
	if err == nil && len(later) > 0 {
		if err := s.commitLater(ctx, p, later); err != nil {
			return store.StateRecord{}, nil, err
		}
	}
	switch at := conflictAt(err); {
	case at == 0:
		return store.StateRecord{}, nil, fmt.Errorf("revision %d: %w", p.State.Revision, store.ErrConflict)
	case at >= 0 && at == fence:
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

// passDrifts adds the pass's drifts to t, resolves the stack's open
// drifts the pass no longer lists, and records a return for each drift
// stored resolved that the pass reports open. An open drift stays
// acknowledged. Each write is conditional on the drift being as read: an
// acknowledgement in between makes the pass read again.
func (s *Store) passDrifts(ctx context.Context, t *txn, p store.Pass, r store.ReconciliationResult) error {
	all, items, err := s.stackDriftItems(ctx, p.State.ClientID, p.State.StackID, true)
	if err != nil {
		return fmt.Errorf("read drifts: %w", err)
	}
	open := map[string]drift.Drift{}
	known := map[string]drift.Drift{}
	docs := map[string]string{}
	// ackAt: when each drift was acknowledged (an attribute of its item,
	// kept while it stays open and acknowledged, as the SQL drivers keep
	// their acknowledged_at column).
	ackAt := map[string]types.AttributeValue{}
	for i, d := range all {
		if v, ok := items[i]["acknowledged_at"]; ok {
			ackAt[d.ID] = v
		}
		known[d.ID] = d
		if d.ResolvedAt == nil {
			open[d.ID] = d
		}
		it, err := driftItem(d)
		if err != nil {
			return err
		}
		docs[d.ID] = getS(it, "doc")
	}
	put := func(d drift.Drift, keepAck bool) error {
		it, err := driftItem(d)
		if err != nil {
			return err
		}
		if v, ok := ackAt[d.ID]; ok && keepAck {
			it["acknowledged_at"] = v
		}
		if doc, ok := docs[d.ID]; ok {
			t.put(s.table(tData), it, "doc = :doc", map[string]types.AttributeValue{":doc": str(doc)})
		} else {
			t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
		}
		return nil
	}
	at := store.Truncate(r.CompletedAt)
	for _, d := range p.Drifts {
		old, acked := open[d.ID]
		acked = acked && old.Acknowledged
		if acked {
			d.Acknowledged, d.AcknowledgedBy = true, old.AcknowledgedBy
		}
		if old, ok := known[d.ID]; ok && old.ResolvedAt != nil && d.ResolvedAt == nil {
			t.put(s.table(tData), map[string]types.AttributeValue{"pk": str("RETURN/" + d.ClientID + "/" + d.StackID),
				"sk": str(padMicros(at.UnixMicro()) + " " + d.ID + " " + r.ReconciliationID), "drift_id": str(d.ID)}, "", nil)
		}
		delete(open, d.ID)
		if err := put(d, acked); err != nil {
			return err
		}
	}
	for _, d := range open {
		d.ResolvedAt = &at
		if err := put(d, true); err != nil {
			return err
		}
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

// packGroups adds to t the groups of writes that fit in its transaction,
// in order, and returns those that do not.
func packGroups(t *txn, groups [][]types.TransactWriteItem) [][]types.TransactWriteItem {
	for i, g := range groups {
		if len(t.items)+len(g) > MaxTxItems {
			return groups[i:]
		}
		t.items = append(t.items, g...)
	}
	return nil
}

// commitLater writes the groups of a pass that did not fit in its
// transaction (a pass deciding more heal attempts or verdicts than 100
// writes hold), after it committed, in transactions of their own, each
// under the pass's fence. Each group is one attempt or verdict, written
// whole or not at all; a failure leaves the pass committed without the
// attempts not yet written, and says so: the attempts are keyed by drift
// and attempt number, and the next pass of the stack, seeing the drift
// open without them, decides them again.
func (s *Store) commitLater(ctx context.Context, p store.Pass, groups [][]types.TransactWriteItem) error {
	for len(groups) > 0 {
		var t txn
		if p.Fence != nil {
			t.check(s.fenceCheck(p.Fence, p.Result.CompletedAt))
		}
		before := len(groups)
		if groups = packGroups(&t, groups); len(groups) == before {
			return fmt.Errorf("the pass is committed; a group of %d heal writes fits in no transaction", len(groups[0]))
		}
		if err := s.commit(ctx, "write the heal attempts that did not fit in the pass's transaction", &t); err != nil {
			if p.Fence != nil && conflictAt(err) == 0 {
				err = fmt.Errorf("%w: %w", store.ErrFenced, err)
			}
			return fmt.Errorf("the pass is committed, %d groups of heal writes are not (the next pass decides them again): %w", len(groups), err)
		}
	}
	return nil
}
