package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// Heal attempts: the attempt in its client's partition ("HEAL/client",
// sorted by creation then id, what ListHeals reads), a pointer from its
// id ("HEALID/id": the idempotency key, written only if absent), and,
// while it is pending or running, an item in the work queue ("HEALQ",
// sorted by when it is due: NotBefore, or the end of its lease), which
// ClaimHeals reads. Every change of an attempt is conditional on its
// document as read, so two workers never both claim one.

func healSK(h store.HealAttempt) string { return padMicros(microsOf(h.CreatedAt)) + " " + h.ID }

func healKey(h store.HealAttempt) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("HEAL/" + h.ClientID), "sk": str(healSK(h))}
}

func healIDKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("HEALID/" + id), "sk": str("-")}
}

// queueKey is the attempt's queue item, nil when it is not claimable.
func queueKey(h store.HealAttempt) map[string]types.AttributeValue {
	var due time.Time
	switch {
	case h.Status == store.HealPending:
		due = h.NotBefore
	case h.Status == store.HealRunning && h.LeaseUntil != nil:
		due = *h.LeaseUntil
	default:
		return nil
	}
	return map[string]types.AttributeValue{"pk": str("HEALQ"), "sk": str(padMicros(microsOf(due)) + " " + h.ID)}
}

// storedHeal is h with its times truncated, as read back.
func storedHeal(h store.HealAttempt) store.HealAttempt {
	h.NotBefore, h.CreatedAt = store.Truncate(h.NotBefore), store.Truncate(h.CreatedAt)
	for _, p := range []**time.Time{&h.LeaseUntil, &h.StartedAt, &h.CompletedAt, &h.VerifiedAt} {
		if *p != nil {
			t := store.Truncate(**p)
			*p = &t
		}
	}
	return h
}

func healItem(h store.HealAttempt) (map[string]types.AttributeValue, error) {
	drift := h.Drift
	h.Drift = nil
	doc, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode heal %s: %w", h.ID, err)
	}
	it := healKey(h)
	it["doc"], it["id"], it["status"] = str(string(doc)), str(h.ID), str(string(h.Status))
	it["stack_id"], it["drift_id"] = str(h.StackID), str(h.DriftID)
	if len(drift) > 0 {
		it["drift_detail"] = str(string(drift))
	}
	return it, checkItem("heal "+h.ID, it)
}

func decodeHeal(it map[string]types.AttributeValue) (store.HealAttempt, error) {
	var h store.HealAttempt
	if err := json.Unmarshal([]byte(getS(it, "doc")), &h); err != nil {
		return h, fmt.Errorf("decode heal %s: %w", getS(it, "id"), err)
	}
	if d := getS(it, "drift_detail"); d != "" {
		h.Drift = json.RawMessage(d)
	}
	return h, nil
}

// getHeal reads an attempt by id: its item (nil when there is none).
func (s *Store) getHeal(ctx context.Context, id string) (map[string]types.AttributeValue, store.HealAttempt, error) {
	ptr, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)), Key: healIDKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil || ptr.Item == nil {
		return nil, store.HealAttempt{}, err
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": ptr.Item["hpk"], "sk": ptr.Item["hsk"]}})
	if err != nil || out.Item == nil {
		return nil, store.HealAttempt{}, err
	}
	h, err := decodeHeal(out.Item)
	return out.Item, h, err
}

// newHeal adds a new attempt's items to t: the pointer only if absent.
func (s *Store) newHeal(t *txn, h store.HealAttempt) error {
	it, err := healItem(h)
	if err != nil {
		return err
	}
	ptr := healIDKey(h.ID)
	ptr["hpk"], ptr["hsk"] = it["pk"], it["sk"]
	t.put(s.table(tData), ptr, "attribute_not_exists(pk)", nil)
	t.put(s.table(tData), it, "", nil)
	if q := queueKey(h); q != nil {
		t.put(s.table(tData), q, "", nil)
	}
	return nil
}

// changeHeal adds to t the write of h over old (its item as read), and
// moves its queue item.
func (s *Store) changeHeal(t *txn, oldItem map[string]types.AttributeValue, old, h store.HealAttempt) error {
	it, err := healItem(h)
	if err != nil {
		return err
	}
	t.put(s.table(tData), it, "doc = :doc", map[string]types.AttributeValue{":doc": oldItem["doc"]})
	oq, nq := queueKey(old), queueKey(h)
	if oq != nil && (nq == nil || getS(oq, "sk") != getS(nq, "sk")) {
		t.del(s.table(tData), oq)
	}
	if nq != nil && (oq == nil || getS(oq, "sk") != getS(nq, "sk")) {
		t.put(s.table(tData), nq, "", nil)
	}
	return nil
}

