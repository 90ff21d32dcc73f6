package notify

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Delivery is one message for one channel: the unit the outbox keeps until
// the channel accepted it or it was given up.
type Delivery struct {
	// ID is "<channel>/<idempotency key>": unique, and the same when a
	// message is published again.
	ID      string    `json:"id"`
	Channel string    `json:"channel"`
	Message Message   `json:"message"`
	Created time.Time `json:"created"`
	// Seq orders an outbox's deliveries (the order they were added or
	// committed in); the outbox assigns it, 0 before.
	Seq int64 `json:"seq,omitempty"`
}

// DeliveryID is the id of m's delivery to channel.
func DeliveryID(channel string, m Message) string { return channel + "/" + m.IdempotencyKey }

// Outbox keeps deliveries from publication until they are done, so that a
// restart redelivers what was not delivered. Add is idempotent: adding an
// id that is pending keeps the one there. Pending lists every pending
// delivery, oldest first; PendingOf the oldest limit of one channel, at a
// cost bounded by limit however many are pending (what a dispatcher reads
// every second). Done removes one (an unknown id is not an error).
// Delivery is at least once: receivers recognise a redelivery by the
// message's idempotency key.
//
// StoreOutbox is the durable implementation (its deliveries are committed
// by the Feed together with the subscriber's cursor); MemoryOutbox keeps
// them in memory and loses them on a crash.
type Outbox interface {
	Add(ctx context.Context, d Delivery) error
	Pending(ctx context.Context) ([]Delivery, error)
	PendingOf(ctx context.Context, channel string, limit int) ([]Delivery, error)
	Done(ctx context.Context, id string) error
}

// MemoryOutbox is an Outbox in memory. Safe for concurrent use.
type MemoryOutbox struct {
	mu   sync.Mutex
	seq  int64
	byID map[string]memoryEntry
}

type memoryEntry struct {
	seq int64
	d   Delivery
}

// NewMemoryOutbox returns an empty in-memory outbox.
func NewMemoryOutbox() *MemoryOutbox { return &MemoryOutbox{byID: map[string]memoryEntry{}} }

// Add keeps d unless its id is pending already.
func (o *MemoryOutbox) Add(_ context.Context, d Delivery) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.byID[d.ID]; ok {
		return nil
	}
	o.seq++
	o.byID[d.ID] = memoryEntry{seq: o.seq, d: d}
	return nil
}

// Pending lists the pending deliveries in the order they were added.
func (o *MemoryOutbox) Pending(context.Context) ([]Delivery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	es := make([]memoryEntry, 0, len(o.byID))
	for _, e := range o.byID {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	out := make([]Delivery, len(es))
	for i, e := range es {
		out[i] = e.d
		out[i].Seq = e.seq
	}
	return out, nil
}

// PendingOf lists the oldest limit pending deliveries of channel.
func (o *MemoryOutbox) PendingOf(ctx context.Context, channel string, limit int) ([]Delivery, error) {
	all, err := o.Pending(ctx)
	if err != nil {
		return nil, err
	}
	var out []Delivery
	for _, d := range all {
		if d.Channel == channel && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

// Done forgets the delivery id.
func (o *MemoryOutbox) Done(_ context.Context, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.byID, id)
	return nil
}
