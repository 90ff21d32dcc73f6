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

	"github.com/blackwellio/blackwell/internal/store"
)

// Data keys are one partition ("DATAKEY", by id). Payloads are the
// events' payload attribute and the outbox items' documents; scanning
// them (key rotation, erasure) scans the tables: an operator's batch job.

// DataKeys returns the stored data keys by CreatedAt then ID.
func (s *Store) DataKeys(ctx context.Context) ([]store.DataKey, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("DATAKEY")}})
	if err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	out := []store.DataKey{}
	for _, it := range items {
		var k store.DataKey
		if err := json.Unmarshal([]byte(getS(it, "doc")), &k); err != nil {
			return nil, fmt.Errorf("decode data key: %w", err)
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b store.DataKey) int {
		if d := a.CreatedAt.Compare(b.CreatedAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// PutDataKeys inserts or replaces keys in one transaction; a replaced key
// keeps its creation time.
func (s *Store) PutDataKeys(ctx context.Context, keys []store.DataKey) error {
	stored, err := s.DataKeys(ctx)
	if err != nil {
		return err
	}
	var t txn
	for _, k := range keys {
		k.CreatedAt = store.Truncate(k.CreatedAt)
		if i := slices.IndexFunc(stored, func(o store.DataKey) bool { return o.ID == k.ID }); i >= 0 {
			k.CreatedAt = stored[i].CreatedAt
		}
		doc, err := json.Marshal(k)
		if err != nil {
			return err
		}
		t.put(s.table(tData), map[string]types.AttributeValue{"pk": str("DATAKEY"), "sk": str(k.ID), "doc": str(string(doc))}, "", nil)
	}
	return s.commit(ctx, "put data keys", &t)
}

// ScanPayloads reads payloads as stored, in key order.
func (s *Store) ScanPayloads(ctx context.Context, q store.PayloadScan) ([]store.PayloadRow, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("scan %s payloads: %w", q.Table, err)
	}
	rows := []store.PayloadRow{}
	switch q.Table {
	case store.PayloadEvents:
		items, err := s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tEvents)), ConsistentRead: aws.Bool(true),
			FilterExpression:          aws.String("attribute_exists(payload) AND event_id > :after"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":after": str(q.After)}})
		if err != nil {
			return nil, fmt.Errorf("scan events payloads: %w", err)
		}
		for _, it := range items {
			e := decodeEvent(it)
			if (q.ClientID == "" || e.ClientID == q.ClientID) && (q.ProviderName == "" || e.ProviderName == q.ProviderName) {
				rows = append(rows, store.PayloadRow{Key: e.EventID, ClientID: e.ClientID, ProviderName: e.ProviderName,
					ContentID: e.ContentID, EventType: e.EventType, Payload: e.Payload})
			}
		}
	case store.PayloadOutbox:
		ptrs, err := s.scanAll(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			FilterExpression:          aws.String("begins_with(pk, :p) AND pk > :after"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("OUTBOXID/"), ":after": str("OUTBOXID/" + q.After)}})
		if err != nil {
			return nil, fmt.Errorf("scan outbox payloads: %w", err)
		}
		for _, p := range ptrs {
			d, _, err := s.delivery(ctx, p)
			if err != nil {
				return nil, err
			}
			if d != nil {
				rows = append(rows, store.PayloadRow{Key: d.ID, Payload: d.Payload})
			}
		}
	default:
		return nil, fmt.Errorf("scan payloads: unknown table %q", q.Table)
	}
	slices.SortFunc(rows, func(a, b store.PayloadRow) int { return strings.Compare(a.Key, b.Key) })
	return rows[:min(len(rows), limit)], nil
}

// delivery reads the delivery a pointer item locates (nil when gone).
func (s *Store) delivery(ctx context.Context, ptr map[string]types.AttributeValue) (*store.OutboxItem, map[string]types.AttributeValue, error) {
	it, err := s.getItem(ctx, map[string]types.AttributeValue{"pk": ptr["opk"], "sk": ptr["osk"]})
	if err != nil || it == nil {
		return nil, nil, err
	}
	var d store.OutboxItem
	if err := json.Unmarshal([]byte(getS(it, "doc")), &d); err != nil {
		return nil, nil, fmt.Errorf("decode delivery: %w", err)
	}
	return &d, it, nil
}