// ListHeals returns attempts oldest first by (CreatedAt, ID): a query of
// the client's partition, or a scan of every client's, sorted.
func (s *Store) ListHeals(ctx context.Context, q store.HealQuery) ([]store.HealAttempt, store.Page, error) {
	var after string
	if q.Cursor != "" {
		var created int64
		var id string
		if err := store.DecodeCursor(q.Cursor, &created, &id); err != nil {
			return nil, "", fmt.Errorf("list heals: %w", err)
		}
		after = padMicros(created) + " " + id
	}
	limit := store.PageLimit(q.Limit)
	var f filterExpr
	f.eq("stack_id", q.StackID)
	f.eq("drift_id", q.DriftID)
	if len(q.Status) > 0 {
		f.in("status", q.Status)
	}
	from := ""
	if !q.Since.IsZero() {
		from = padMicros(microsOf(q.Since))
	}
	lo := max(from, after)
	var items []map[string]types.AttributeValue
	var err error
	if q.ClientID != "" {
		in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :pk AND sk > :lo"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("HEAL/" + q.ClientID), ":lo": str(lo)}}
		f.apply(in)
		items, err = s.queryPage(ctx, in, limit+2)
	} else {
		f.cond("begins_with(pk, :hpk) AND sk > :lo", ":hpk", str("HEAL/"))
		f.vals[":lo"] = str(lo)
		items, err = s.scanSorted(ctx, f, false)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list heals: %w", err)
	}
	var out []store.HealAttempt
	for _, it := range items {
		if getS(it, "sk") == after {
			continue
		}
		h, err := decodeHeal(it)
		if err != nil {
			return nil, "", err
		}
		if out = append(out, h); len(out) == limit+1 {
			break
		}
	}
	out, next := store.NextPage(out, limit, store.HealKey)
	return out, next, nil
}

// ClaimHeals takes up to c.Limit due attempts from the queue, oldest
// first, each by a write conditional on the attempt as read: one another
// worker took in between is passed over.
func (s *Store) ClaimHeals(ctx context.Context, c store.Claim) ([]store.HealAttempt, error) {
	if err := store.CheckClaimHeals(c.Owner, c.Lease); err != nil {
		return nil, err
	}
	limit, err := store.BatchLimit(c.Limit)
	if err != nil {
		return nil, fmt.Errorf("claim heals: %w", err)
	}
	now := store.Truncate(c.Now)
	queue, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk AND sk < :due"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("HEALQ"), ":due": str(padMicros(now.UnixMicro() + 1))}})
	if err != nil {
		return nil, fmt.Errorf("claim heals for %s: %w", c.Owner, err)
	}
	type due struct {
		item map[string]types.AttributeValue
		h    store.HealAttempt
	}
	var cands []due
	for _, q := range queue {
		item, h, err := s.getHeal(ctx, lastField(getS(q, "sk")))
		if err != nil {
			return nil, fmt.Errorf("claim heals for %s: %w", c.Owner, err)
		}
		ok := item != nil && (h.Status == store.HealPending && !h.NotBefore.After(now) ||
			h.Status == store.HealRunning && h.LeaseUntil != nil && h.LeaseUntil.Before(now))
		if ok {
			cands = append(cands, due{item, h})
		}
	}
	slices.SortFunc(cands, func(a, b due) int { return strings.Compare(healSK(a.h), healSK(b.h)) })
	var out []store.HealAttempt
	for _, d := range cands {
		if len(out) == limit {
			break
		}
		h := d.h
		until := store.Truncate(now.Add(c.Lease))
		h.Status, h.Owner, h.LeaseUntil, h.Claims = store.HealRunning, c.Owner, &until, h.Claims+1
		if h.StartedAt == nil {
			h.StartedAt = &now
		}
		var t txn
		if err := s.changeHeal(&t, d.item, d.h, h); err != nil {
			return nil, err
		}
		err := s.commit(ctx, "claim heal "+h.ID, &t)
		if errors.Is(err, store.ErrConflict) {
			continue // another worker's now
		}
		if err != nil {
			return nil, fmt.Errorf("claim heals for %s: %w", c.Owner, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// FinishHeal records the outcome of a running attempt held by p.Owner and
// appends p.Audit, in one transaction (conditional on the attempt and the
// audit head as read; a moved head is read again).
func (s *Store) FinishHeal(ctx context.Context, p store.FinishHeal) (store.HealAttempt, error) {
	if err := store.CheckFinishHeal(p); err != nil {
		return store.HealAttempt{}, err
	}
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		item, old, err := s.getHeal(ctx, p.ID)
		if err != nil {
			return store.HealAttempt{}, fmt.Errorf("finish heal %s: %w", p.ID, err)
		}
		if item == nil {
			return store.HealAttempt{}, fmt.Errorf("finish heal %s: %w", p.ID, store.ErrNotFound)
		}
		if old.Status != store.HealRunning || old.Owner != p.Owner {
			return store.HealAttempt{}, fmt.Errorf("finish heal %s: %w: not running under %s", p.ID, store.ErrConflict, p.Owner)
		}
		h := old
		at := store.Truncate(p.At)
		h.Status, h.Detail, h.Error, h.CompletedAt, h.LeaseUntil = p.Status, p.Detail, p.Error, &at, nil
		var t txn
		if err := s.changeHeal(&t, item, old, h); err != nil {
			return store.HealAttempt{}, err
		}
		var entries []store.AuditEntry
		if len(p.Audit) > 0 {
			if entries, err = s.chainAudit(ctx, &t, p.Audit); err != nil {
				return store.HealAttempt{}, err
			}
		}
		if err := s.chainStream(ctx, &t, p.Stream); err != nil {
			return store.HealAttempt{}, err
		}
		err = s.commit(ctx, "finish heal "+p.ID, &t)
		if errors.Is(err, store.ErrConflict) {
			continue // the attempt or the head moved: read again
		}
		if err != nil {
			return store.HealAttempt{}, err
		}
		copy(p.Audit, entries)
		if len(p.Stream) > 0 {
			s.streamWake.wake()
		}
		return h, nil
	}
	return store.HealAttempt{}, fmt.Errorf("finish heal %s: %w", p.ID, store.ErrConflict)
}

func lastField(s string) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ' ' {
			return s[i+1:]
		}
	}
	return s
}
