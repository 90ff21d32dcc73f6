package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// The audit chain is one partition, "AUDIT": its entries sorted by their
// zero-padded Seq, and its head (sk "HEAD": the last Seq and Hash). An
// append is a transaction that writes the entries and moves the head on
// condition that it is where the append read it, so two appends can never
// both chain after the same entry: the loser reads the new head and
// chains again.

const (
	auditPK = "AUDIT"
	// maxAuditAppend is the most entries one append writes: one
	// transaction with the head.
	maxAuditAppend = MaxTxItems - 1
	// auditRetries bounds how often an append chains again after losing
	// the head to a concurrent one.
	auditRetries = 50
)

func auditSK(seq int64) string { return fmt.Sprintf("E%020d", seq) }

var auditHeadKey = map[string]types.AttributeValue{"pk": str(auditPK), "sk": str("HEAD")}

// AppendAudit appends entries to the chain, filling Seq, PrevHash and
// Hash. Up to 99 entries go in one transaction with the head. More are
// written in consecutive transactions of 99, each chained after the one
// before: the chain is whole at every moment, but a failure part way
// leaves the entries before it appended (they have their Seq and Hash
// filled; the rest have none) and returns the error.
func (s *Store) AppendAudit(ctx context.Context, entries []store.AuditEntry) error {
	if err := store.CheckAudit(entries); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	for start := 0; start < len(entries); start += maxAuditAppend {
		if err := s.appendAuditTx(ctx, entries[start:min(start+maxAuditAppend, len(entries))]); err != nil {
			if start > 0 {
				return fmt.Errorf("%w (entries 1 to %d of %d are appended)", err, start, len(entries))
			}
			return err
		}
	}
	return nil
}

// appendAuditTx appends up to maxAuditAppend entries in one transaction,
// chaining again when the head moved.
func (s *Store) appendAuditTx(ctx context.Context, entries []store.AuditEntry) error {
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		var t txn
		out, err := s.chainAudit(ctx, &t, entries)
		if err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		err = s.commit(ctx, "append audit", &t)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		copy(entries, out)
		return nil
	}
	return fmt.Errorf("append audit: %w: the head moved %d times", store.ErrConflict, auditRetries)
}

// chainAudit reads the head and adds to t the entries chained after it
// and the head's move, conditional on the head read.
func (s *Store) chainAudit(ctx context.Context, t *txn, entries []store.AuditEntry) ([]store.AuditEntry, error) {
	head, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)), Key: auditHeadKey, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read audit head: %w", err)
	}
	seq, prev := getN(head.Item, "seq"), getS(head.Item, "hash")
	out := store.ChainAudit(entries, seq, prev, s.now())
	for _, e := range out {
		it, err := auditItem(e)
		if err != nil {
			return nil, err
		}
		t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
	}
	last := out[len(out)-1]
	h := map[string]types.AttributeValue{"pk": str(auditPK), "sk": str("HEAD"), "seq": num(last.Seq), "hash": str(last.Hash)}
	if head.Item == nil {
		t.put(s.table(tData), h, "attribute_not_exists(pk)", nil)
	} else {
		t.put(s.table(tData), h, "seq = :seq", map[string]types.AttributeValue{":seq": num(seq)})
	}
	return out, nil
}

func auditItem(e store.AuditEntry) (map[string]types.AttributeValue, error) {
	changes := e.ChangesMade
	e.ChangesMade = nil
	doc, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit %d: %w", e.Seq, err)
	}
	it := map[string]types.AttributeValue{"pk": str(auditPK), "sk": str(auditSK(e.Seq)),
		"client_id": str(e.ClientID), "action": str(e.Action), "ts": num(microsOf(e.Timestamp)), "doc": str(string(doc)),
		"hash": str(e.Hash)}
	if len(changes) > 0 {
		it["changes_made"] = str(string(changes))
	}
	return it, checkItem(fmt.Sprintf("audit entry %d", e.Seq), it)
}

func decodeAudit(it map[string]types.AttributeValue) (store.AuditEntry, error) {
	var e store.AuditEntry
	if err := json.Unmarshal([]byte(getS(it, "doc")), &e); err != nil {
		return store.AuditEntry{}, fmt.Errorf("decode audit %s: %w", getS(it, "sk"), err)
	}
	if c := getS(it, "changes_made"); c != "" {
		e.ChangesMade = json.RawMessage(c)
	}
	return e, nil
}

// ListAudit returns entries oldest first, cursor-paginated by Seq; the
// filters are a FilterExpression on the chain's partition.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error) {
	var after int64
	if q.Cursor != "" {
		if err := store.DecodeCursor(q.Cursor, &after); err != nil {
			return nil, "", fmt.Errorf("list audit: %w", err)
		}
	}
	limit := store.PageLimit(q.Limit)
	// Entries a checkpoint stands for may not all be deleted yet.
	cp, err := s.checkpointSeq(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	after = max(after, cp)
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(auditPK),
			":from": str(auditSK(after + 1)), ":to": str(auditSK(1 << 62))}}
	var f filterExpr
	f.eq("client_id", q.ClientID)
	f.eq("action", q.Action)
	if !q.Since.IsZero() {
		f.cond("ts >= :since", ":since", num(microsOf(q.Since)))
	}
	if !q.Until.IsZero() {
		f.cond("ts < :until", ":until", num(microsOf(q.Until)))
	}
	f.apply(in)
	items, err := s.queryPage(ctx, in, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	if len(items) > limit+1 {
		items = items[:limit+1]
	}
	out := make([]store.AuditEntry, 0, len(items))
	for _, it := range items {
		e, err := decodeAudit(it)
		if err != nil {
			return nil, "", fmt.Errorf("list audit: %w", err)
		}
		if q.Brief {
			e = store.AuditEntry{Seq: e.Seq, Timestamp: e.Timestamp, Action: e.Action, ClientID: e.ClientID, StackID: e.StackID,
				DriftID: e.DriftID, ApprovalRequired: e.ApprovalRequired, ChangesMade: e.ChangesMade}
		}
		out = append(out, e)
	}
	page, next := store.NextPage(out, limit, store.AuditKey)
	return page, next, nil
}

// headBackoff waits before attempt (from 1) of a write that lost a
// conditional head (the audit chain's, the stream log's, a revision) to a
// concurrent one: a jittered delay growing to 50 ms, so that writers
// contending for one item spread out instead of retrying in step until
// their retries run out. Attempt 0 does not wait; a cancelled ctx ends
// the wait (the write then fails on ctx).
func headBackoff(ctx context.Context, attempt int) {
	if attempt == 0 {
		return
	}
	ceiling := min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
