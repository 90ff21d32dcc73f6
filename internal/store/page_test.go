package store

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNextPage(t *testing.T) {
	t.Parallel()
	key := func(n int) []any { return []any{n} }
	for _, tc := range []struct {
		name     string
		rows     []int
		limit    int
		want     []int
		wantNext bool
	}{
		{"one more: cut", []int{1, 2, 3}, 2, []int{1, 2}, true},
		{"exactly limit", []int{1, 2}, 2, []int{1, 2}, false},
		{"fewer", []int{1}, 2, []int{1}, false},
		{"none", nil, 2, nil, false},
		{"no limit", []int{1, 2, 3}, 0, []int{1, 2, 3}, false},
		{"negative limit", []int{1, 2, 3}, -1, []int{1, 2, 3}, false},
	} {
		got, next := NextPage(tc.rows, tc.limit, key)
		require.Equal(t, tc.want, got, tc.name)
		if !tc.wantNext {
			require.Empty(t, next, tc.name)
			continue
		}
		var last int
		require.NoError(t, DecodeCursor(next, &last), tc.name)
		require.Equal(t, tc.want[len(tc.want)-1], last, tc.name)
	}
}

func TestCursorKeys(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		name string
		key  []any
		want string
	}{
		{"state", StateKey(StateRecord{ClientID: "c", StackID: "s"}), `["c","s"]`},
		{"content", ContentKey(ContentItem{ClientID: "c", ProviderName: "p", Source: "src", ContentID: "id"}), `["c","p","src","id"]`},
		{"heal", HealKey(HealAttempt{ID: "h", CreatedAt: at}), `[1772366400123456,"h"]`},
		{"approval", ApprovalKey(Approval{ID: "a", CreatedAt: at}), `[1772366400123456,"a"]`},
		{"reconciliation", ReconciliationKey(ReconciliationResult{StartedAt: at}, 7), `[1772366400123456,7]`},
		{"audit", AuditKey(AuditEntry{Seq: 42}), `[42]`},
	} {
		b, err := base64.RawURLEncoding.DecodeString(EncodeCursor(tc.key...))
		require.NoError(t, err, tc.name)
		require.JSONEq(t, tc.want, string(b), tc.name)
	}

	// A time key reads back as the stored (truncated) time.
	var created int64
	var id string
	require.NoError(t, DecodeCursor(EncodeCursor(HealKey(HealAttempt{ID: "h", CreatedAt: at})...), &created, &id))
	require.Equal(t, Truncate(at), time.UnixMicro(created).UTC())
	require.Equal(t, "h", id)
}

func TestAllReadsEveryPageAndStopsOnError(t *testing.T) {
	t.Parallel()
	pages := map[Page][]int{"": {1, 2}, "b": {3}, "c": {4, 5}}
	nexts := map[Page]Page{"": "b", "b": "c", "c": ""}
	got, err := All(func(c Page) ([]int, Page, error) { return pages[c], nexts[c], nil })
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3, 4, 5}, got)

	boom := errors.New("boom")
	_, err = All(func(c Page) ([]int, Page, error) {
		if c == "b" {
			return nil, "", boom
		}
		return pages[c], nexts[c], nil
	})
	require.ErrorIs(t, err, boom)
}
