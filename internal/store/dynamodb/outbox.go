package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// Audit subscribers: the subscriber ("SUB/name": its cursor and the
// channels it ever had deliveries on), its states ("SUBSTATE/name", by
// key), its pending deliveries one partition per channel
// ("OUTBOX/name/channel", by padded seq: a read of one channel costs what
// it returns), and an item per delivery id ("OUTBOXID/id") locating it.

func subKey(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("SUB/" + name), "sk": str("-")}
}

func outboxPK(sub, channel string) string { return "OUTBOX/" + sub + "/" + channel }

func outboxIDKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("OUTBOXID/" + id), "sk": str("-")}
}

// AuditAfter returns up to limit entries with Seq > after, oldest first.
func (s *Store) AuditAfter(ctx context.Context, after int64, limit int) ([]store.AuditEntry, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("audit after %d: %w", after, err)
	}
	out, _, err := s.ListAudit(ctx, store.AuditQuery{Cursor: store.AuditCursor(after), Limit: limit})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []store.AuditEntry{}
	}
	return out, nil
}

// AuditHead returns the Seq of the newest entry, 0 for none.
func (s *Store) AuditHead(ctx context.Context) (int64, error) {
	it, err := s.getItem(ctx, auditHeadKey)
	if err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	return getN(it, "seq"), nil
}

// GetSubscriber returns a subscriber's cursor and states.
func (s *Store) GetSubscriber(ctx context.Context, name string) (store.Subscriber, error) {
	it, err := s.getItem(ctx, subKey(name))
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, err)
	}
	if it == nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, store.ErrNotFound)
	}
	states, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("SUBSTATE/" + name)}})
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, err)
	}
	sub := store.Subscriber{Name: name, Cursor: getN(it, "cursor"), States: map[string]json.RawMessage{}}
	for _, st := range states {
		sub.States[getS(st, "sk")] = json.RawMessage(getS(st, "doc"))
	}
	return sub, nil
}

// CommitSubscriber writes a subscriber's commit in one transaction,
// conditional on its cursor; a commit that does not fit in one
// transaction (100 writes: the cursor, the states, two per delivery) is
// refused whole with ErrTooLarge (commit fewer entries at a time).
func (s *Store) CommitSubscriber(ctx context.Context, c store.SubscriberCommit) error {
	if err := store.CheckSubscriberCommit(c); err != nil {
		return err
	}
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		err := s.tryCommitSubscriber(ctx, c)
		if !errors.Is(err, errHeadMoved) {
			if err == nil && len(c.Stream) > 0 {
				s.streamWake.wake()
			}
			return err
		}
	}
	return fmt.Errorf("commit subscriber %s: %w: the stream head moved %d times", c.Name, store.ErrConflict, auditRetries)
}

