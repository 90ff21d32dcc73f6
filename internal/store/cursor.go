package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Page sizes of the cursor-paginated List methods: a limit <= 0 means
// DefaultLimit (except where a method documents otherwise), and a limit above
// MaxLimit is lowered to MaxLimit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ErrInvalidCursor: a cursor given to a List method was not one the store
// handed out. It is an input error (the API answers 422), not a bug.
var ErrInvalidCursor = errors.New("invalid cursor")

// PageLimit applies DefaultLimit and MaxLimit to a requested limit.
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
