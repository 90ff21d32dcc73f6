package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

func rollbackKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("ROLLBACK"), "sk": str(id)}
}

func rollbackItem(r store.RollbackRecord) (map[string]types.AttributeValue, error) {
	steps, err := store.RollbackStepsJSON(r.Steps)
	if err != nil {
		return nil, err
	}
	r.Steps = nil
	r.StartedAt, r.UpdatedAt = store.Truncate(r.StartedAt), store.Truncate(r.UpdatedAt)
	doc, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode rollback %s: %w", r.ID, err)
	}
	it := rollbackKey(r.ID)
	it["client_id"], it["stack_id"], it["status"] = str(r.ClientID), str(r.StackID), str(r.Status)
	it["doc"], it["steps"] = str(string(doc)), str(steps)
	return it, checkItem("rollback "+r.ID, it)
}

func decodeRollback(it map[string]types.AttributeValue) (store.RollbackRecord, error) {
	var r store.RollbackRecord
	if err := json.Unmarshal([]byte(getS(it, "doc")), &r); err != nil {
		return r, fmt.Errorf("decode rollback %s: %w", getS(it, "sk"), err)
	}
	steps, err := store.RollbackStepsOf(getS(it, "steps"))
	if err != nil {
		return r, fmt.Errorf("rollback %s: %w", r.ID, err)
	}
	r.Steps = steps
	return r, nil
}

// PutRollback upserts a rollback record: a known one keeps its stack,
// snapshot, hold, author and start, and takes the rest (its progress).
func (s *Store) PutRollback(ctx context.Context, r store.RollbackRecord) error {
	if err := store.CheckRollback(r); err != nil {
		return fmt.Errorf("put rollback: %w", err)
	}
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		err := s.tryPutRollback(ctx, r)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("put rollback %s: %w", r.ID, store.ErrConflict)
}

func (s *Store) tryPutRollback(ctx context.Context, r store.RollbackRecord) error {
	old, err := s.getItem(ctx, rollbackKey(r.ID))
	if err != nil {
		return fmt.Errorf("put rollback %s: %w", r.ID, err)
	}
	var t txn
	if old == nil {
		it, err := rollbackItem(r)
		if err != nil {
			return fmt.Errorf("put rollback: %w", err)
		}
		t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
		return s.commit(ctx, "put rollback "+r.ID, &t)
	}
	cur, err := decodeRollback(old)
	if err != nil {
		return err
	}
	cur.NewVersion, cur.Status, cur.Steps, cur.Error, cur.UpdatedAt = r.NewVersion, r.Status, r.Steps, r.Error, r.UpdatedAt
	it, err := rollbackItem(cur)
	if err != nil {
		return fmt.Errorf("put rollback: %w", err)
	}
	t.put(s.table(tData), it, "doc = :doc AND steps = :steps",
		map[string]types.AttributeValue{":doc": old["doc"], ":steps": old["steps"]})
	return s.commit(ctx, "put rollback "+r.ID, &t)
}

// ListRollbacks lists rollback records, newest first.
func (s *Store) ListRollbacks(ctx context.Context, clientID, stackID string, running bool) ([]store.RollbackRecord, error) {
	var f filterExpr
	f.eq("client_id", clientID)
	f.eq("stack_id", stackID)
	if running {
		f.eq("status", store.RollbackRunning)
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("ROLLBACK")}}
	f.apply(in)
	items, err := s.queryAll(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("list rollbacks: %w", err)
	}
	out := make([]store.RollbackRecord, 0, len(items))
	for _, it := range items {
		r, err := decodeRollback(it)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b store.RollbackRecord) int {
		if d := b.StartedAt.Compare(a.StartedAt); d != 0 {
			return d
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}
