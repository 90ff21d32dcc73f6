package evaluator_test

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// BenchmarkEvaluateSteadyPass is the evaluator's cost on a pass of a
// healthy stack with every feed on and nothing to read anew (the domain
// cached, no new build, no refusal): what most passes cost.
func BenchmarkEvaluateSteadyPass(b *testing.B) {
	b.Run("feeds", func(b *testing.B) { benchSteadyPass(b, true) })
	b.Run("no-feeds", func(b *testing.B) { benchSteadyPass(b, false) })
}

func benchSteadyPass(b *testing.B, feeds bool) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "blackwell.db"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	rdap := sim.NewRDAP()
	srv := httptest.NewServer(rdap)
	b.Cleanup(srv.Close)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rdap.SetDomain("blackwell-shop.dev", t0, t0.Add(300*day))
	opts := evaluator.Options{Store: db}
	if feeds {
		opts.Domains, opts.Credentials = &evaluator.Domains{Base: srv.URL, Client: srv.Client()}, &evaluator.Credentials{}
		opts.Content = &evaluator.Content{Events: db}
	}
	ev := evaluator.New(opts)
	spec := config.StackSpec{
		ContentTypes: []string{"post", "product"},
		Providers: map[string]config.ProviderBinding{"cms": {Name: "sanity"}, "ecommerce": {Name: "shopify"},
			"ssg": {Name: "nextjs", Build: &config.Build{Driver: "hook"}}},
		Resources: map[string]config.Resource{"home": {Probe: config.ProbeHTTP, URL: "https://www.blackwell-shop.dev/"}},
	}
	lastBuild := t0.Add(-time.Hour)
	p := reconcile.PassObservation{ClientID: "acme", StackID: "web", At: t0, Spec: spec,
		Observed: drift.Observed{LastBuild: &lastBuild, ContentUpdated: map[string]time.Time{"post": lastBuild.Add(-time.Hour)},
			Providers: map[string]drift.ProviderObservation{"cms": {Reachability: drift.Reachable}, "ecommerce": {Reachability: drift.Reachable}}},
		Activity: []store.Activity{{EventType: "build.succeeded", Last: lastBuild}}}
	p.Policy.Content.MaxStaleness = config.Duration(2 * time.Hour)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.At = t0.Add(time.Duration(i) * time.Second)
		if _, err := ev.Evaluate(b.Context(), p); err != nil {
			b.Fatal(err)
		}
	}
}
