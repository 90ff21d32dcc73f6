package evaluator_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// leading is a LeadingSource a test sets.
type leading struct {
	lead *forecast.Leading
	err  error
}

func (l *leading) Leading(context.Context, string, string, string, config.StackSpec) (*forecast.Leading, error) {
	return l.lead, l.err
}

// TestAnUnreadableLeadingEnvironmentKeepsItsForecasts: a pass that cannot
// read the leading environment judges nothing about it: the open
// environment forecast stays; once read again without the drift, it
// clears.
func TestAnUnreadableLeadingEnvironmentKeepsItsForecasts(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	src := &leading{}
	ev := evaluator.New(evaluator.Options{Store: st, Leading: src})
	at := time.Now().UTC()
	d := drift.Drift{ID: "d1", Code: drift.WebhookBroken, Component: "orders", Confirmed: true, FirstSeen: at.Add(-time.Hour)}
	src.lead = &forecast.Leading{StackID: "web-staging", Environment: "staging", Spec: spec(), Drifts: []drift.Drift{d}}
	evaluate := func() forecast.Tracked {
		p := reconcile.PassObservation{ClientID: "acme", StackID: "web", Environment: "prod", ReconciliationID: "r", Trigger: "schedule",
			At: at, Spec: spec()}
		p.Forecasts, _, err = st.ListForecasts(t.Context(), store.ForecastQuery{ClientID: "acme", StackID: "web"})
		require.NoError(t, err)
		tr, err := ev.Evaluate(t.Context(), p)
		require.NoError(t, err)
		return tr
	}
	require.Len(t, evaluate().Raised, 1)
	src.lead, src.err = nil, errors.New("store unreachable")
	tr := evaluate()
	require.Len(t, tr.Kept, 1, "not judged")
	require.Empty(t, tr.Cleared)
	src.lead, src.err = &forecast.Leading{StackID: "web-staging", Environment: "staging"}, nil
	require.Len(t, evaluate().Cleared, 1)
}
