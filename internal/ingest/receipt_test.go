package ingest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReceiptJSON: a receipt is written as json.Marshal writes it, whatever
// its strings hold.
func TestReceiptJSON(t *testing.T) {
	t.Parallel()
	for _, r := range []Receipt{
		{EventID: "shopify:acme:b1f2"},
		{EventID: "shopify:acme:b1f2", Duplicate: true},
		{EventID: "generic:acme:evt_1", Triggered: []string{"acme/shop"}},
		{EventID: "sanity:acme:x", Triggered: []string{"acme/a", "acme/b", "acme/c"}},
		{EventID: `a"b\c`, Triggered: []string{"acme/<shop>&"}},
		{EventID: "é\u2028~\x7f", Triggered: []string{"acme/ok"}},
		{EventID: "ok", Triggered: []string{"acme/\u00e9"}},
		{},
	} {
		want, err := json.Marshal(r)
		require.NoError(t, err)
		got, err := r.appendJSON(nil)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%+v", r)
	}
}

// FuzzReceiptJSON: appendJSON agrees with json.Marshal.
//
//	go test -run '^$' -fuzz FuzzReceiptJSON ./internal/ingest
func FuzzReceiptJSON(f *testing.F) {
	f.Add("shopify:acme:1", "acme/shop", true)
	f.Add("<a&b>", "\x00\u2028", false)
	f.Fuzz(func(t *testing.T, id, stack string, dup bool) {
		r := Receipt{EventID: id, Duplicate: dup, Triggered: []string{stack, "acme/" + stack}}
		want, err := json.Marshal(r)
		require.NoError(t, err)
		got, err := r.appendJSON(nil)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	})
}
