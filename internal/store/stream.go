package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// StreamEvent is one event of the stream log: what the live stream (GET
// /v1/stream) sends, kept in the store. Writers put it in the transaction
// of the fact it reports (Pass.Stream, FinishHeal.Stream,
// SubscriberCommit.Stream), so it exists if and only if that fact
// committed; every replica reads the log and serves every event, in one
// order, under one id (its Seq).
type StreamEvent struct {
	// Seq is the event's place in the log, assigned at commit: gap-free,
	// and increasing in commit order (a transaction that commits later
	// gets higher seqs), so a reader that has read every event up to n
	// never finds one below n later.
	Seq       int64           `json:"seq"`
	Kind      string          `json:"kind"`
	ClientID  string          `json:"client_id"`
	StackID   string          `json:"stack_id,omitempty"`
	Severity  string          `json:"severity,omitempty"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	// CreatedAt is when the store wrote it (its clock; PostgreSQL's as it
	// commits): retention.
	CreatedAt time.Time `json:"created_at"`
}

// StreamPage is a read of the stream log (StreamStore.ReadStream).
type StreamPage struct {
	// Events are those after the seq asked for, oldest first.
	Events []StreamEvent
	// Head is the seq of the newest event committed (0: none ever).
	Head int64
	// Pruned is the seq through which events have been deleted by
	// retention (0: none): an event at or below it is gone.
	Pruned int64
}

// StreamPrune says which events of the log retention deletes: those
// written before Before, and those more than MaxRows below the head.
// A zero field does not prune.
type StreamPrune struct {
	Before  time.Time
	MaxRows int64
}

// StreamStore is the stream log.
type StreamStore interface {
	// AppendStream commits events on their own, for an event that reports
	// no write of the store (heal.started).
	AppendStream(ctx context.Context, events []StreamEvent) error
	// ReadStream returns up to limit events with Seq > after, oldest
	// first (none when limit <= 0), with the log's head and pruned mark
	// as of the same read.
	ReadStream(ctx context.Context, after int64, limit int) (StreamPage, error)
	// PruneStream deletes up to limit of the oldest events that q
	// selects, and returns how many; Pruned moves past them.
	PruneStream(ctx context.Context, q StreamPrune, limit int) (int, error)
	// WatchStream calls wake, on this goroutine, whenever events may have
	// been committed to the log, by this process or (PostgreSQL) any
	// other, and once when it starts watching (and again after each
	// reconnection: events committed meanwhile were not announced), until
	// ctx ends; then it returns nil. A reader still polls now and then:
	// a wake can be lost with a connection.
	WatchStream(ctx context.Context, wake func()) error
}

// MaxStreamData bounds an event's payload (bytes of JSON).
const MaxStreamData = 1 << 20

// CheckStream checks events before a driver writes them: a kind, a
// client, a timestamp, a JSON payload of at most MaxStreamData bytes.
func CheckStream(events []StreamEvent) error {
	for i, e := range events {
		switch {
		case e.Kind == "":
			return fmt.Errorf("stream event %d: no kind", i)
		case e.ClientID == "":
			return fmt.Errorf("stream event %d (%s): no client", i, e.Kind)
		case e.Timestamp.IsZero():
			return fmt.Errorf("stream event %d (%s): no timestamp", i, e.Kind)
		case len(e.Data) > MaxStreamData:
			return fmt.Errorf("stream event %d (%s): payload of %d bytes, more than %d", i, e.Kind, len(e.Data), MaxStreamData)
		case len(e.Data) > 0 && !json.Valid(e.Data):
			return fmt.Errorf("stream event %d (%s): payload is not JSON", i, e.Kind)
		}
	}
	return nil
}

// StreamData is an event's payload as stored: "{}" for none.
func StreamData(e StreamEvent) string {
	if len(e.Data) == 0 {
		return "{}"
	}
	return string(e.Data)
}
