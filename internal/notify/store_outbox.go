package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

// StoreOutbox is the durable Outbox: the pending deliveries of one audit
// subscriber in the store. Deliveries enter it only through the Feed's
// commits (store.SubscriberCommit), in the transaction that moves the
// subscriber's cursor, so Add refuses; Pending and Done read and delete
// them.
//
// With several replicas on one store, each channel's deliveries are sent
// by one replica (see ChannelShard): Pending lists only the deliveries of
// the channels this replica sends now, and a Dispatcher over this outbox
// asks Sends before every attempt.
type StoreOutbox struct {
	store      store.OutboxStore
	subscriber string
	// sends, when set, says whether this replica sends a channel now; nil
	// sends every channel.
	sends func(channel string) bool
}

// NewStoreOutbox returns the outbox of subscriber in st.
func NewStoreOutbox(st store.OutboxStore, subscriber string) *StoreOutbox {
	return &StoreOutbox{store: st, subscriber: subscriber}
}

// errCommittedByFeed: a StoreOutbox takes deliveries only from the feed.
var errCommittedByFeed = errors.New("a store outbox takes deliveries only through the feed's commits")

// Add refuses: see StoreOutbox.
func (o *StoreOutbox) Add(context.Context, Delivery) error { return errCommittedByFeed }

// Sends reports whether this replica sends channel's deliveries now.
func (o *StoreOutbox) Sends(channel string) bool { return o.sends == nil || o.sends(channel) }

// Pending lists the pending deliveries of the channels this replica sends,
// in commit order: a read of the whole outbox, for inspection and a
// dispatcher's start, never for its polls (those read PendingOf, one
// channel and one queue's worth at a time).
func (o *StoreOutbox) Pending(ctx context.Context) ([]Delivery, error) {
	var (
		out   []Delivery
		after int64
		mine  = map[string]bool{}
	)
	for {
		items, err := o.store.PendingOutbox(ctx, store.OutboxQuery{Subscriber: o.subscriber, After: after, Limit: store.MaxLimit})
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			after = it.Seq
			sends, seen := mine[it.Channel]
			if !seen {
				sends = o.Sends(it.Channel)
				mine[it.Channel] = sends
			}
			if !sends {
				continue
			}
			d, err := delivery(it)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		if len(items) < store.MaxLimit {
			return out, nil
		}
	}
}

// PendingOf lists the oldest limit pending deliveries of channel (at most
// store.MaxLimit), whether or not this replica sends it: one indexed read
// of limit rows, however many deliveries the outbox holds.
func (o *StoreOutbox) PendingOf(ctx context.Context, channel string, limit int) ([]Delivery, error) {
	items, err := o.store.PendingOutbox(ctx, store.OutboxQuery{Subscriber: o.subscriber, Channels: []string{channel},
		Limit: min(limit, store.MaxLimit)})
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(items))
	for _, it := range items {
		d, err := delivery(it)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// delivery is the Delivery of an outbox item.
func delivery(it store.OutboxItem) (Delivery, error) {
	var m Message
	if err := json.Unmarshal(it.Payload, &m); err != nil {
		return Delivery{}, fmt.Errorf("outbox item %s: %w", it.ID, err)
	}
	return Delivery{ID: it.ID, Channel: it.Channel, Message: m, Created: it.CreatedAt, Seq: it.Seq}, nil
}

// Done deletes the delivery.
func (o *StoreOutbox) Done(ctx context.Context, id string) error {
	return o.store.DeleteOutbox(ctx, []string{id})
}

// item is d as the store keeps it.
func (o *StoreOutbox) item(d Delivery) (store.OutboxItem, error) {
	payload, err := json.Marshal(d.Message)
	if err != nil {
		return store.OutboxItem{}, fmt.Errorf("encode delivery %s: %w", d.ID, err)
	}
	return store.OutboxItem{ID: d.ID, Subscriber: o.subscriber, Channel: d.Channel, Payload: payload, CreatedAt: d.Created}, nil
}
