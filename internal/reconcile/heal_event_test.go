package reconcile_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/reconcile"
)

func TestAutoHealEventOnTheBus(t *testing.T) {
	t.Parallel()
	detail, err := json.Marshal(drift.Drift{ID: "d1", ClientID: "acme", StackID: "shop", Severity: drift.SeverityHigh})
	require.NoError(t, err)
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	for _, tc := range []struct {
		status string
		done   *time.Time
		kind   bus.Kind
		ts     time.Time
	}{
		{"started", nil, bus.KindHealStarted, start},
		{"success", &end, bus.KindHealSucceeded, end},
		{"failed", &end, bus.KindHealFailed, end},
	} {
		e := reconcile.AutoHealEvent{EventID: "h1", ReconciliationID: "r1", ClientID: "acme", StackID: "shop",
			DriftDetail: detail, HealAction: "rebuild", Status: tc.status, StartedAt: start, CompletedAt: tc.done, HealID: "h1", Attempt: 2}.Event()
		require.Equal(t, tc.kind, e.Kind, tc.status)
		require.Equal(t, "acme", e.ClientID)
		require.Equal(t, "shop", e.StackID)
		require.Equal(t, drift.SeverityHigh, e.Severity)
		require.Equal(t, tc.ts, e.Timestamp)
		var data map[string]any
		require.NoError(t, json.Unmarshal(e.Data, &data))
		require.Equal(t, "h1", data["heal_id"], "the payload is the AutoHealEvent as the loop made it")
		require.Equal(t, tc.status, data["status"])
		require.Contains(t, data, "drift_detail")
	}
}
