package timeline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/compliance"
	"github.com/blackwellio/blackwell/internal/compliance/timeline"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestRecorder: each pass's statuses are recorded as the timeline, a
// pass that changes nothing writes nothing, and a change opens a segment.
func TestRecorder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	org := &config.OrganizationSpec{Rules: []config.ComplianceRule{
		{Name: "up", Mode: config.RuleAudit, Expression: "observed.status == 'healthy'"},
		{Name: "tls", Mode: config.RuleAudit, Expression: "stack.resources.exists(r, stack.resources[r].probe == 'tls')"},
	}}
	e, err := compliance.Compile(org, func(string) config.Place { return config.Place{} })
	require.NoError(t, err)
	rec := timeline.NewRecorder(db, func(context.Context) (*compliance.Engine, error) { return e, nil }, nil)

	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	pass := func(at time.Time, open ...drift.Drift) {
		rec.AfterPass(ctx, reconcile.PassObservation{ClientID: "acme", StackID: "web", Environment: "prod", At: at,
			Spec:     config.StackSpec{Resources: map[string]config.Resource{"site": {Probe: "http"}}},
			Observed: drift.Observed{DesiredHash: "h1"}, Open: open, Policy: config.DefaultPolicy()})
	}
	pass(t0)
	pass(t0.Add(time.Minute))
	pass(t0.Add(2*time.Minute), drift.Drift{Code: drift.WebhookBroken})
	segs, _, err := db.ListCompliance(ctx, store.ComplianceQuery{ClientID: "acme"})
	require.NoError(t, err)
	type seg struct {
		rule, status string
		start        time.Time
		open         bool
	}
	var got []seg
	for _, s := range segs {
		got = append(got, seg{s.Rule, s.Status, s.StartedAt, s.EndedAt == nil})
	}
	require.Equal(t, []seg{
		{"up", "compliant", t0, false},
		{"tls", "noncompliant", t0, true},
		{"up", "noncompliant", t0.Add(2 * time.Minute), true},
	}, got)
}

// retainingStore keeps every write as given, and a copy of its results.
type retainingStore struct {
	store.ComplianceStore
	writes [][]store.ComplianceResult
	copies [][]store.ComplianceResult
}

func (s *retainingStore) RecordCompliance(_ context.Context, w store.ComplianceWrite) (int, error) {
	s.writes = append(s.writes, w.Results)
	s.copies = append(s.copies, append([]store.ComplianceResult(nil), w.Results...))
	return len(w.Results), nil
}

// TestRecorderHandsOverItsWrites: the recorder reuses its own buffers
// from pass to pass, never a write's results it handed to the store.
func TestRecorderHandsOverItsWrites(t *testing.T) {
	t.Parallel()
	org := &config.OrganizationSpec{Rules: []config.ComplianceRule{
		{Name: "up", Mode: config.RuleAudit, Expression: "observed.status == 'healthy'", Message: "down"},
		{Name: "tls", Mode: config.RuleAudit, Expression: "stack.resources.exists(r, stack.resources[r].probe == 'tls')"},
	}}
	e, err := compliance.Compile(org, func(string) config.Place { return config.Place{} })
	require.NoError(t, err)
	st := &retainingStore{}
	rec := timeline.NewRecorder(st, func(context.Context) (*compliance.Engine, error) { return e, nil }, nil)
	t0 := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	for i := range 40 {
		var open []drift.Drift
		probe := "http"
		if i%2 == 1 {
			open, probe = []drift.Drift{{Code: drift.WebhookBroken}}, "tls"
		}
		rec.AfterPass(context.Background(), reconcile.PassObservation{ClientID: "acme", StackID: []string{"web", "api"}[i%4/2], Environment: "prod",
			At: t0.Add(time.Duration(i) * time.Minute), Open: open, Policy: config.DefaultPolicy(),
			Spec:     config.StackSpec{Resources: map[string]config.Resource{"site": {Probe: probe}}},
			Observed: drift.Observed{DesiredHash: "h" + probe}})
	}
	require.Len(t, st.writes, 40, "every pass changed a status")
	require.Equal(t, st.copies, st.writes)
}

// TestRecorderWritesWhatChanged: more stacks of distinct statuses than
// the recorder interns signatures of; each is written on its first pass
// and when its statuses change, never when they do not.
func TestRecorderWritesWhatChanged(t *testing.T) {
	t.Parallel()
	const bits, stacks = 11, 1100
	var rules []config.ComplianceRule
	for k := range bits {
		rules = append(rules, config.ComplianceRule{Name: fmt.Sprint("r", k), Mode: config.RuleAudit,
			Expression: fmt.Sprintf("observed.resources['r%d'] == 'healthy'", k)})
	}
	e, err := compliance.Compile(&config.OrganizationSpec{Rules: rules}, func(string) config.Place { return config.Place{} })
	require.NoError(t, err)
	st := &countingStore{}
	rec := timeline.NewRecorder(st, func(context.Context) (*compliance.Engine, error) { return e, nil }, nil)
	pass := func(flip int) {
		for i := range stacks {
			res := map[string]drift.ResourceObservation{}
			for k := range bits {
				status := drift.StatusHealthy
				if (i^flip)>>k&1 == 1 {
					status = drift.StatusUnhealthy
				}
				res[fmt.Sprint("r", k)] = drift.ResourceObservation{Status: status}
			}
			rec.AfterPass(context.Background(), reconcile.PassObservation{ClientID: "acme", StackID: fmt.Sprint("s", i), Environment: "prod",
				Policy: config.DefaultPolicy(), Observed: drift.Observed{DesiredHash: "h", Resources: res}})
		}
	}
	pass(0)
	require.Equal(t, stacks, st.writes)
	pass(0)
	require.Equal(t, stacks, st.writes, "nothing changed")
	pass(1)
	require.Equal(t, 2*stacks, st.writes, "every stack's r0 flipped")
	pass(1)
	require.Equal(t, 2*stacks, st.writes, "nothing changed")
}