// SwapPayloads writes, in one transaction, each swap whose row holds Old
// (read first; each write conditional on it: a row changed in between
// makes the whole call read again).
func (s *Store) SwapPayloads(ctx context.Context, table store.PayloadTable, swaps []store.PayloadSwap) (int, error) {
	for _, sw := range swaps {
		if !json.Valid(sw.New) {
			return 0, fmt.Errorf("swap %s payloads: %s: the new payload is not JSON", table, sw.Key)
		}
	}
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		var t txn
		for _, sw := range swaps {
			if err := s.swapOne(ctx, &t, table, sw); err != nil {
				return 0, fmt.Errorf("swap %s payloads: %w", table, err)
			}
		}
		err := s.commit(ctx, "swap payloads", &t)
		if conflictAt(err) >= 0 {
			continue
		}
		return len(t.items), err
	}
	return 0, fmt.Errorf("swap %s payloads: %w", table, store.ErrConflict)
}

func (s *Store) swapOne(ctx context.Context, t *txn, table store.PayloadTable, sw store.PayloadSwap) error {
	switch table {
	case store.PayloadEvents:
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tEvents)), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"event_id": str(sw.Key)}})
		if err != nil || out.Item == nil || getS(out.Item, "payload") != string(sw.Old) {
			return err
		}
		t.update(&types.Update{TableName: aws.String(s.table(tEvents)), Key: map[string]types.AttributeValue{"event_id": str(sw.Key)},
			UpdateExpression: aws.String("SET payload = :new"), ConditionExpression: aws.String("payload = :old"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":new": str(string(sw.New)), ":old": str(string(sw.Old))}})
	case store.PayloadOutbox:
		ptr, err := s.getItem(ctx, outboxIDKey(sw.Key))
		if err != nil || ptr == nil {
			return err
		}
		d, it, err := s.delivery(ctx, ptr)
		if err != nil || d == nil || string(d.Payload) != string(sw.Old) {
			return err
		}
		d.Payload = sw.New
		doc, err := json.Marshal(d)
		if err != nil {
			return err
		}
		next := map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"], "doc": str(string(doc))}
		if err := checkItem("delivery "+d.ID, next); err != nil {
			return err
		}
		t.put(s.table(tData), next, "doc = :doc", map[string]types.AttributeValue{":doc": it["doc"]})
	default:
		return fmt.Errorf("unknown table %q", table)
	}
	return nil
}

// DeleteRows deletes the rows of table with these keys.
func (s *Store) DeleteRows(ctx context.Context, table store.PayloadTable, keys []string) (int, error) {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	switch table {
	case store.PayloadEvents:
		var events []store.Event
		var seqs []int64
		for _, k := range keys {
			out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tEvents)), ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{"event_id": str(k)}})
			if err != nil {
				return 0, fmt.Errorf("delete events: %w", err)
			}
			if out.Item != nil {
				events, seqs = append(events, decodeEvent(out.Item)), append(seqs, getN(out.Item, "seq"))
			}
		}
		return s.deleteEvents(ctx, events, seqs)
	case store.PayloadOutbox:
		n := 0
		for _, k := range keys {
			if it, err := s.getItem(ctx, outboxIDKey(k)); err != nil {
				return 0, fmt.Errorf("delete outbox: %w", err)
			} else if it != nil {
				n++
			}
		}
		return n, s.DeleteOutbox(ctx, keys)
	}
	return 0, fmt.Errorf("delete rows: unknown table %q", table)
}

// DeleteContent deletes content-cache items of the client and provider
// (of Source, of ContentIDs when set).
func (s *Store) DeleteContent(ctx context.Context, q store.ContentErase) (int, error) {
	if q.ClientID == "" || q.ProviderName == "" {
		return 0, fmt.Errorf("delete content: a client and a provider are required (got %q, %q)", q.ClientID, q.ProviderName)
	}
	prefix := q.ProviderName + " "
	if q.Source != "" {
		prefix += q.Source + " "
	}
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"), ProjectionExpression: aws.String("pk, sk, provider_name, content_id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("CONTENT/" + q.ClientID), ":p": str(prefix)}})
	if err != nil {
		return 0, fmt.Errorf("delete content: %w", err)
	}
	var t txn
	n := 0
	for _, it := range items {
		if getS(it, "provider_name") != q.ProviderName || len(q.ContentIDs) > 0 && !slices.Contains(q.ContentIDs, getS(it, "content_id")) {
			continue
		}
		t.del(s.table(tData), map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]})
		n++
		if len(t.items) == MaxTxItems {
			if err := s.commit(ctx, "delete content", &t); err != nil {
				return 0, err
			}
			t = txn{}
		}
	}
	return n, s.commit(ctx, "delete content", &t)
}
