package store

import (
	"context"
	"encoding/json"
	"time"
)

// DataKey is a data key of sealed payloads (package seal), stored wrapped:
// sealed with a key-encryption key that never enters the store.
type DataKey struct {
	// ID names the key in every value sealed with it.
	ID string `json:"id"`
	// KEKID names the key-encryption key that wrapped it.
	KEKID string `json:"kek_id"`
	// Wrapped is the sealed key (base64), opaque to the store.
	Wrapped   string    `json:"wrapped"`
	CreatedAt time.Time `json:"created_at"`
}

// PayloadTable names a table whose rows carry a payload that may be sealed.
type PayloadTable string

// The tables with payloads: events (keyed by event id) and the outbox
// (keyed by item id).
const (
	PayloadEvents PayloadTable = "events"
	PayloadOutbox PayloadTable = "outbox"
)

// PayloadRow is a row's payload as stored, with the row's key.
type PayloadRow struct {
	// Key is the event id or the outbox item's id.
	Key string `json:"key"`
	// ClientID and ProviderName are the event's; empty for outbox items.
	ClientID     string          `json:"client_id,omitempty"`
	ProviderName string          `json:"provider_name,omitempty"`
	ContentID    string          `json:"content_id,omitempty"`
	EventType    string          `json:"event_type,omitempty"`
	Payload      json.RawMessage `json:"payload"`
}

// PayloadScan selects the rows ScanPayloads reads: those of Table with a
// payload and a key after After, in key order, at most Limit
// (BatchLimit). ClientID and ProviderName filter events when set.
type PayloadScan struct {
	Table        PayloadTable
	ClientID     string
	ProviderName string
	After        string
	Limit        int
}

// PayloadSwap replaces a row's payload with New, only while it still is
// Old (a compare-and-swap: a row erased or rewritten meanwhile is left
// alone).
type PayloadSwap struct {
	Key string
	Old json.RawMessage
	New json.RawMessage
}

// ContentErase selects content-cache rows to delete: those of the client
// and provider, of Source when set, and of the ContentIDs when not empty.
type ContentErase struct {
	ClientID     string
	ProviderName string
	Source       string
	ContentIDs   []string
}

// PayloadStore is what sealing, key rotation and erasure need of a store
// beyond its records. Payloads are opaque here: a driver stores and
// compares bytes.
type PayloadStore interface {
	// DataKeys returns the stored data keys, oldest first (by CreatedAt,
	// then ID).
	DataKeys(ctx context.Context) ([]DataKey, error)
	// PutDataKeys inserts keys, or replaces those whose ID is stored (a key
	// re-wrapped with another key-encryption key), in one transaction.
	PutDataKeys(ctx context.Context, keys []DataKey) error
	// ScanPayloads reads payloads as stored (see PayloadScan).
	ScanPayloads(ctx context.Context, q PayloadScan) ([]PayloadRow, error)
	// SwapPayloads writes each swap whose row still holds Old, in one
	// transaction, and returns how many were written.
	SwapPayloads(ctx context.Context, table PayloadTable, swaps []PayloadSwap) (int, error)
	// DeleteRows deletes the rows of table with these keys (event ids,
	// outbox ids) and returns how many it deleted; unknown keys are not an
	// error. Deleted events leave the activity counts as TTL expiry does.
	DeleteRows(ctx context.Context, table PayloadTable, keys []string) (int, error)
	// DeleteContent deletes content-cache rows (see ContentErase) and
	// returns how many.
	DeleteContent(ctx context.Context, q ContentErase) (int, error)
}