func (s *Store) tryCommitSubscriber(ctx context.Context, c store.SubscriberCommit) error {
	cur, err := s.getItem(ctx, subKey(c.Name))
	if err != nil {
		return fmt.Errorf("commit subscriber %s: %w", c.Name, err)
	}
	switch {
	case c.Create && cur != nil:
		return fmt.Errorf("commit subscriber %s: %w: it exists", c.Name, store.ErrConflict)
	case !c.Create && cur == nil:
		return fmt.Errorf("commit subscriber %s: %w", c.Name, store.ErrNotFound)
	case !c.Create && getN(cur, "cursor") != c.From:
		return fmt.Errorf("commit subscriber %s: %w: cursor is %d, not %d", c.Name, store.ErrConflict, getN(cur, "cursor"), c.From)
	}
	var t txn
	channels := map[string]bool{}
	if cur != nil {
		for _, ch := range cur["channels"].(*types.AttributeValueMemberL).Value {
			channels[ch.(*types.AttributeValueMemberS).Value] = true
		}
	}
	if err := s.addDeliveries(ctx, &t, c, channels); err != nil {
		return err
	}
	now := num(microsOf(s.now())) // updated_at, as the SQL drivers keep it (store copy)
	for k, doc := range c.States {
		t.put(s.table(tData), map[string]types.AttributeValue{"pk": str("SUBSTATE/" + c.Name), "sk": str(k), "doc": str(string(doc)),
			"updated_at": now}, "", nil)
	}
	for _, k := range c.DeleteStates {
		t.del(s.table(tData), map[string]types.AttributeValue{"pk": str("SUBSTATE/" + c.Name), "sk": str(k)})
	}
	sub := subKey(c.Name)
	sub["cursor"], sub["updated_at"] = num(c.To), now
	names := make([]types.AttributeValue, 0, len(channels))
	for _, ch := range slices.Sorted(mapKeys(channels)) {
		names = append(names, str(ch))
	}
	sub["channels"] = &types.AttributeValueMemberL{Value: names}
	if c.Create {
		t.put(s.table(tData), sub, "attribute_not_exists(pk)", nil)
	} else {
		t.put(s.table(tData), sub, "#c = :from", map[string]types.AttributeValue{":from": num(c.From)})
		t.items[len(t.items)-1].Put.ExpressionAttributeNames = map[string]string{"#c": "cursor"}
	}
	head := len(t.items)
	if err := s.chainStream(ctx, &t, c.Stream); err != nil {
		return err
	}
	err = s.commit(ctx, "commit subscriber "+c.Name, &t)
	if at := conflictAt(err); at >= head && len(c.Stream) > 0 {
		return errHeadMoved
	}
	return err
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// addDeliveries adds the commit's new deliveries (not one whose id is
// pending) to t, numbered in order, and their channels to channels.
func (s *Store) addDeliveries(ctx context.Context, t *txn, c store.SubscriberCommit, channels map[string]bool) error {
	var fresh []store.OutboxItem
	seen := map[string]bool{}
	for _, d := range c.Deliveries {
		if seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		it, err := s.getItem(ctx, outboxIDKey(d.ID))
		if err != nil {
			return err
		}
		if it == nil {
			fresh = append(fresh, d)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	seq, err := s.nextSeqs(ctx, "outbox", len(fresh))
	if err != nil {
		return err
	}
	now := store.Truncate(s.now())
	for i, d := range fresh {
		d.Seq, d.Subscriber = seq+int64(i), c.Name
		if d.CreatedAt.IsZero() {
			d.CreatedAt = now
		}
		d.CreatedAt = store.Truncate(d.CreatedAt)
		doc, err := json.Marshal(d)
		if err != nil {
			return err
		}
		key := map[string]types.AttributeValue{"pk": str(outboxPK(c.Name, d.Channel)), "sk": str(fmt.Sprintf("%020d", d.Seq))}
		it := map[string]types.AttributeValue{"pk": key["pk"], "sk": key["sk"], "doc": str(string(doc))}
		if err := checkItem("delivery "+d.ID, it); err != nil {
			return err
		}
		t.put(s.table(tData), it, "", nil)
		ptr := outboxIDKey(d.ID)
		ptr["opk"], ptr["osk"] = key["pk"], key["sk"]
		t.put(s.table(tData), ptr, "attribute_not_exists(pk)", nil)
		channels[d.Channel] = true
	}
	return nil
}

// PendingOutbox lists a subscriber's pending deliveries after q.After in
// seq order: a query of each channel's partition, merged.
func (s *Store) PendingOutbox(ctx context.Context, q store.OutboxQuery) ([]store.OutboxItem, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	channels := q.Channels
	if channels == nil {
		sub, err := s.getItem(ctx, subKey(q.Subscriber))
		if err != nil {
			return nil, fmt.Errorf("pending outbox: %w", err)
		}
		if l, ok := sub["channels"].(*types.AttributeValueMemberL); ok {
			for _, ch := range l.Value {
				channels = append(channels, ch.(*types.AttributeValueMemberS).Value)
			}
		}
	}
	out := []store.OutboxItem{}
	for _, ch := range slices.Compact(slices.Sorted(slices.Values(channels))) {
		items, err := s.queryPage(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
			KeyConditionExpression: aws.String("pk = :pk AND sk > :after"), Limit: aws.Int32(int32(limit)),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(outboxPK(q.Subscriber, ch)),
				":after": str(fmt.Sprintf("%020d", q.After))}}, limit)
		if err != nil {
			return nil, fmt.Errorf("pending outbox: %w", err)
		}
		for _, it := range items[:min(len(items), limit)] {
			var d store.OutboxItem
			if err := json.Unmarshal([]byte(getS(it, "doc")), &d); err != nil {
				return nil, fmt.Errorf("decode delivery: %w", err)
			}
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out[:min(len(out), limit)], nil
}

// DeleteOutbox removes deliveries by id; unknown ids are skipped.
func (s *Store) DeleteOutbox(ctx context.Context, ids []string) error {
	var t txn
	for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
		ptr, err := s.getItem(ctx, outboxIDKey(id))
		if err != nil {
			return fmt.Errorf("delete outbox: %w", err)
		}
		if ptr == nil {
			continue
		}
		t.del(s.table(tData), outboxIDKey(id))
		t.del(s.table(tData), map[string]types.AttributeValue{"pk": ptr["opk"], "sk": ptr["osk"]})
		if len(t.items) >= MaxTxItems-1 {
			if err := s.commit(ctx, "delete outbox", &t); err != nil {
				return err
			}
			t = txn{}
		}
	}
	return s.commit(ctx, "delete outbox", &t)
}

// GetChannelSet returns the channels recorded for the subscriber.
func (s *Store) GetChannelSet(ctx context.Context, subscriber string) (store.ChannelSet, error) {
	it, err := s.getItem(ctx, map[string]types.AttributeValue{"pk": str("CHANSET"), "sk": str(subscriber)})
	if err != nil {
		return store.ChannelSet{}, fmt.Errorf("get channel set %s: %w", subscriber, err)
	}
	if it == nil {
		return store.ChannelSet{}, fmt.Errorf("get channel set %s: %w", subscriber, store.ErrNotFound)
	}
	var set store.ChannelSet
	if err := json.Unmarshal([]byte(getS(it, "doc")), &set); err != nil {
		return set, fmt.Errorf("decode channel set %s: %w", subscriber, err)
	}
	return set, nil
}

// PutChannelSet records set, then deletes the subscriber's pending
// deliveries of channels not in it (in batches after the record: no
// replica sends them once it is recorded).
func (s *Store) PutChannelSet(ctx context.Context, set store.ChannelSet) (int, error) {
	set.SetAt = store.Truncate(set.SetAt)
	doc, err := json.Marshal(set)
	if err != nil {
		return 0, fmt.Errorf("put channel set: %w", err)
	}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table(tData)),
		Item: map[string]types.AttributeValue{"pk": str("CHANSET"), "sk": str(set.Subscriber), "doc": str(string(doc))}}); err != nil {
		return 0, fmt.Errorf("put channel set %s: %w", set.Subscriber, err)
	}
	pending, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: set.Subscriber, Limit: store.MaxLimit})
	n := 0
	for err == nil && len(pending) > 0 {
		var ids []string
		for _, d := range pending {
			if !slices.Contains(set.Names, d.Channel) {
				ids = append(ids, d.ID)
			}
		}
		if err = s.DeleteOutbox(ctx, ids); err != nil {
			break
		}
		n += len(ids)
		pending, err = s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: set.Subscriber, After: pending[len(pending)-1].Seq, Limit: store.MaxLimit})
	}
	if err != nil {
		return n, fmt.Errorf("put channel set %s: %w", set.Subscriber, err)
	}
	return n, nil
}
