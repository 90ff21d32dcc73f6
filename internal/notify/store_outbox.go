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
// in commit order. The others' are filtered out here rather than in the
// store: an outbox holds few rows when its receivers keep up, and each
// channel's ownership is asked once per read.
func (o *StoreOutbox) Pending(ctx context.Context) ([]Delivery, error) {
	var (
		out   []Delivery
		after int64
		mine  = map[string]bool{}
	)
	for {
		items, err := o.store.PendingOutbox(ctx, o.subscriber, after, store.MaxLimit)
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
			var m Message
			if err := json.Unmarshal(it.Payload, &m); err != nil {
				return nil, fmt.Errorf("outbox item %s: %w", it.ID, err)
			}
			out = append(out, Delivery{ID: it.ID, Channel: it.Channel, Message: m, Created: it.CreatedAt})
		}
		if len(items) < store.MaxLimit {
			return out, nil
		}
	}
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
