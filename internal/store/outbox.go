package store

import (
	"context"
	"encoding/json"
	"time"
)

// Subscriber is what a durable reader of the audit log has stored: how far
// it has read (Cursor, the Seq of the last entry it processed), its own
// state documents by key (notifications: the noise-control state of each
// drift), and nothing else; its deliveries are OutboxItems.
type Subscriber struct {
	Name   string
	Cursor int64
	States map[string]json.RawMessage
}

// SubscriberCommit is what a subscriber writes after processing audit
// entries, in one transaction: the cursor moves from From to To, states
// are upserted by key (and those of DeleteStates deleted), and deliveries
// enter the outbox. A crash before it
// commits leaves everything as it was, so the subscriber processes the
// same entries again from the same states; after it commits, the
// deliveries are pending until DeleteOutbox.
type SubscriberCommit struct {
	Name string
	// Create: the subscriber has never committed (its row is created;
	// ErrConflict if it exists). Otherwise the stored cursor must equal
	// From (ErrConflict if not: another process moved it; ErrNotFound if
	// the subscriber does not exist).
	Create bool
	From   int64
	To     int64
	States map[string]json.RawMessage
	// DeleteStates are keys whose states are deleted (a key that has none
	// is ignored; a key in States too is an error).
	DeleteStates []string
	// Deliveries are added; an id already pending keeps the stored item.
	Deliveries []OutboxItem
	// Stream are events of the stream log written in the same
	// transaction (the drift events of the entries committed), so that
	// they are written once whichever process commits the entries.
	Stream []StreamEvent
}

// OutboxItem is one pending delivery of a subscriber: Payload (JSON) for
// Channel.
type OutboxItem struct {
	// Seq orders the items; the store assigns it.
	Seq        int64           `json:"seq"`
	ID         string          `json:"id"`
	Subscriber string          `json:"subscriber"`
	Channel    string          `json:"channel"`
	Payload    json.RawMessage `json:"payload"`
	CreatedAt  time.Time       `json:"created_at"`
}

// OutboxQuery selects pending deliveries (OutboxStore.PendingOutbox).
type OutboxQuery struct {
	Subscriber string
	// Channels, when not nil, keeps the deliveries of these channels only
	// (an empty, non-nil list keeps none).
	Channels []string
	// After is the Seq the page starts after (0: from the oldest).
	After int64
	// Limit bounds the answer (BatchLimit).
	Limit int
}

// OutboxStore is the durable side of notification delivery: audit-log
// subscribers with their cursors and states, and the outbox of deliveries
// not yet accepted by their receivers. The audit log itself is the
// transactional outbox of the reconcile passes (CommitPass writes the
// entries in the pass's transaction); subscribers tail it.
type OutboxStore interface {
	// AuditAfter returns up to limit (BatchLimit) audit entries with Seq >
	// after, oldest first. Seqs become visible in order: once entry n is
	// visible, every entry below n is too.
	AuditAfter(ctx context.Context, after int64, limit int) ([]AuditEntry, error)
	// AuditHead returns the Seq of the newest audit entry, 0 for none.
	AuditHead(ctx context.Context) (int64, error)
	// GetSubscriber returns a subscriber's cursor and states, or
	// ErrNotFound if it never committed.
	GetSubscriber(ctx context.Context, name string) (Subscriber, error)
	// CommitSubscriber writes c in one transaction (see SubscriberCommit);
	// nothing is written when it fails.
	CommitSubscriber(ctx context.Context, c SubscriberCommit) error
	// PendingOutbox lists up to q.Limit (BatchLimit) pending deliveries of
	// q.Subscriber with Seq > q.After, of q.Channels only when it is not
	// nil, in Seq order (the order they were committed in). A read of one channel costs what it returns, however many
	// deliveries other channels, or the same channel further on, hold.
	PendingOutbox(ctx context.Context, q OutboxQuery) ([]OutboxItem, error)
	// DeleteOutbox removes delivered (or given up) items; unknown ids are
	// not an error.
	DeleteOutbox(ctx context.Context, ids []string) error
	// GetChannelSet returns the notification channels recorded for the
	// subscriber, or ErrNotFound if none were.
	GetChannelSet(ctx context.Context, subscriber string) (ChannelSet, error)
	// PutChannelSet records set for set.Subscriber (replacing what was
	// recorded) and, in the same transaction, deletes the subscriber's
	// pending deliveries of every channel not in set.Names: no replica
	// sends those any more. It returns how many it deleted.
	PutChannelSet(ctx context.Context, set ChannelSet) (int, error)
}

// ChannelSet is the set of notification channels the replicas sharing a
// store must all have (channel specs hold secrets and stay in each
// replica's config; their names are recorded so that the replicas can
// check they agree). Recorded by the replica that applies a config.
type ChannelSet struct {
	Subscriber string `json:"subscriber"`
	// Hash identifies Names (the caller's hash of them).
	Hash string `json:"hash"`
	// Names are the channels' names, sorted.
	Names []string `json:"names"`
	// SetBy and SetAt say which replica recorded it, and when.
	SetBy string    `json:"set_by"`
	SetAt time.Time `json:"set_at"`
}
