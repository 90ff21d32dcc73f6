package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// A limit means the same to every Store method that takes one: at most
// that many rows, DefaultLimit when it is <= 0 (ListStates alone differs:
// see there). Above MaxLimit, a method that pages (answers a Page cursor)
// lowers it to MaxLimit and its cursor leads to the rest (PageLimit); a
// method that does not (a batch: claims, deletes and expiries, the audit
// and outbox tails, payload scans, the dashboards' top lists) refuses it
// with an error naming the cap (BatchLimit), so fewer rows than asked for
// always means there are no more.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ErrInvalidCursor: a cursor given to a List method was not one the store
// handed out. It is an input error (the API answers 422), not a bug.
var ErrInvalidCursor = errors.New("invalid cursor")

// BatchLimit is the limit of a method that does not page: DefaultLimit
// for n <= 0, n up to MaxLimit, and above it an error wrapping ErrInvalid.
func BatchLimit(n int) (int, error) {
	if n > MaxLimit {
		return 0, fmt.Errorf("%w: limit %d is above the store's cap of %d", ErrInvalid, n, MaxLimit)
	}
	return PageLimit(n), nil
}

// PageLimit is the limit of a method that pages: DefaultLimit for n <= 0,
// and n lowered to MaxLimit (the page's cursor leads to the rest).
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	default:
		return n
	}
}

// EncodeCursor makes an opaque cursor from the sort key of the last row of a
// page: URL-safe base64 of a JSON array. Drivers choose what the key holds.
func EncodeCursor(key ...any) string {
	b, err := json.Marshal(key)
	if err != nil {
		// Keys are strings and integers.
		panic("store: marshal cursor: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by EncodeCursor into pointers to the key's
// parts, which must match in number and type; otherwise it returns an error
// wrapping ErrInvalidCursor.
func DecodeCursor(cursor string, key ...any) error {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidCursor, err)
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidCursor, err)
	}
	if len(parts) != len(key) {
		return fmt.Errorf("%w: %d parts, want %d", ErrInvalidCursor, len(parts), len(key))
	}
	for i, p := range parts {
		if err := json.Unmarshal(p, key[i]); err != nil {
			return fmt.Errorf("%w: part %d: %v", ErrInvalidCursor, i, err)
		}
	}
	return nil
}
