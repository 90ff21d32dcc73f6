package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// lockedBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEventsFollow: --follow prints the last events, then each new one once
// as it arrives (also one whose timestamp is a little older than the
// newest), until interrupted.
func TestEventsFollow(t *testing.T) {
	t.Parallel()
	for _, asJSON := range []bool{false, true} {
		t.Run(map[bool]string{false: "table", true: "json"}[asJSON], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			srv := httptest.NewServer(api.New(api.Options{Store: st, BootstrapToken: bootstrapPrefix + "test"}))
			t.Cleanup(srv.Close)

			base := time.Now().UTC().Truncate(time.Second)
			ev := func(id, client string, ts time.Time) store.Event {
				return store.Event{EventID: id, ClientID: client, ProviderName: "shopify", EventType: "content.updated",
					ContentID: "gid://shopify/Product/" + id, Timestamp: ts}
			}
			_, err = st.InsertEvents(ctx, []store.Event{ev("old-1", "acme", base.Add(-time.Hour)), ev("old-2", "acme", base)})
			require.NoError(t, err)

			out, errOut := &lockedBuffer{}, &lockedBuffer{}
			args := []string{"--server", srv.URL, "--token", bootstrapPrefix + "test", "events", "--follow", "--interval", "20ms", "acme"}
			if asJSON {
				args = append(args, "-o", "json")
			}
			root := newRootCmd(strings.NewReader(""), out, errOut)
			root.SetArgs(args)
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- root.ExecuteContext(runCtx) }()
			t.Cleanup(cancel)

			waitFor := func(id string) {
				t.Helper()
				require.Eventually(t, func() bool { return strings.Contains(out.String(), id) }, 10*time.Second, 10*time.Millisecond,
					"%s not printed; out:\n%s\nerr:\n%s", id, out.String(), errOut.String())
			}
			waitFor("old-2")
			_, err = st.InsertEvents(ctx, []store.Event{ev("new-1", "acme", base.Add(time.Second)), ev("other", "globex", base.Add(time.Second))})
			require.NoError(t, err)
			waitFor("new-1")
			_, err = st.InsertEvents(ctx, []store.Event{ev("late", "acme", base.Add(-time.Minute)), ev("new-2", "acme", base.Add(2*time.Second))})
			require.NoError(t, err)
			waitFor("late")
			waitFor("new-2")
			cancel()
			require.NoError(t, <-done, "an interrupt ends --follow cleanly")

			text := out.String()
			for _, id := range []string{"old-1", "old-2", "new-1", "late", "new-2"} {
				require.Equal(t, 1, strings.Count(text, id+"\n")+strings.Count(text, `"`+id+`"`), "%s printed once:\n%s", id, text)
			}
			require.NotContains(t, text, "other", "the filter holds")
			require.Less(t, strings.Index(text, "old-1"), strings.Index(text, "old-2"), "the first page oldest first")
			require.Less(t, strings.Index(text, "old-2"), strings.Index(text, "new-1"))
			if asJSON {
				for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
					var e wireEvent
					require.NoError(t, json.Unmarshal([]byte(line), &e), line)
				}
			} else {
				require.True(t, strings.HasPrefix(text, "TIME "), text)
				require.Equal(t, 1, strings.Count(text, "TIME "), "one header")
			}
		})
	}
}

// TestEventsFollowLimitHoldsAtStart: --follow --limit 2 prints the two
// newest events at start, never the older ones the limit left out (a
// poll's overlap window holds them too), and then what arrives.
func TestEventsFollowLimitHoldsAtStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(api.New(api.Options{Store: st, BootstrapToken: bootstrapPrefix + "test"}))
	t.Cleanup(srv.Close)

	base := time.Now().UTC().Truncate(time.Second)
	ev := func(id string, ts time.Time) store.Event {
		return store.Event{EventID: id, ClientID: "acme", ProviderName: "shopify", EventType: "content.updated",
			ContentID: "gid://shopify/Product/" + id, Timestamp: ts}
	}
	var evs []store.Event
	for i := 1; i <= 4; i++ {
		evs = append(evs, ev(fmt.Sprintf("ev-%d", i), base.Add(time.Duration(i-4)*time.Minute)))
	}
	_, err = st.InsertEvents(ctx, evs)
	require.NoError(t, err)

	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	root := newRootCmd(strings.NewReader(""), out, errOut)
	root.SetArgs([]string{"--server", srv.URL, "--token", bootstrapPrefix + "test", "events", "--follow", "--limit", "2", "--interval", "20ms", "acme"})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(runCtx) }()
	t.Cleanup(cancel)

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "ev-4") }, 10*time.Second, 10*time.Millisecond)
	_, err = st.InsertEvents(ctx, []store.Event{ev("ev-new", base.Add(time.Second))})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "ev-new") }, 10*time.Second, 10*time.Millisecond,
		"out:\n%s\nerr:\n%s", out.String(), errOut.String())
	cancel()
	require.NoError(t, <-done)
	got := out.String()
	require.Contains(t, got, "ev-3")
	require.NotContains(t, got, "ev-1", "left out by --limit 2")
	require.NotContains(t, got, "ev-2", "left out by --limit 2")
}
