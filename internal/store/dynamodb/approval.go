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

// Approval requests are rare (a person answers each): one partition
// ("APPROVAL", by id). A drift's open request (pending or approved) holds
// a lock item ("APPRLOCK/client/stack/drift") naming it, written only if
// absent, so a drift never has two.

func approvalKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("APPROVAL"), "sk": str(id)}
}

func lockKey(a store.Approval) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("APPRLOCK/" + a.ClientID + "/" + a.StackID + "/" + a.DriftID), "sk": str("-")}
}

func openApproval(st store.ApprovalStatus) bool {
	return st == store.ApprovalPending || st == store.ApprovalApproved
}

func storedApproval(a store.Approval) store.Approval {
	a.CreatedAt, a.ExpiresAt = store.Truncate(a.CreatedAt), store.Truncate(a.ExpiresAt)
	if a.DecidedAt != nil {
		t := store.Truncate(*a.DecidedAt)
		a.DecidedAt = &t
	}
	return a
}

func approvalItem(a store.Approval) (map[string]types.AttributeValue, error) {
	diff := a.Diff
	a.Diff = nil
	doc, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode approval %s: %w", a.ID, err)
	}
	it := approvalKey(a.ID)
	it["doc"], it["status"] = str(string(doc)), str(string(a.Status))
	it["client_id"], it["stack_id"], it["drift_id"] = str(a.ClientID), str(a.StackID), str(a.DriftID)
	it["expires_at"] = num(microsOf(a.ExpiresAt))
	if len(diff) > 0 {
		it["diff"] = str(string(diff))
	}
	return it, checkItem("approval "+a.ID, it)
}

func decodeApproval(it map[string]types.AttributeValue) (store.Approval, error) {
	var a store.Approval
	if err := json.Unmarshal([]byte(getS(it, "doc")), &a); err != nil {
		return a, fmt.Errorf("decode approval %s: %w", getS(it, "sk"), err)
	}
	if d := getS(it, "diff"); d != "" {
		a.Diff = json.RawMessage(d)
	}
	return a, nil
}

func (s *Store) getApprovalItem(ctx context.Context, id string) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)), Key: approvalKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// GetApproval returns one approval, or store.ErrNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (store.Approval, error) {
	it, err := s.getApprovalItem(ctx, id)
	if err != nil {
		return store.Approval{}, fmt.Errorf("get approval %s: %w", id, err)
	}
	if it == nil {
		return store.Approval{}, fmt.Errorf("get approval %s: %w", id, store.ErrNotFound)
	}
	return decodeApproval(it)
}

// changeApproval adds to t the write of a over its item as read, and
// releases the drift's lock when a stops being open.
func (s *Store) changeApproval(t *txn, oldItem map[string]types.AttributeValue, a store.Approval) error {
	it, err := approvalItem(a)
	if err != nil {
		return err
	}
	t.put(s.table(tData), it, "doc = :doc", map[string]types.AttributeValue{":doc": oldItem["doc"]})
	if !openApproval(a.Status) {
		t.items = append(t.items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table(tData)), Key: lockKey(a),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR id = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(a.ID)}}})
	}
	return nil
}

// ListApprovals returns approvals newest first by (CreatedAt, ID).
func (s *Store) ListApprovals(ctx context.Context, q store.ApprovalQuery) ([]store.Approval, store.Page, error) {
	var cc int64
	var cid string
	if q.Cursor != "" {
		if err := store.DecodeCursor(q.Cursor, &cc, &cid); err != nil {
			return nil, "", fmt.Errorf("list approvals: %w", err)
		}
	}
	var f filterExpr
	f.eq("client_id", q.ClientID)
	f.eq("stack_id", q.StackID)
	f.eq("drift_id", q.DriftID)
	if len(q.Status) > 0 {
		f.in("status", q.Status)
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("APPROVAL")}}
	f.apply(in)
	items, err := s.queryAll(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list approvals: %w", err)
	}
	var out []store.Approval
	for _, it := range items {
		a, err := decodeApproval(it)
		if err != nil {
			return nil, "", err
		}
		c := microsOf(a.CreatedAt)
		if q.Cursor != "" && (c > cc || c == cc && a.ID >= cid) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b store.Approval) int {
		if d := b.CreatedAt.Compare(a.CreatedAt); d != 0 {
			return d
		}
		return strings.Compare(b.ID, a.ID)
	})
	limit := store.PageLimit(q.Limit)
	out = out[:min(len(out), limit+1)]
	out, next := store.NextPage(out, limit, store.ApprovalKey)
	return out, next, nil
}

