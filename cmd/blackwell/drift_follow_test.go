package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestDriftFollow: --follow prints the client's drift events as they are
// published, filtered by client, kind and severity; when the server drops
// the stream it reconnects and prints what it missed, each event once; an
// interrupt ends it cleanly.
func TestDriftFollow(t *testing.T) {
	t.Parallel()
	for _, asJSON := range []bool{false, true} {
		t.Run(map[bool]string{false: "table", true: "json"}[asJSON], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			events, err := bus.New(bus.Options{})
			require.NoError(t, err)
			srv := httptest.NewServer(api.New(api.Options{Store: st, Events: events, BootstrapToken: bootstrapPrefix + "test"}))
			t.Cleanup(srv.Close)
			t.Cleanup(events.Close)

			publish := func(client, driftID string, sev drift.Severity, k bus.Kind) {
				events.Publish(ctx, bus.NewDriftEvent(k, bus.DriftEvent{ClientID: client, StackID: "shop", DriftID: driftID,
					Code: drift.WebhookBroken, DriftType: drift.TypeIntegration, Component: "shopify.orders/create",
					Severity: sev, Expected: "present", Observed: "missing", Timestamp: time.Now()}))
			}
			out, errOut := &lockedBuffer{}, &lockedBuffer{}
			args := []string{"--server", srv.URL, "--token", bootstrapPrefix + "test", "drift", "acme", "--follow", "--severity", "medium", "--reconnect-interval", "20ms"}
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
				require.Eventually(t, func() bool { return strings.Contains(out.String(), id) }, 10*time.Second, 5*time.Millisecond,
					"%s not printed; out:\n%s\nerr:\n%s", id, out.String(), errOut.String())
			}
			subscribed := func(n int) {
				t.Helper()
				require.Eventually(t, func() bool { return events.Subscribers() == n }, 10*time.Second, time.Millisecond)
			}

			subscribed(1)
			publish("acme", "d-low", drift.SeverityLow, bus.KindDriftDetected)      // below --severity
			publish("globex", "d-other", drift.SeverityHigh, bus.KindDriftDetected) // another client
			events.Publish(ctx, bus.Event{Kind: bus.KindReconciliation, ClientID: "acme", Severity: drift.SeverityHigh})
			publish("acme", "d-one", drift.SeverityHigh, bus.KindDriftDetected)
			waitFor("d-one")

			// The server drops the stream; events published meanwhile are
			// replayed after the reconnection.
			srv.CloseClientConnections()
			publish("acme", "d-two", drift.SeverityCritical, bus.KindDriftDetected)
			waitFor("d-two")
			subscribed(1)
			publish("acme", "d-one", drift.SeverityHigh, bus.KindDriftResolved)
			require.Eventually(t, func() bool { return strings.Count(out.String(), "d-one") == 2 }, 10*time.Second, 5*time.Millisecond)
			require.Contains(t, errOut.String(), "reconnected")

			cancel()
			require.NoError(t, <-done, "an interrupt ends --follow cleanly")
			text := out.String()
			require.NotContains(t, text, "d-low")
			require.NotContains(t, text, "d-other")
			require.Equal(t, 1, strings.Count(text, "d-two"), "the replayed event is printed once:\n%s", text)
			lines := strings.Split(strings.TrimSpace(text), "\n")
			if asJSON {
				require.Len(t, lines, 3, text)
				var kinds []string
				for _, line := range lines {
					var e wireStreamEvent
					require.NoError(t, json.Unmarshal([]byte(line), &e), line)
					kinds = append(kinds, e.Kind)
				}
				require.Equal(t, []string{"drift.detected", "drift.detected", "drift.resolved"}, kinds)
			} else {
				require.Len(t, lines, 4, text)
				require.True(t, strings.HasPrefix(lines[0], "TIME "), text)
				require.Contains(t, lines[1], "detected")
				require.Contains(t, lines[1], "webhook_broken")
				require.Contains(t, lines[1], "missing")
				require.Contains(t, lines[3], "resolved")
			}
		})
	}
}

func TestDriftFollowRefusesABadSeverity(t *testing.T) {
	t.Parallel()
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	root := newRootCmd(strings.NewReader(""), out, errOut)
	root.SetArgs([]string{"--server", "http://127.0.0.1:1", "drift", "acme", "--follow", "--severity", "urgent"})
	require.Error(t, root.ExecuteContext(context.Background()))
	root = newRootCmd(strings.NewReader(""), out, errOut)
	root.SetArgs([]string{"--server", "http://127.0.0.1:1", "drift", "acme", "--severity", "high"})
	require.ErrorContains(t, root.ExecuteContext(context.Background()), "--follow")
}
