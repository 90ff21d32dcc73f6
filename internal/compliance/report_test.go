package compliance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	end := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	segs := []store.ComplianceSegment{
		{ClientID: "a", StackID: "s", Rule: "r", Mode: "audit", Status: "compliant", StartedAt: t0.Add(-time.Hour), EndedAt: end(30 * time.Minute)},
		{ClientID: "a", StackID: "s", Rule: "r", Mode: "audit", Status: "noncompliant", StartedAt: t0.Add(30 * time.Minute), EndedAt: end(time.Hour)},
		{ClientID: "a", StackID: "s", Rule: "r", Mode: "audit", Status: "unknown", StartedAt: t0.Add(time.Hour)},
		{ClientID: "a", StackID: "t", Rule: "r", Mode: "audit", Status: "excepted", StartedAt: t0},
	}
	rep := Summarize(segs, t0, t0.Add(2*time.Hour))
	require.Equal(t, Seconds{Compliant: 1800, Noncompliant: 1800, Unknown: 3600, Excepted: 7200, Evaluated: 3600}, rep.Seconds,
		"time before the period is cut off; unknown and excepted count apart")
	require.InDelta(t, 0.5, *rep.Score, 1e-9)
	require.Len(t, rep.Items, 2)
	require.Equal(t, "unknown", rep.Items[0].Status)
	require.True(t, rep.Items[0].Current)
	require.Nil(t, rep.Items[1].Score, "nothing evaluated: no score, not 100 %")

	org := &config.OrganizationSpec{Exceptions: []config.RuleException{{Rule: "r", ClientID: "a", StackID: "t", Expires: "2026-12-01T01:00:00Z"}}}
	rep.ExpireExceptions(org, t0.Add(30*time.Minute))
	require.Equal(t, "excepted", rep.Items[1].Status)
	rep.ExpireExceptions(org, t0.Add(time.Hour))
	require.Equal(t, "noncompliant", rep.Items[1].Status, "expired: reported as failing before the next pass records it")

	pr := ToPolicyReport(rep, "agency", "a", t0)
	require.Equal(t, PolicyReportSummary{Fail: 1, Error: 1}, pr.Summary)
}