// DecideApproval approves or rejects a pending approval and appends its
// audit entry in one transaction; an expired one is stored expired and
// the call answers store.ErrExpired.
func (s *Store) DecideApproval(ctx context.Context, d store.ApprovalDecision) (store.Approval, error) {
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		it, err := s.getApprovalItem(ctx, d.ID)
		if err != nil {
			return store.Approval{}, fmt.Errorf("decide approval %s: %w", d.ID, err)
		}
		if it == nil {
			return store.Approval{}, fmt.Errorf("decide approval %s: %w", d.ID, store.ErrNotFound)
		}
		a, err := decodeApproval(it)
		if err != nil {
			return store.Approval{}, err
		}
		dec, derr := store.Decide(a, d.Approve, d.By, d.Reason, d.At)
		var t txn
		switch {
		case errors.Is(derr, store.ErrExpired):
			a.Status = store.ApprovalExpired
			if err := s.changeApproval(&t, it, a); err != nil {
				return store.Approval{}, err
			}
		case derr != nil:
			return store.Approval{}, fmt.Errorf("decide approval %s: %w", d.ID, derr)
		default:
			a = dec.Approval
			if err := s.changeApproval(&t, it, a); err != nil {
				return store.Approval{}, err
			}
			if _, err := s.chainAudit(ctx, &t, []store.AuditEntry{dec.Audit}); err != nil {
				return store.Approval{}, err
			}
		}
		err = s.commit(ctx, "decide approval "+d.ID, &t)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return store.Approval{}, err
		}
		if derr != nil {
			return store.Approval{}, fmt.Errorf("decide approval %s: %w at %s", d.ID, store.ErrExpired, a.ExpiresAt.Format(time.RFC3339))
		}
		return a, nil
	}
	return store.Approval{}, fmt.Errorf("decide approval %s: %w", d.ID, store.ErrConflict)
}

// ExpireApprovals marks up to limit pending approvals whose ExpiresAt is
// not after now expired, soonest expiry first.
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("expire approvals: %w", err)
	}
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), FilterExpression: aws.String("#st = :p AND expires_at <= :now"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("APPROVAL"), ":p": str(string(store.ApprovalPending)),
			":now": num(microsOf(now))}})
	if err != nil {
		return 0, fmt.Errorf("expire approvals: %w", err)
	}
	sortItems(items, func(a, b map[string]types.AttributeValue) int {
		return int(getN(a, "expires_at") - getN(b, "expires_at"))
	})
	n := 0
	for _, it := range items[:min(limit, len(items))] {
		a, err := decodeApproval(it)
		if err != nil {
			return n, err
		}
		a.Status = store.ApprovalExpired
		var t txn
		if err := s.changeApproval(&t, it, a); err != nil {
			return n, err
		}
		err = s.commit(ctx, "expire approval "+a.ID, &t)
		if errors.Is(err, store.ErrConflict) {
			continue // decided in between
		}
		if err != nil {
			return n, fmt.Errorf("expire approvals: %w", err)
		}
		n++
	}
	return n, nil
}

// DriftReturns counts the reopenings of the stack's drifts at or after
// since, per drift id.
func (s *Store) DriftReturns(ctx context.Context, clientID, stackID string, since time.Time) (map[string]int, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk >= :since"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("RETURN/" + clientID + "/" + stackID),
			":since": str(padMicros(microsOf(since)))}})
	if err != nil {
		return nil, fmt.Errorf("drift returns %s/%s: %w", clientID, stackID, err)
	}
	out := map[string]int{}
	for _, it := range items {
		out[getS(it, "drift_id")]++
	}
	return out, nil
}
