package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// The stream log is one partition ("STREAM"): events by padded seq, and a
// head item (the last seq, and the seq pruned through). Events are
// numbered like audit entries: written with a move of the head
// conditional on the head as read, in the transaction of the fact they
// report, so seqs are gap-free and in commit order. An event whose data
// would make its item larger than DynamoDB's 400 KB is stored with its
// data replaced by {"truncated":true,"bytes":N} (the stream is a live
// view; the fact it reports is stored whole, or refused, elsewhere).

var streamHeadKey = map[string]types.AttributeValue{"pk": str("STREAM"), "sk": str("HEAD")}

func streamSK(seq int64) string { return fmt.Sprintf("E%020d", seq) }

// streamRoom is the bytes an event's data may take in its item.
const streamRoom = MaxItemBytes - 16*1024

// chainStream reads the stream head and adds to t the events numbered
// after it and the head's move, conditional on the head read.
func (s *Store) chainStream(ctx context.Context, t *txn, events []store.StreamEvent) error {
	if len(events) == 0 {
		return nil
	}
	head, err := s.getItem(ctx, streamHeadKey)
	if err != nil {
		return fmt.Errorf("read stream head: %w", err)
	}
	seq := getN(head, "seq")
	now := store.Truncate(s.now())
	for _, e := range events {
		seq++
		e.Seq, e.CreatedAt, e.Timestamp = seq, now, store.Truncate(e.Timestamp)
		data := store.StreamData(e)
		if len(data) > streamRoom {
			data = fmt.Sprintf(`{"truncated":true,"bytes":%d}`, len(data))
		}
		e.Data = nil
		doc, err := json.Marshal(e)
		if err != nil {
			return err
		}
		t.put(s.table(tData), map[string]types.AttributeValue{"pk": str("STREAM"), "sk": str(streamSK(seq)),
			"doc": str(string(doc)), "data": str(data), "created_at": num(now.UnixMicro())}, "", nil)
	}
	h := map[string]types.AttributeValue{"pk": str("STREAM"), "sk": str("HEAD"), "seq": num(seq), "pruned": num(getN(head, "pruned"))}
	if head == nil {
		t.put(s.table(tData), h, "attribute_not_exists(pk)", nil)
	} else {
		t.put(s.table(tData), h, "seq = :seq AND pruned = :pr",
			map[string]types.AttributeValue{":seq": num(getN(head, "seq")), ":pr": num(getN(head, "pruned"))})
	}
	return nil
}

// AppendStream commits events on their own.
func (s *Store) AppendStream(ctx context.Context, events []store.StreamEvent) error {
	if err := store.CheckStream(events); err != nil {
		return err
	}
	for attempt := range auditRetries {
		headBackoff(ctx, attempt)
		var t txn
		if err := s.chainStream(ctx, &t, events); err != nil {
			return err
		}
		err := s.commit(ctx, "append stream", &t)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err == nil && len(events) > 0 {
			s.streamWake.wake()
		}
		return err
	}
	return fmt.Errorf("append stream: %w", store.ErrConflict)
}

// ReadStream returns up to limit events after the seq, with the head and
// pruned mark (read first: events are never read past the head read).
func (s *Store) ReadStream(ctx context.Context, after int64, limit int) (store.StreamPage, error) {
	head, err := s.getItem(ctx, streamHeadKey)
	if err != nil {
		return store.StreamPage{}, fmt.Errorf("read stream: %w", err)
	}
	page := store.StreamPage{Head: getN(head, "seq"), Pruned: getN(head, "pruned")}
	if limit <= 0 || max(after, page.Pruned) >= page.Head {
		return page, nil
	}
	limit = store.PageLimit(limit)
	items, err := s.queryPage(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"), Limit: aws.Int32(int32(limit)),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("STREAM"),
			":from": str(streamSK(max(after, page.Pruned) + 1)), ":to": str(streamSK(page.Head))}}, limit)
	if err != nil {
		return store.StreamPage{}, fmt.Errorf("read stream: %w", err)
	}
	for _, it := range items[:min(len(items), limit)] {
		var e store.StreamEvent
		if err := json.Unmarshal([]byte(getS(it, "doc")), &e); err != nil {
			return store.StreamPage{}, fmt.Errorf("decode stream event: %w", err)
		}
		e.Data = json.RawMessage(getS(it, "data"))
		page.Events = append(page.Events, e)
	}
	return page, nil
}

// PruneStream deletes up to limit of the oldest events q selects and
// moves the pruned mark past them (conditional on the head as read).
func (s *Store) PruneStream(ctx context.Context, q store.StreamPrune, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("prune stream: %w", err)
	}
	if q.Before.IsZero() && q.MaxRows <= 0 {
		return 0, nil
	}
	head, err := s.getItem(ctx, streamHeadKey)
	if err != nil || head == nil {
		return 0, err
	}
	seq, pruned := getN(head, "seq"), getN(head, "pruned")
	if pruned >= seq {
		return 0, nil
	}
	items, err := s.queryPage(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"), Limit: aws.Int32(int32(limit)),
		ProjectionExpression: aws.String("pk, sk, created_at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("STREAM"),
			":from": str(streamSK(pruned + 1)), ":to": str(streamSK(seq))}}, limit)
	if err != nil {
		return 0, fmt.Errorf("prune stream: %w", err)
	}
	var t txn
	through := pruned
	for i, it := range items[:min(len(items), limit)] {
		n := pruned + 1 + int64(i)
		old := q.MaxRows > 0 && n <= seq-q.MaxRows
		aged := !q.Before.IsZero() && getN(it, "created_at") < microsOf(q.Before)
		if !old && !aged {
			break
		}
		t.del(s.table(tData), map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]})
		through = n
	}
	if through == pruned {
		return 0, nil
	}
	t.update(&types.Update{TableName: aws.String(s.table(tData)), Key: streamHeadKey,
		UpdateExpression: aws.String("SET pruned = :to"), ConditionExpression: aws.String("pruned = :from"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":to": num(through), ":from": num(pruned)}})
	if err := s.commit(ctx, "prune stream", &t); err != nil {
		return 0, err
	}
	return int(through - pruned), nil
}

// WatchStream wakes at the start and after every commit of events by
// this Store; events committed by other processes are not announced
// (DynamoDB has no notifications): readers poll.
func (s *Store) WatchStream(ctx context.Context, wake func()) error {
	ch := s.streamWake.subscribe()
	defer s.streamWake.unsubscribe(ch)
	wake()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
			wake()
		}
	}
}

// waker wakes the WatchStream calls of a Store.
type waker struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func (w *waker) subscribe() chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subs == nil {
		w.subs = map[chan struct{}]struct{}{}
	}
	w.subs[ch] = struct{}{}
	return ch
}

func (w *waker) unsubscribe(ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.subs, ch)
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
