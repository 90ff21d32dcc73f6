package dynamodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// eventsPerTx is how many events one transaction commits: each needs up
// to four writes (event, unchecked, activity, content item).
const eventsPerTx = MaxTxItems / 4

// ingestRetries bounds how often a batch is read and written again after
// losing a race (a concurrent delivery of the same event, a newer
// activity time or content state).
const ingestRetries = 20

// InsertEvents commits events, skipping ids already stored.
func (s *Store) InsertEvents(ctx context.Context, in []store.Event) ([]bool, error) {
	for _, e := range in {
		if err := store.CheckEvent(e); err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
	}
	ing := make([]store.IngestEvent, len(in))
	for i, e := range in {
		ing[i].Event = e
	}
	ins, err := s.ingest(ctx, ing)
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	return ins, nil
}

// IngestEvents commits received deliveries: events as InsertEvents, and
// each new event's content item where it is newer than the stored one.
// DynamoDB acknowledges a write once it is durable in several
// availability zones.
func (s *Store) IngestEvents(ctx context.Context, in []store.IngestEvent) ([]bool, error) {
	if err := store.CheckIngest(in); err != nil {
		return nil, fmt.Errorf("ingest events: %w", err)
	}
	ins, err := s.ingest(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("ingest events: %w", err)
	}
	return ins, nil
}

// ingest writes the batch in transactions of eventsPerTx events: each
// transaction is atomic; a batch of more is not as a whole (a failure
// leaves the earlier transactions committed, and a retry of the batch
// skips what they stored).
func (s *Store) ingest(ctx context.Context, in []store.IngestEvent) ([]bool, error) {
	inserted := make([]bool, len(in))
	for start := 0; start < len(in); start += eventsPerTx {
		end := min(start+eventsPerTx, len(in))
		var err error
		for try := 0; ; try++ {
			err = s.ingestTx(ctx, in[start:end], inserted[start:end])
			if !errors.Is(err, store.ErrConflict) || try == ingestRetries {
				break
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

// ingestTx commits one transaction of events: those not stored (the first
// of an id within the batch), their unchecked items, activity and content.
func (s *Store) ingestTx(ctx context.Context, in []store.IngestEvent, inserted []bool) error {
	ids := make([]string, len(in))
	for i, e := range in {
		ids[i] = e.Event.EventID
	}
	stored, err := s.storedEventIDs(ctx, ids)
	if err != nil {
		return err
	}
	var fresh []store.IngestEvent
	for i, e := range in {
		inserted[i] = !stored[e.Event.EventID]
		if inserted[i] {
			stored[e.Event.EventID] = true
			if e.Event.ReceivedAt.IsZero() {
				e.Event.ReceivedAt = s.now()
			}
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	seq, err := s.nextSeqs(ctx, "events", len(fresh))
	if err != nil {
		return err
	}
	var t txn
	for i, e := range fresh {
		if err := s.addEvent(&t, e.Event, seq+int64(i)); err != nil {
			return err
		}
	}
	if err := s.addActivity(ctx, &t, fresh); err != nil {
		return err
	}
	if err := s.addContent(ctx, &t, fresh); err != nil {
		return err
	}
	return s.commit(ctx, "write events", &t)
}

func (s *Store) addEvent(t *txn, e store.Event, seq int64) error {
	it, err := eventItem(e, seq)
	if err != nil {
		return err
	}
	t.put(s.table(tEvents), it, "attribute_not_exists(event_id)", nil)
	if !e.DriftChecked {
		t.put(s.table(tData), map[string]types.AttributeValue{"pk": str(uncheckedPK(e.ClientID, e.StackID)),
			"sk": str(fmt.Sprintf("%020d", seq)), "seq": num(seq), "event_id": str(e.EventID),
			"received_at": num(microsOf(e.ReceivedAt))}, "", nil)
	}
	return nil
}

// bucket is one activity item's change.
type bucket struct {
	key         map[string]types.AttributeValue
	provider    string
	typ, ctype  string
	count, last int64
}

// activityBuckets groups events by activity item.
func activityBuckets(events []store.Event, sign int64) map[string]*bucket {
	out := map[string]*bucket{}
	for _, e := range events {
		ts := microsOf(e.Timestamp)
		pk := activityPK(e.ClientID, e.StackID)
		sk := activitySK(hourOf(ts), e.ProviderName, e.EventType, e.ContentType)
		b, ok := out[pk+"\x00"+sk]
		if !ok {
			b = &bucket{key: map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)},
				provider: e.ProviderName, typ: e.EventType, ctype: e.ContentType, last: ts}
			out[pk+"\x00"+sk] = b
		}
		b.count += sign
		b.last = max(b.last, ts)
	}
	return out
}

// addActivity counts the events in their activity items. The last time
// only grows: it is set on condition that the stored one is older (read
// first), so a concurrent batch with a later time makes this one retry.
func (s *Store) addActivity(ctx context.Context, t *txn, in []store.IngestEvent) error {
	events := make([]store.Event, len(in))
	for i, e := range in {
		events[i] = e.Event
	}
	for _, b := range activityBuckets(events, 1) {
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)), Key: b.key,
			ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("#l"), ExpressionAttributeNames: map[string]string{"#l": "last"}})
		if err != nil {
			return err
		}
		u := &types.Update{TableName: aws.String(s.table(tData)), Key: b.key,
			UpdateExpression:         aws.String("ADD #c :n SET provider_name = :p, event_type = :t, content_type = :ct"),
			ExpressionAttributeNames: map[string]string{"#c": "count"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(b.count), ":p": str(b.provider),
				":t": str(b.typ), ":ct": str(b.ctype)}}
		if _, had := out.Item["last"]; !had || getN(out.Item, "last") < b.last {
			u.UpdateExpression = aws.String(aws.ToString(u.UpdateExpression) + ", #l = :l")
			u.ConditionExpression = aws.String("attribute_not_exists(#l) OR #l < :l")
			u.ExpressionAttributeNames["#l"] = "last"
			u.ExpressionAttributeValues[":l"] = num(b.last)
		}
		t.update(u)
	}
	return nil
}
