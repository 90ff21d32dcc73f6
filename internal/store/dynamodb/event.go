package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// Events: one item each in the event mirror, numbered by a counter item
// (seq, the commit order). Its `timestamp` attribute, the sort key of both
// GSIs, is the padded event time then the padded seq, so events sharing a
// time are ordered and pages neither repeat nor skip. An event no pass has
// seen also has an item in its stack's unchecked partition
// ("UNCHK/client/stack", stack empty for a client-wide event) sorted by
// seq, and counts in its stack's hourly activity item ("ACT/client/stack",
// sorted by hour, provider, type and content type): what EventActivity
// reads instead of the events.

// timeOffset makes micros before 1970 sort as padded positive numbers.
const timeOffset = int64(1) << 62

func padMicros(us int64) string { return fmt.Sprintf("%020d", us+timeOffset) }

func eventTSKey(ts time.Time, seq int64) string {
	return padMicros(microsOf(ts)) + "#" + fmt.Sprintf("%020d", seq)
}

func uncheckedPK(clientID, stackID string) string { return "UNCHK/" + clientID + "/" + stackID }

func activityPK(clientID, stackID string) string { return "ACT/" + clientID + "/" + stackID }

func hourOf(us int64) int64 {
	b := int64(store.ActivityBucket / time.Microsecond)
	h := us / b * b
	if h > us {
		h -= b
	}
	return h
}

func activitySK(hour int64, provider, typ, ctype string) string {
	return padMicros(hour) + "#" + provider + "#" + typ + "#" + ctype
}

// nextSeqs reserves n numbers of a counter, returning the first.
func (s *Store) nextSeqs(ctx context.Context, counter string, n int) (int64, error) {
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table(tData)),
		Key:                       map[string]types.AttributeValue{"pk": str("COUNTER"), "sk": str(counter)},
		UpdateExpression:          aws.String("ADD #v :n"),
		ExpressionAttributeNames:  map[string]string{"#v": "value"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(n))},
		ReturnValues:              types.ReturnValueUpdatedNew})
	if err != nil {
		return 0, fmt.Errorf("counter %s: %w", counter, err)
	}
	return getN(out.Attributes, "value") - int64(n) + 1, nil
}

func eventItem(e store.Event, seq int64) (map[string]types.AttributeValue, error) {
	it := map[string]types.AttributeValue{
		"event_id": str(e.EventID), "client_id": str(e.ClientID), "provider_name": str(e.ProviderName),
		"timestamp": str(eventTSKey(e.Timestamp, seq)), "ts": num(microsOf(e.Timestamp)), "seq": num(seq),
		"event_type": str(e.EventType), "content_id": str(e.ContentID), "content_type": str(e.ContentType),
		"environment": str(e.Environment), "stack_id": str(e.StackID),
		"drift_checked": &types.AttributeValueMemberBOOL{Value: e.DriftChecked},
		"received_at":   num(microsOf(e.ReceivedAt)), "ttl_timestamp": num(e.TTLTimestamp),
	}
	if e.ProviderName == "" {
		// An empty string cannot be a GSI key: the event is left out of
		// by_provider (ListEvents by provider never asks for "").
		delete(it, "provider_name")
	}
	if len(e.Payload) > 0 {
		it["payload"] = str(string(e.Payload))
	}
	return it, checkItem("event "+e.EventID, it)
}

func decodeEvent(it map[string]types.AttributeValue) store.Event {
	e := store.Event{EventID: getS(it, "event_id"), ClientID: getS(it, "client_id"), StackID: getS(it, "stack_id"),
		ProviderName: getS(it, "provider_name"), EventType: getS(it, "event_type"), ContentID: getS(it, "content_id"),
		ContentType: getS(it, "content_type"), Timestamp: micros(getN(it, "ts")), Environment: getS(it, "environment"),
		DriftChecked: getBool(it, "drift_checked"), ReceivedAt: micros(getN(it, "received_at")),
		TTLTimestamp: getN(it, "ttl_timestamp")}
	if p := getS(it, "payload"); p != "" {
		e.Payload = json.RawMessage(p)
	}
	return e
}

// storedEventIDs returns which of the ids are stored (strongly consistent
// BatchGetItem, 100 keys a call).
func (s *Store) storedEventIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	table := s.table(tEvents)
	seen := map[string]bool{}
	uniq := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	ids = uniq
	for start := 0; start < len(ids); start += 100 {
		var keys []map[string]types.AttributeValue
		for _, id := range ids[start:min(start+100, len(ids))] {
			keys = append(keys, map[string]types.AttributeValue{"event_id": str(id)})
		}
		req := map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("event_id")}}
		for len(req) > 0 {
			out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, err
			}
			for _, it := range out.Responses[table] {
				found[getS(it, "event_id")] = true
			}
			req = out.UnprocessedKeys
		}
	}
	return found, nil
}
