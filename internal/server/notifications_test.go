package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestNotificationsSendTheChannelsOfHeldShards: the wiring of serve with a
// replica's shard leases (holds). This replica holds shard 0 and the shard
// of channel "ops": it commits the deliveries of both channels, sends
// ops's, and leaves audit's pending; once it gains audit's shard it sends
// that too, at its next poll.
func TestNotificationsSendTheChannelsOfHeldShards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ops, aud = "ops", "audit"
	require.NotEqual(t, notify.ChannelShard(ops), notify.ChannelShard(aud), "the test needs two shards")
	require.NotZero(t, notify.ChannelShard(aud), "and audit's must not be the feed's")

	var got [2]atomic.Int32
	receiver := func(i int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("webhook-signature") != "" {
				got[i].Add(1)
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	opsHook, audHook := receiver(0), receiver(1)
	cfg, err := config.Parse("notify.yaml", []byte(fmt.Sprintf(`apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: %s}
spec: {type: webhook, url: "%s/hook", secret: "${WHSEC}", severity_threshold: low}
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: %s}
spec: {type: webhook, url: "%s/hook", secret: "${WHSEC}", severity_threshold: low}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  notifications:
    channels: [{ref: %s}, {ref: %s}]
`, ops, opsHook.URL, aud, audHook.URL, ops, aud)), func(k string) (string, bool) {
		return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", k == "WHSEC"
	})
	require.NoError(t, err)

	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	var gained atomic.Bool
	holds := func(shard int) bool {
		return shard == 0 || shard == notify.ChannelShard(ops) || gained.Load() && shard == notify.ChannelShard(aud)
	}
	ns, err := newNotifications(prometheus.NewRegistry(), slog.New(slog.DiscardHandler), "https://blackwell.example", st, holds, nil)
	require.NoError(t, err)
	require.NoError(t, ns.Configure(ctx, cfg))
	require.NoError(t, ns.Start(ctx))
	t.Cleanup(func() { _ = ns.Stop(context.Background()) })

	changes, err := json.Marshal(map[string]any{"code": "webhook_broken", "component": "shopify.orders/create", "severity": "high"})
	require.NoError(t, err)
	require.NoError(t, st.AppendAudit(ctx, []store.AuditEntry{{Timestamp: time.Now(), Action: "drift_detected",
		ClientID: "acme", StackID: "shop", TriggeredBy: "reconciler:schedule", Success: true, ChangesMade: changes,
		ReconciliationID: "r1", DriftID: "d1"}}))
	ns.feed.Kick()
	pendingChannels := func() []string {
		items, err := st.PendingOutbox(ctx, store.OutboxQuery{Subscriber: notify.DefaultSubscriber, After: 0, Limit: 10})
		require.NoError(t, err)
		var out []string
		for _, it := range items {
			out = append(out, it.Channel)
		}
		return out
	}
	require.Eventually(t, func() bool { return got[0].Load() == 1 && len(pendingChannels()) == 1 },
		10*time.Second, 10*time.Millisecond, "ops sent")
	require.Equal(t, []string{aud}, pendingChannels(), "audit's delivery waits for its shard's holder")
	require.Zero(t, got[1].Load())

	gained.Store(true)
	require.Eventually(t, func() bool { return got[1].Load() == 1 && len(pendingChannels()) == 0 },
		10*time.Second, 10*time.Millisecond, "audit sent at the next poll")
	require.NoError(t, ns.Stop(ctx))
	require.Equal(t, int32(1), got[0].Load())
	require.Equal(t, int32(1), got[1].Load())
}
