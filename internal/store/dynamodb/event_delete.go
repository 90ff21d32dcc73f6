package dynamodb

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// DeleteExpiredEvents deletes up to limit events whose TTLTimestamp is
// before now (0: never), with their unchecked items, and takes them out of
// their activity counts (an activity item's last time stays). It scans
// the mirror: in a deployment, DynamoDB's own TTL on ttl_timestamp
// deletes expired events too (without the activity bookkeeping).
func (s *Store) DeleteExpiredEvents(ctx context.Context, now time.Time, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired events: %w", err)
	}
	in := &dynamodb.ScanInput{TableName: aws.String(s.table(tEvents)), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("ttl_timestamp > :zero AND ttl_timestamp < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":zero": num(0), ":now": num(now.Unix())}}
	var expired []store.Event
	var seqs []int64
	for len(expired) < limit {
		res, err := s.api.Scan(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("delete expired events: %w", err)
		}
		for _, it := range res.Items {
			if len(expired) < limit {
				expired = append(expired, decodeEvent(it))
				seqs = append(seqs, getN(it, "seq"))
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	return s.deleteEvents(ctx, expired, seqs)
}

// deleteEvents deletes events (numbered seqs) with their unchecked items
// and takes them out of their activity counts, in transactions of up to
// eventsPerTx events.
func (s *Store) deleteEvents(ctx context.Context, expired []store.Event, seqs []int64) (int, error) {
	for start := 0; start < len(expired); start += eventsPerTx {
		end := min(start+eventsPerTx, len(expired))
		var t txn
		for i := start; i < end; i++ {
			e := expired[i]
			t.del(s.table(tEvents), map[string]types.AttributeValue{"event_id": str(e.EventID)})
			if !e.DriftChecked {
				t.del(s.table(tData), map[string]types.AttributeValue{"pk": str(uncheckedPK(e.ClientID, e.StackID)),
					"sk": str(fmt.Sprintf("%020d", seqs[i]))})
			}
		}
		for _, b := range activityBuckets(expired[start:end], -1) {
			t.update(&types.Update{TableName: aws.String(s.table(tData)), Key: b.key,
				UpdateExpression: aws.String("ADD #c :n"), ExpressionAttributeNames: map[string]string{"#c": "count"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(b.count)}})
		}
		if err := s.commit(ctx, "delete events", &t); err != nil {
			return start, err
		}
	}
	return len(expired), nil
}

// markChecked marks the events of the stack and of no stack that the
// mark covers as drift_checked, and removes their unchecked items, in
// transactions of up to 50 events. It runs after the pass's own
// transaction: marking is idempotent, and a failure in between leaves
// events unchecked, which the next pass reads again (never the reverse).
func (s *Store) markChecked(ctx context.Context, clientID, stackID string, mark store.EventMark) error {
	covers, err := decodeMark(mark)
	if err != nil || mark == "" {
		return err
	}
	var t txn
	for _, st := range []string{stackID, ""} {
		items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(uncheckedPK(clientID, st))}})
		if err != nil {
			return fmt.Errorf("read unchecked events: %w", err)
		}
		for _, it := range items {
			if !covers(getN(it, "seq")) {
				continue
			}
			t.del(s.table(tData), map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]})
			t.update(&types.Update{TableName: aws.String(s.table(tEvents)),
				Key:                       map[string]types.AttributeValue{"event_id": it["event_id"]},
				UpdateExpression:          aws.String("SET drift_checked = :t"),
				ConditionExpression:       aws.String("attribute_exists(event_id)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}})
			if len(t.items) >= MaxTxItems-1 {
				if err := s.commit(ctx, "mark events checked", &t); err != nil {
					return err
				}
				t = txn{}
			}
		}
	}
	return s.commit(ctx, "mark events checked", &t)
}

// LoadPass reads the stack's state, open drifts, event activity and open
// forecasts.
func (s *Store) LoadPass(ctx context.Context, clientID, stackID string, since time.Time) (store.PassInput, error) {
	st, err := s.GetState(ctx, clientID, stackID)
	if err != nil {
		return store.PassInput{}, err
	}
	ds, err := s.ListDrifts(ctx, store.DriftQuery{ClientID: clientID, StackID: stackID})
	if err != nil {
		return store.PassInput{}, err
	}
	act, err := s.EventActivity(ctx, clientID, stackID, since)
	if err != nil {
		return store.PassInput{}, err
	}
	fcs, err := store.All(func(cursor store.Page) ([]forecast.Forecast, store.Page, error) {
		return s.ListForecasts(ctx, store.ForecastQuery{ClientID: clientID, StackID: stackID, Cursor: cursor, Limit: store.MaxLimit})
	})
	if err != nil {
		return store.PassInput{}, err
	}
	return store.PassInput{State: st, Drifts: ds, Activity: act, Forecasts: fcs}, nil
}
