package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

func decodeResult(it map[string]types.AttributeValue) (store.ReconciliationResult, error) {
	var r store.ReconciliationResult
	if err := json.Unmarshal([]byte(getS(it, "doc")), &r); err != nil {
		return r, fmt.Errorf("decode result %s: %w", getS(it, "sk"), err)
	}
	return r, nil
}

// ListReconciliations returns results newest first, by start time then
// id: a query of the client's partition (the stack a filter on it), or
// a scan of every client's, sorted.
func (s *Store) ListReconciliations(ctx context.Context, clientID, stackID, cursor string, limit int) ([]store.ReconciliationResult, store.Page, error) {
	var after string
	if cursor != "" {
		if err := store.DecodeCursor(cursor, &after); err != nil {
			return nil, "", fmt.Errorf("list reconciliations: %w", err)
		}
	}
	limit = store.PageLimit(limit)
	var f filterExpr
	f.eq("stack_id", stackID)
	var items []map[string]types.AttributeValue
	var err error
	if clientID != "" {
		in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("RESULT/" + clientID)},
			ScanIndexForward:          aws.Bool(false)}
		if after != "" {
			in.KeyConditionExpression = aws.String("pk = :pk AND sk < :after")
			in.ExpressionAttributeValues[":after"] = str(after)
		}
		f.apply(in)
		items, err = s.queryPage(ctx, in, limit+1)
	} else {
		f.cond("begins_with(pk, :rpk)", ":rpk", str("RESULT/"))
		items, err = s.scanSorted(ctx, f, true)
		items = slices.DeleteFunc(items, func(it map[string]types.AttributeValue) bool { return after != "" && getS(it, "sk") >= after })
	}
	if err != nil {
		return nil, "", fmt.Errorf("list reconciliations: %w", err)
	}
	if len(items) > limit+1 {
		items = items[:limit+1]
	}
	out := make([]store.ReconciliationResult, 0, len(items))
	keys := map[string]string{}
	for _, it := range items {
		r, err := decodeResult(it)
		if err != nil {
			return nil, "", fmt.Errorf("list reconciliations: %w", err)
		}
		keys[r.ReconciliationID] = getS(it, "sk")
		out = append(out, r)
	}
	page, next := store.NextPage(out, limit, func(r store.ReconciliationResult) []any { return []any{keys[r.ReconciliationID]} })
	return page, next, nil
}

// scanSorted scans the data table with a filter, sorted by sk (newest
// first when desc).
func (s *Store) scanSorted(ctx context.Context, f filterExpr, desc bool) ([]map[string]types.AttributeValue, error) {
	qin := &dynamodb.QueryInput{}
	f.apply(qin)
	items, err := s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		FilterExpression: qin.FilterExpression, ExpressionAttributeNames: qin.ExpressionAttributeNames,
		ExpressionAttributeValues: qin.ExpressionAttributeValues})
	if err != nil {
		return nil, err
	}
	sortItems(items, func(a, b map[string]types.AttributeValue) int {
		if desc {
			a, b = b, a
		}
		return strings.Compare(getS(a, "sk"), getS(b, "sk"))
	})
	return items, nil
}

// DeleteReconciliations deletes up to limit results that q names, oldest
// first, with their id items.
func (s *Store) DeleteReconciliations(ctx context.Context, q store.HistoryPrune, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("delete old reconciliations: %w", err)
	}
	var f filterExpr
	f.cond("sk < :before", ":before", str(padMicros(microsOf(q.Before))))
	var items []map[string]types.AttributeValue
	if q.ClientID != "" {
		f.eq("stack_id", q.StackID)
		in := &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :pk AND sk < :before"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("RESULT/" + q.ClientID), ":before": str(padMicros(microsOf(q.Before)))}}
		if q.StackID != "" {
			in.FilterExpression = aws.String("stack_id = :st")
			in.ExpressionAttributeValues[":st"] = str(q.StackID)
		}
		items, err = s.queryAll(ctx, in)
	} else {
		f.cond("begins_with(pk, :rpk)", ":rpk", str("RESULT/"))
		items, err = s.scanSorted(ctx, f, false)
	}
	if err != nil {
		return 0, fmt.Errorf("delete old reconciliations: %w", err)
	}
	items = slices.DeleteFunc(items, func(it map[string]types.AttributeValue) bool {
		name := strings.TrimPrefix(getS(it, "pk"), "RESULT/")
		if q.ClientID != "" {
			name = getS(it, "stack_id")
			if q.StackID != "" {
				return false
			}
		}
		return slices.Contains(q.Except, name)
	})
	items = items[:min(limit, len(items))]
	for start := 0; start < len(items); start += MaxTxItems / 2 {
		var t txn
		for _, it := range items[start:min(start+MaxTxItems/2, len(items))] {
			r, err := decodeResult(it)
			if err != nil {
				return start, err
			}
			t.del(s.table(tData), map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]})
			t.del(s.table(tData), map[string]types.AttributeValue{"pk": str("RID/" + r.ReconciliationID), "sk": str("-")})
		}
		if err := s.commit(ctx, "delete old reconciliations", &t); err != nil {
			return start, err
		}
	}
	return len(items), nil
}

// AcknowledgeDrift marks an open drift of the client acknowledged, on
// condition that it is as read.
func (s *Store) AcknowledgeDrift(ctx context.Context, a store.Acknowledge) (drift.Drift, error) {
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression: aws.String("pk = :pk"), FilterExpression: aws.String("drift_id = :id AND #open = :t"),
			ExpressionAttributeNames: map[string]string{"#open": "open"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("DRIFT/" + a.ClientID), ":id": str(a.DriftID),
				":t": &types.AttributeValueMemberBOOL{Value: true}}})
		if err != nil {
			return drift.Drift{}, fmt.Errorf("acknowledge drift %s of %s: %w", a.DriftID, a.ClientID, err)
		}
		if len(items) == 0 {
			return drift.Drift{}, fmt.Errorf("acknowledge drift %s of %s: %w", a.DriftID, a.ClientID, store.ErrNotFound)
		}
		d, err := decodeDrift(items[0])
		if err != nil {
			return drift.Drift{}, err
		}
		d.Acknowledged, d.AcknowledgedBy = true, a.By
		it, err := driftItem(d)
		if err != nil {
			return drift.Drift{}, err
		}
		it["acknowledged_at"] = num(microsOf(a.At)) // as the SQL drivers keep it (store copy)
		var t txn
		t.put(s.table(tData), it, "doc = :doc", map[string]types.AttributeValue{":doc": items[0]["doc"]})
		err = s.commit(ctx, "acknowledge drift", &t)
		if conflictAt(err) >= 0 {
			continue
		}
		if err != nil {
			return drift.Drift{}, err
		}
		return d, nil
	}
	return drift.Drift{}, fmt.Errorf("acknowledge drift %s of %s: %w", a.DriftID, a.ClientID, store.ErrConflict)
}
