package dynamodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// DeleteStack removes a stack in one transaction, conditional on all it
// read (the state's revision, each drift, attempt and request, the audit
// head): a change in between makes it read again. A stack whose deletion
// needs more than one transaction's 100 writes is refused whole.
func (s *Store) DeleteStack(ctx context.Context, d store.StackDeletion) (store.StackDeleted, error) {
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		out, t, err := s.planDelete(ctx, d)
		if err != nil {
			return store.StackDeleted{}, fmt.Errorf("delete stack %s/%s: %w", d.ClientID, d.StackID, err)
		}
		err = s.commit(ctx, "delete stack "+d.ClientID+"/"+d.StackID, t)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return store.StackDeleted{}, err
		}
		return out, nil
	}
	return store.StackDeleted{}, fmt.Errorf("delete stack %s/%s: %w", d.ClientID, d.StackID, store.ErrConflict)
}

func (s *Store) planDelete(ctx context.Context, d store.StackDeletion) (store.StackDeleted, *txn, error) {
	out := store.StackDeleted{ClientID: d.ClientID, StackID: d.StackID, Drifts: []drift.Drift{},
		HealsCancelled: []string{}, ApprovalsClosed: []string{}}
	cur, err := s.GetState(ctx, d.ClientID, d.StackID)
	if err != nil {
		return out, nil, err
	}
	out.StateVersion, out.DesiredHash = cur.StateVersion, cur.DesiredHash
	at := store.Truncate(d.At)
	t := &txn{}
	t.items = append(t.items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table(tState)),
		Key: stateKey(d.ClientID, d.StackID), ConditionExpression: aws.String("revision = :rev"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":rev": num(cur.Revision)}}})
	open, items, err := s.stackDriftItems(ctx, d.ClientID, d.StackID, false)
	if err != nil {
		return out, nil, err
	}
	for i, dr := range open {
		old, err := driftItem(dr)
		if err != nil {
			return out, nil, err
		}
		dr.ResolvedAt = &at
		it, err := driftItem(dr)
		if err != nil {
			return out, nil, err
		}
		if v, ok := items[i]["acknowledged_at"]; ok {
			it["acknowledged_at"] = v // resolving keeps it, as in the SQL drivers
		}
		t.put(s.table(tData), it, "doc = :doc", map[string]types.AttributeValue{":doc": old["doc"]})
		out.Drifts = append(out.Drifts, dr)
	}
	if err := s.cancelStackHeals(ctx, t, d, &out); err != nil {
		return out, nil, err
	}
	if err := s.closeStackApprovals(ctx, t, d, &out); err != nil {
		return out, nil, err
	}
	if err := s.clearStackForecasts(ctx, t, d); err != nil {
		return out, nil, err
	}
	if p, err := s.getItem(ctx, policyKey(d.ClientID, d.StackID)); err != nil {
		return out, nil, err
	} else if p != nil {
		t.del(s.table(tData), policyKey(d.ClientID, d.StackID))
		out.PolicyDeleted = true
	}
	if d.Audit != nil {
		entries := d.Audit(out)
		if err := store.CheckAudit(entries); err != nil {
			return out, nil, err
		}
		if len(entries) > 0 {
			if _, err := s.chainAudit(ctx, t, entries); err != nil {
				return out, nil, err
			}
		}
	}
	return out, t, nil
}

// clearStackForecasts adds the clearing of the stack's open forecasts.
func (s *Store) clearStackForecasts(ctx context.Context, t *txn, d store.StackDeletion) error {
	open, err := store.All(func(cursor store.Page) ([]forecast.Forecast, store.Page, error) {
		return s.ListForecasts(ctx, store.ForecastQuery{ClientID: d.ClientID, StackID: d.StackID, Cursor: cursor, Limit: store.MaxLimit})
	})
	if err != nil {
		return err
	}
	at := store.Truncate(d.At)
	states, order, counts := map[string]*fcState{}, []string{}, map[drift.Code]int64{}
	for _, f := range open {
		st, err := s.loadForecast(ctx, f.ID)
		if err != nil {
			return err
		}
		if st == nil || st.f.ClearedAt != nil {
			continue
		}
		st.f.ClearedAt = &at
		states[f.ID], order = st, append(order, f.ID)
		counts[st.f.Code]--
		t.del(s.table(tData), forecastOpenKey(st.f))
	}
	return s.putForecasts(t, states, order, counts)
}

// cancelStackHeals adds the cancellation of the stack's pending attempts.
func (s *Store) cancelStackHeals(ctx context.Context, t *txn, d store.StackDeletion, out *store.StackDeleted) error {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), FilterExpression: aws.String("stack_id = :st AND #s = :p"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("HEAL/" + d.ClientID), ":st": str(d.StackID),
			":p": str(string(store.HealPending))}})
	if err != nil {
		return err
	}
	at := store.Truncate(d.At)
	for _, it := range items {
		old, err := decodeHeal(it)
		if err != nil {
			return err
		}
		h := old
		h.Status, h.CompletedAt, h.Detail = store.HealCancelled, &at, store.StackDeletedReason
		if err := s.changeHeal(t, it, old, h); err != nil {
			return err
		}
		out.HealsCancelled = append(out.HealsCancelled, h.ID)
	}
	return nil
}

// closeStackApprovals adds the rejection of the stack's pending requests.
func (s *Store) closeStackApprovals(ctx context.Context, t *txn, d store.StackDeletion, out *store.StackDeleted) error {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), FilterExpression: aws.String("client_id = :c AND stack_id = :st AND #s = :p"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("APPROVAL"), ":c": str(d.ClientID),
			":st": str(d.StackID), ":p": str(string(store.ApprovalPending))}})
	if err != nil {
		return err
	}
	at := store.Truncate(d.At)
	for _, it := range items {
		a, err := decodeApproval(it)
		if err != nil {
			return err
		}
		a.Status, a.DecidedAt, a.DecidedBy, a.Reason = store.ApprovalRejected, &at, d.By, store.StackDeletedReason
		if err := s.changeApproval(t, it, a); err != nil {
			return err
		}
		out.ApprovalsClosed = append(out.ApprovalsClosed, a.ID)
	}
	return nil
}
