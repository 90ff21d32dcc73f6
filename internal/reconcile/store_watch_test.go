package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// pingStore is a store whose Ping fails while down is set, with n stacks.
type pingStore struct {
	store.Store
	down error
	n    int
}

func (s *pingStore) Ping(context.Context) error { return s.down }

func (s *pingStore) ListStates(_ context.Context, _, cursor string, limit int) ([]store.StateRecord, store.Page, error) {
	if s.down != nil {
		return nil, "", s.down
	}
	from := 0
	if cursor != "" {
		_, _ = fmt.Sscan(cursor, &from)
	}
	var out []store.StateRecord
	for i := from; i < s.n && len(out) < limit; i++ {
		out = append(out, store.StateRecord{ClientID: "acme", StackID: fmt.Sprint("s", i)})
	}
	next := ""
	if from+len(out) < s.n {
		next = fmt.Sprint(from + len(out))
	}
	return out, next, nil
}

// TestStoreWatch (moved from cmd/blackwell): the first failed ping marks the store down (logged once,
// gauge 0); the first good ping after marks it up and triggers every
// stack, across pages; /readyz's check answers the live ping.
func TestStoreWatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &pingStore{n: 2500}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	loop := &pauser{}
	w := NewStoreWatch(st, slog.New(slog.NewTextHandler(&logs, nil)), reg, loop)

	w.observe(ctx, st.Ping(ctx))
	require.Empty(t, loop.triggered, "nothing to resume while up")
	require.Equal(t, 1.0, testutil.ToFloat64(w.up))
	require.NoError(t, w.Ready(ctx))

	st.down = errors.New("connection refused")
	for range 3 {
		w.observe(ctx, st.Ping(ctx))
	}
	require.Equal(t, 0.0, testutil.ToFloat64(w.up))
	require.Equal(t, 1, strings.Count(logs.String(), "store unreachable"), "logged once per outage")
	require.ErrorContains(t, w.Ready(ctx), "store unreachable: connection refused")
	require.Empty(t, loop.triggered)
	require.True(t, loop.paused, "no pass starts while the store is down")

	st.down = nil
	w.observe(ctx, st.Ping(ctx))
	require.Equal(t, 1.0, testutil.ToFloat64(w.up))
	require.False(t, loop.paused, "passes resume")
	require.Len(t, loop.triggered, 2500, "every stack, every page")
	require.Equal(t, "acme/s2499", loop.triggered[2499])
	require.Contains(t, logs.String(), "store reachable again")
	require.Contains(t, logs.String(), "stacks_triggered=2500")

	w.observe(ctx, st.Ping(ctx))
	require.Len(t, loop.triggered, 2500, "loop.triggered once per recovery")
}

// pauser records Pause, Resume and the stacks triggered.
type pauser struct {
	paused    bool
	triggered []string
}

func (p *pauser) Pause()  { p.paused = true }
func (p *pauser) Resume() { p.paused = false }
func (p *pauser) Trigger(clientID, stackID, trigger string) {
	if trigger == TriggerStart {
		p.triggered = append(p.triggered, clientID+"/"+stackID)
	}
}
