package promote_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

const simReceivers = "http://blackwell.test/v1/webhooks"

// TestEscapedDriftOnTheSim is TestEscapedDriftMeasures with the drift
// read from the providers: staging and prod each have a Contentful space
// (internal/sim) with the stack's subscription, the reconciler passes
// both every 5 minutes of a fake clock (staging first) with the forecast
// evaluator and the environments wired as serve wires them, and the
// scripted changes are made on the fakes' webhooks: another topic
// (integration_mismatch) or the webhook deleted (webhook_broken), in
// staging first and in prod a lag later. Auto-heal is off: the change
// stays until the test restores it.
//
//	go test ./internal/promote -run TestEscapedDriftOnTheSim -count=1 -v
func TestEscapedDriftOnTheSim(t *testing.T) {
	t.Parallel()
	const interval = 5 * time.Minute
	ctx := context.Background()
	clock := testingclock.NewFakeClock(time.Now().UTC().Truncate(time.Hour))
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	envs := []string{"staging", "prod"}
	cms := map[string]*sim.Contentful{}
	hooks := map[string]sim.ContentfulWebhook{}
	var stacks []config.Stack
	for _, env := range envs {
		c, err := sim.NewContentful(sim.ContentfulOptions{SpaceID: "space-" + env, Token: "cf-token", SecondLimit: 1000})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		cms[env] = c
		stack := "shop-" + env
		h := sim.ContentfulWebhook{Name: "blackwell " + stack, URL: simReceivers + "/contentful/acme/" + stack,
			Topics: []string{"Entry.publish"}, Active: true}
		h.ID = c.AddWebhook(h)
		hooks[env] = h
		stacks = append(stacks, config.Stack{APIVersion: config.APIVersion, Kind: config.KindStack,
			Metadata: config.StackMeta{ClientID: "acme", StackID: stack, Environment: env},
			Spec: config.StackSpec{
				Overrides: []string{"providers.cms.settings.api_base", "providers.cms.settings.space_id"},
				Providers: map[string]config.ProviderBinding{config.RoleCMS: {Name: "contentful",
					Settings:    map[string]string{"api_base": c.URL(), "space_id": c.SpaceID()},
					Credentials: map[string]config.Secret{"token": config.NewSecret("${CF_TOKEN}")}}},
				Integrations: map[string]config.Integration{"cms-entries": {Provider: config.RoleCMS, Topics: []string{"Entry.publish"}}},
			}})
	}
	svc := state.New(db, state.Options{Now: clock.Now})
	_, err = svc.Apply(ctx, &config.Config{Stacks: stacks}, "test")
	require.NoError(t, err)

	reg := provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{"contentful": contentful.New(contentful.Options{API: provider.APIClientOptions{Timeout: 5 * time.Second,
			// The fake clock's: a listing is shared for 2s of it, not of
			// the real one. The CMA's 7 requests/s would make the test a
			// minute long; the fakes allow 1,000.
			Now: clock.Now, RateLimit: rate.Limit(1000), Burst: 1000}})},
		Getenv: func(k string) (string, bool) {
			if k == "CF_TOKEN" {
				return "cf-token", true
			}
			return "", false
		},
	})
	apps := &promote.Environments{Store: db, Now: clock.Now}
	loop := reconcile.New(reconcile.Options{Store: db, Policies: svc, Prober: probe.New(probe.Options{}), Providers: reg, Clock: clock,
		ReceiverPrefix: simReceivers, Environments: apps,
		Forecasts: evaluator.New(evaluator.Options{Store: db, Leading: &promote.LeadingDrifts{Envs: apps, Store: db, Now: clock.Now}})})

	// round passes staging then prod; it says whether prod has an
	// environment_drift forecast of key open (other indicators, such as
	// flapping, are not counted) and whether prod's pass saw the drift.
	round := func(key forecast.Key) (forecastOpen, showing bool) {
		clock.Step(interval)
		for _, env := range envs {
			res, _, err := loop.Reconcile(ctx, reconcile.Key("acme", "shop-"+env), reconcile.TriggerSchedule)
			require.NoError(t, err)
			require.NotEqual(t, store.ResultFailed, res.Status, "%v", res.Errors)
		}
		fs, _, err := db.ListForecasts(ctx, store.ForecastQuery{ClientID: "acme", StackID: "shop-prod"})
		require.NoError(t, err)
		for _, f := range fs {
			forecastOpen = forecastOpen || (f.Key() == key && f.Evidence.Indicator == forecast.IndicatorEnvironment)
		}
		ds, err := db.ListDrifts(ctx, store.DriftQuery{ClientID: "acme", StackID: "shop-prod"})
		require.NoError(t, err)
		for _, d := range ds {
			showing = showing || (d.Code == key.Code && d.Component == key.Component)
		}
		return forecastOpen, showing
	}
	// The baseline: both healthy, nothing forecast.
	for range 2 {
		round(forecast.Key{})
	}
	for _, env := range envs {
		rec, err := db.GetState(ctx, "acme", "shop-"+env)
		require.NoError(t, err)
		require.Equal(t, store.StatusHealthy, rec.Status, "%s: %v", env, rec.DriftDetails)
	}

	type change struct {
		code drift.Code
		lag  time.Duration
	}
	var changes []change
	for _, code := range []drift.Code{drift.IntegrationMismatch, drift.WebhookBroken} {
		for _, lag := range []time.Duration{time.Minute, 4 * time.Minute, 7 * time.Minute, 12 * time.Minute, time.Hour} {
			changes = append(changes, change{code, lag})
		}
	}
	// breakIn makes the change on env's fake; restore undoes it.
	breakIn := func(env string, code drift.Code) {
		h := hooks[env]
		if code == drift.WebhookBroken {
			require.True(t, cms[env].DeleteWebhook(h.ID))
			return
		}
		require.True(t, cms[env].SetWebhookTopics(h.ID, "Entry.publish", "Entry.unpublish"))
	}
	restore := func(env string, code drift.Code) {
		h := hooks[env]
		if code == drift.WebhookBroken {
			if !slices.ContainsFunc(cms[env].Webhooks(), func(w sim.ContentfulWebhook) bool { return w.URL == h.URL }) {
				h.ID = cms[env].AddWebhook(h)
				hooks[env] = h
			}
			return
		}
		require.True(t, cms[env].SetWebhookTopics(h.ID, "Entry.publish"))
	}

	start := time.Now()
	shown, caught := 0, 0
	var escaped []string
	var leads []time.Duration
	for i, c := range changes {
		key := forecast.Key{Code: c.code, Component: "cms-entries"}
		// The change lands between passes, at a different phase each time.
		stagingAt := clock.Now().Add(time.Duration(i%5)*time.Minute + 30*time.Second)
		prodAt := stagingAt.Add(c.lag)
		var stagingDone, prodDone bool
		var onset, raisedAt time.Time
		wasOpen := false
		for onset.IsZero() {
			next := clock.Now().Add(interval)
			if !stagingDone && !next.Before(stagingAt) {
				breakIn("staging", c.code)
				stagingDone = true
			}
			if !prodDone && !next.Before(prodAt) {
				breakIn("prod", c.code)
				prodDone = true
			}
			open, showing := round(key)
			if showing {
				onset = clock.Now()
				shown++
				if wasOpen {
					caught++
					leads = append(leads, onset.Sub(raisedAt))
				} else {
					escaped = append(escaped, fmt.Sprintf("%s lag %s", c.code, c.lag))
				}
			}
			if open && !wasOpen {
				raisedAt = clock.Now()
			}
			wasOpen = open
			require.Less(t, clock.Now().Sub(prodAt), time.Hour, "prod shows %s", c.code)
		}
		if c.lag > 2*interval {
			require.NotContains(t, escaped, fmt.Sprintf("%s lag %s", c.code, c.lag), "the forecast catches it")
		}
		for _, env := range envs {
			restore(env, c.code)
		}
		// Clean passes until neither stack shows drift nor prod a
		// forecast (staging's drifts are read again after 30s).
		for range 4 {
			open, showing := round(key)
			ds, err := db.ListDrifts(ctx, store.DriftQuery{ClientID: "acme", StackID: "shop-staging"})
			require.NoError(t, err)
			if !open && !showing && len(ds) == 0 {
				break
			}
		}
		// A day apart: no change is judged flapping on the last one.
		clock.Step(25 * time.Hour)
		open, showing := round(key)
		require.False(t, open || showing, "nothing drifting nor forecast between changes")
	}
	elapsed := time.Since(start)
	require.Positive(t, caught, "the forecast catches changes")
	for _, e := range escaped {
		t.Logf("escaped: %s", e)
	}
	slices.Sort(leads)
	t.Logf("MEASURE sim changes=%d reached_prod_after_staging=%d caught=%d escaped=%d (%.0f%%) lead_min=%s lead_median=%s interval=%s elapsed=%s",
		len(changes), shown, caught, len(escaped), 100*float64(len(escaped))/float64(shown), leads[0], leads[len(leads)/2],
		interval, elapsed.Round(time.Millisecond))
}
