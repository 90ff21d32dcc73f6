package server

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// fakeHistoryReader serves stacks (one per page, to walk cursors) and
// policies by client.
type fakeHistoryReader struct {
	stacks   []store.StackRef
	policies map[string][]store.PolicyRecord
	err      error
}

func (f fakeHistoryReader) ListStackRefs(_ context.Context, cursor string, _ int) ([]store.StackRef, store.Page, error) {
	i := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil {
			return nil, "", err
		}
		i = n
	}
	if i >= len(f.stacks) {
		return nil, "", nil
	}
	next := ""
	if i+1 < len(f.stacks) {
		next = strconv.Itoa(i + 1)
	}
	return f.stacks[i : i+1], next, nil
}

func (f fakeHistoryReader) ListPolicies(_ context.Context, clientID string) ([]store.PolicyRecord, error) {
	return f.policies[clientID], f.err
}

func policy(t *testing.T, stack, doc string) store.PolicyRecord {
	t.Helper()
	require.True(t, json.Valid([]byte(doc)) || doc == "{broken", doc)
	return store.PolicyRecord{StackID: stack, Document: json.RawMessage(doc)}
}

func TestPlanHistoryPrunes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	def := 7 * 24 * time.Hour
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	stacks := []store.StackRef{{ClientID: "acme", StackID: "shop"}, {ClientID: "acme", StackID: "web"}, {ClientID: "initech", StackID: "web"}, {ClientID: "umbrella", StackID: "web"}, {ClientID: "wayne", StackID: "web"}}
	for _, tc := range []struct {
		name     string
		policies func(t *testing.T) map[string][]store.PolicyRecord
		want     []store.HistoryPrune
	}{
		{
			name:     "no policies: every client alike",
			policies: func(*testing.T) map[string][]store.PolicyRecord { return nil },
			want:     []store.HistoryPrune{{Before: ago(def)}},
		},
		{
			name: "policies without the field: every client alike",
			policies: func(t *testing.T) map[string][]store.PolicyRecord {
				return map[string][]store.PolicyRecord{"acme": {policy(t, "", `{"observability":{"metrics_retention":"1h"}}`)}}
			},
			want: []store.HistoryPrune{{Before: ago(def)}},
		},
		{
			name: "a client's retention, a stack's own, a stack policy without it, a broken policy",
			policies: func(t *testing.T) map[string][]store.PolicyRecord {
				return map[string][]store.PolicyRecord{
					"acme": {
						policy(t, "", `{"observability":{"history_retention":"90d"}}`),
						policy(t, "shop", `{"observability":{"history_retention":"2h"}}`),
						policy(t, "blog", `{"observability":{"history_retention":"3h"}}`),
					},
					"initech": {
						policy(t, "", `{"observability":{"history_retention":"1d"}}`),
						policy(t, "web", `{"events":{"payload":"none"}}`),
					},
					"umbrella": {policy(t, "", `{broken`)},
				}
			},
			want: []store.HistoryPrune{
				{ClientID: "acme", StackID: "blog", Before: ago(3 * time.Hour)},
				{ClientID: "acme", StackID: "shop", Before: ago(2 * time.Hour)},
				{ClientID: "acme", Except: []string{"blog", "shop"}, Before: ago(90 * 24 * time.Hour)},
				// The stack's own policy is its effective one: def.
				{ClientID: "initech", StackID: "web", Before: ago(def)},
				{ClientID: "initech", Except: []string{"web"}, Before: ago(24 * time.Hour)},
				// umbrella's policy does not decode: its history is kept.
				{Before: ago(def), Except: []string{"acme", "initech", "umbrella"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := planHistoryPrunes(t.Context(), fakeHistoryReader{stacks: stacks, policies: tc.policies(t)}, now, def)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("a store error plans nothing", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		_, err := planHistoryPrunes(t.Context(), fakeHistoryReader{stacks: stacks, err: boom}, now, def)
		require.ErrorIs(t, err, boom)
	})
}
