package reconcile_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// fixture is a reconciler over a real SQLite store, with its collaborators.
type fixture struct {
	store  store.Store
	state  *state.Service
	loop   *reconcile.Reconciler
	reg    *prometheus.Registry
	clock  *testingclock.FakeClock
	passes chan store.ReconciliationResult
}

type fixtureOpts struct {
	prober  reconcile.Prober
	workers int
	wrap    func(store.Store) store.Store
	heal    reconcile.HealOptions
	commit  time.Duration // Options.CommitTimeout
	// providers observes provider bindings (nil: none).
	providers reconcile.ProviderObserver
	// forecasts makes Options.Forecasts over the fixture's store (nil:
	// none).
	forecasts func(store.Store) reconcile.ForecastHook
}

func setup(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var st store.Store = db
	if o.wrap != nil {
		st = o.wrap(st)
	}
	if o.prober == nil {
		o.prober = probe.New(probe.Options{})
	}
	f := &fixture{
		store:  st,
		reg:    prometheus.NewRegistry(),
		clock:  testingclock.NewFakeClock(time.Now()),
		passes: make(chan store.ReconciliationResult, 1000),
	}
	f.state = state.New(st, state.Options{Now: f.clock.Now, OnChange: func(c, s string) {
		if f.loop != nil {
			f.loop.Trigger(c, s, reconcile.TriggerConfig)
		}
	}})
	var hook reconcile.ForecastHook
	if o.forecasts != nil {
		hook = o.forecasts(st)
	}
	f.loop = reconcile.New(reconcile.Options{Forecasts: hook,
		Store: st, Policies: f.state, Prober: o.prober,
		Metrics: reconcile.NewMetrics(f.reg), Clock: f.clock, Workers: o.workers, Heal: o.heal,
		CommitTimeout: o.commit, Providers: o.providers,
		ReceiverPrefix: "http://blackwell.test/v1/webhooks",
		OnPass:         func(r store.ReconciliationResult) { f.passes <- r },
	})
	return f
}

// apply writes stacks and one client-wide policy per client.
func (f *fixture) apply(t *testing.T, pol config.PolicySpec, stacks ...config.Stack) {
	t.Helper()
	cfg := &config.Config{Stacks: stacks}
	seen := map[string]bool{}
	for _, s := range stacks {
		if !seen[s.Metadata.ClientID] {
			seen[s.Metadata.ClientID] = true
			cfg.Policies = append(cfg.Policies, config.Policy{APIVersion: config.APIVersion, Kind: config.KindReconciliationPolicy,
				Metadata: config.PolicyMeta{ClientID: s.Metadata.ClientID}, Spec: pol})
		}
	}
	_, err := f.state.Apply(context.Background(), cfg, "test")
	require.NoError(t, err)
}

func stack(client, id string, spec config.StackSpec) config.Stack {
	return config.Stack{APIVersion: config.APIVersion, Kind: config.KindStack,
		Metadata: config.StackMeta{ClientID: client, StackID: id, Environment: "prod"}, Spec: spec}
}

func siteSpec(url string) config.StackSpec {
	return config.StackSpec{Resources: map[string]config.Resource{
		"site": {Probe: config.ProbeHTTP, URL: url, ExpectStatus: 200, Timeout: config.Duration(2 * time.Second)},
	}}
}

func policy(observations int) config.PolicySpec {
	p := config.DefaultPolicy()
	p.Confirmation.Observations = observations
	p.Confirmation.GracePeriod = 0
	return p
}

// firstPass runs a stack's first pass, which confirms no drift (a new
// stack is reconciling, not drifting), so that the passes a test makes
// next are those of an established stack.
func (f *fixture) firstPass(t *testing.T, client, stackID string) {
	t.Helper()
	res := f.pass(t, client, stackID)
	require.Equal(t, store.ResultSuccess, res.Status)
	require.False(t, res.DriftDetected, "a stack's first pass confirms nothing")
}

func (f *fixture) pass(t *testing.T, client, stackID string) store.ReconciliationResult {
	t.Helper()
	res, _, err := f.loop.Reconcile(context.Background(), reconcile.Key(client, stackID), reconcile.TriggerManual)
	require.NoError(t, err)
	return res
}

func TestPassFindsConfirmsAndClearsResourceDrift(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{})
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	f.apply(t, policy(2), stack("acme", "web", siteSpec(site.URL())))
	ctx := context.Background()

	res := f.pass(t, "acme", "web")
	require.Equal(t, store.ResultSuccess, res.Status)
	require.False(t, res.DriftDetected)
	rec, err := f.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, store.StatusHealthy, rec.Status)
	require.Equal(t, rec.DesiredHash, rec.AppliedHash, "a matching stack records its desired state as applied")
	require.NotNil(t, rec.LastVerified)
	require.Equal(t, map[string]string{"acme/web": "healthy"}, stackStatuses(t, f.reg))

	require.NoError(t, site.SetMode(sim.ModeFailing))
	res = f.pass(t, "acme", "web")
	require.False(t, res.DriftDetected, "first observation is not yet confirmed")
	open, err := f.store.ListDrifts(ctx, store.DriftQuery{ClientID: "acme", StackID: "web"})
	require.NoError(t, err)
	require.Len(t, open, 1)
	require.False(t, open[0].Confirmed)
	require.Equal(t, []string{"desired_state_changed", "policy_changed"}, auditActions(t, f.store, "acme"),
		"the notification feed (the audit log) hears nothing of a drift not yet confirmed")

	res = f.pass(t, "acme", "web")
	require.True(t, res.DriftDetected)
	require.Equal(t, 1, res.DriftCount)
	rec, err = f.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, store.StatusDriftDetected, rec.Status)
	require.Len(t, rec.DriftDetails, 1)
	d := rec.DriftDetails[0]
	require.Equal(t, drift.ResourceUnhealthy, d.Code)
	require.Equal(t, drift.SeverityHigh, d.Severity)
	require.Equal(t, "site", d.Component)
	require.Equal(t, 1.0, testutil.ToFloat64(counter(t, f.reg, "blackwell_drift_detected_total", "resource_unhealthy")))
	require.Equal(t, map[string]string{"acme/web": "drift_detected"}, stackStatuses(t, f.reg), "one series per stack, of its status now")

	require.NoError(t, site.SetMode(sim.ModeHealthy))
	res = f.pass(t, "acme", "web")
	require.False(t, res.DriftDetected)
	require.Equal(t, map[string]string{"acme/web": "healthy"}, stackStatuses(t, f.reg))
	rec, err = f.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, store.StatusHealthy, rec.Status)
	require.Empty(t, rec.DriftDetails)
	require.Equal(t, []string{"desired_state_changed", "policy_changed", "drift_detected", "drift_resolved"}, auditActions(t, f.store, "acme"))
	audit, _, err := f.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme"})
	require.NoError(t, err)
	var detected struct{ Decision string }
	require.NoError(t, json.Unmarshal(audit[2].ChangesMade, &detected))
	require.Equal(t, "alert_only: auto_heal disabled", detected.Decision, "the policy's decision is recorded with the drift")
	require.Equal(t, d.ID, audit[2].DriftID)
	var resolved struct{ Code drift.Code }
	require.NoError(t, json.Unmarshal(audit[3].ChangesMade, &resolved))
	require.Equal(t, d.ID, audit[3].DriftID, "the notification feed hears of the resolution")
	require.Equal(t, drift.ResourceUnhealthy, resolved.Code)

	hist, _, err := f.store.ListReconciliations(ctx, "acme", "web", "", 10)
	require.NoError(t, err)
	require.Len(t, hist, 4)
}

// auditActions lists the actions of the client's audit entries, in order.
func auditActions(t *testing.T, st store.Store, clientID string) []string {
	t.Helper()
	audit, _, err := st.ListAudit(context.Background(), store.AuditQuery{ClientID: clientID})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	return actions
}

// counter finds one series of a counter vector by its code label.
func counter(t *testing.T, reg *prometheus.Registry, name, code string) prometheus.Collector {
	t.Helper()
	return &seriesCollector{reg: reg, name: name, code: code}
}

// seriesCollector sums the series of a metric whose "code" label matches.
type seriesCollector struct {
	reg        *prometheus.Registry
	name, code string
}

func (c *seriesCollector) Describe(chan<- *prometheus.Desc) {}
func (c *seriesCollector) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := c.reg.Gather()
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != c.name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == c.code {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(c.name, "", nil, nil), prometheus.CounterValue, sum)
}

// blockingProber holds every probe until released, counting passes.
type blockingProber struct {
	started chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func (b *blockingProber) ProbeAll(ctx context.Context, rs map[string]config.Resource) map[string]drift.ResourceObservation {
	b.calls.Add(1)
	b.started <- struct{}{}
	<-b.release
	out := map[string]drift.ResourceObservation{}
	for name := range rs {
		out[name] = drift.ResourceObservation{Status: drift.StatusHealthy}
	}
	return out
}

func TestTriggersDuringAPassCoalesceIntoOneMorePass(t *testing.T) {
	t.Parallel()
	bp := &blockingProber{started: make(chan struct{}, 10), release: make(chan struct{})}
	f := setup(t, fixtureOpts{prober: bp, workers: 4})
	f.apply(t, policy(1), stack("acme", "web", siteSpec("http://127.0.0.1:1/")))
	require.NoError(t, f.loop.Start(context.Background()))
	t.Cleanup(func() { f.loop.Stop(context.Background()) })

	<-bp.started // the start pass is running
	require.True(t, f.loop.InFlight("acme", "web"))
	require.Equal(t, 1.0, gauge(t, f.reg, "blackwell_active_reconciliations"))
	for range 100 {
		f.loop.Trigger("acme", "web", reconcile.TriggerEvent)
	}
	close(bp.release)
	first := <-f.passes
	require.Equal(t, reconcile.TriggerConfig, first.Trigger, "applied before Start: the config trigger is pending")
	second := <-f.passes
	require.Equal(t, reconcile.TriggerEvent, second.Trigger)
	require.Equal(t, int64(2), bp.calls.Load(), "100 triggers during a pass cost exactly one more pass")
	require.Equal(t, 0.0, gauge(t, f.reg, "blackwell_active_reconciliations"))
	select {
	case extra := <-f.passes:
		t.Fatalf("unexpected third pass: %+v", extra)
	default:
	}
}

func TestReconcileWaitAnswersWithTheNextPass(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{})
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeMissing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	pol := policy(1)
	f.apply(t, pol, stack("acme", "web", siteSpec(site.URL())))
	f.firstPass(t, "acme", "web")
	require.NoError(t, f.loop.Start(context.Background()))
	t.Cleanup(func() { f.loop.Stop(context.Background()) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := f.loop.ReconcileWait(ctx, "acme", "web", reconcile.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, "acme", res.ClientID)
	require.True(t, res.DriftDetected)
	rec, err := f.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, drift.ResourceMissing, rec.DriftDetails[0].Code)

	_, _, err = f.loop.Reconcile(ctx, reconcile.Key("acme", "nope"), reconcile.TriggerManual)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestScheduledPassFollowsPolicyInterval(t *testing.T) {
	t.Parallel()
	bp := &blockingProber{started: make(chan struct{}, 10), release: make(chan struct{})}
	close(bp.release)
	f := setup(t, fixtureOpts{prober: bp})
	pol := policy(1)
	pol.Schedule.Interval = config.Duration(time.Minute)
	f.apply(t, pol, stack("acme", "web", siteSpec("http://127.0.0.1:1/")))
	require.NoError(t, f.loop.Start(context.Background()))
	t.Cleanup(func() { f.loop.Stop(context.Background()) })
	require.Equal(t, reconcile.TriggerConfig, (<-f.passes).Trigger)

	// Before the jittered interval (±10%) nothing runs; after it, a pass.
	f.clock.Step(50 * time.Second)
	select {
	case r := <-f.passes:
		t.Fatalf("pass before the interval: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	f.clock.Step(20 * time.Second)
	select {
	case r := <-f.passes:
		require.Equal(t, reconcile.TriggerSchedule, r.Trigger)
	case <-time.After(5 * time.Second):
		t.Fatal("no scheduled pass after the interval")
	}
}

// flakyStore fails GetState while failing is set.
type flakyStore struct {
	store.Store
	failing atomic.Bool
	calls   atomic.Int64
}

func (s *flakyStore) LoadPass(ctx context.Context, c, k string, since time.Time) (store.PassInput, error) {
	s.calls.Add(1)
	if s.failing.Load() {
		return store.PassInput{}, context.DeadlineExceeded
	}
	return s.Store.LoadPass(ctx, c, k, since)
}

func TestFailedPassIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	var fs *flakyStore
	f := setup(t, fixtureOpts{wrap: func(s store.Store) store.Store { fs = &flakyStore{Store: s}; return fs }})
	f.apply(t, policy(1), stack("acme", "web", config.StackSpec{}))
	fs.failing.Store(true)
	// The only timer on the fake clock is the queue's heartbeat ticker
	// until the failed pass is requeued with its backoff.
	waiters := f.clock.Waiters()
	require.NoError(t, f.loop.Start(context.Background()))
	t.Cleanup(func() { f.loop.Stop(context.Background()) })

	poll.Until(t, 10*time.Second, "the first pass", func() bool { return fs.calls.Load() >= 1 })
	// The first retry waits the 1s base backoff on the (fake) clock: the
	// requeue sets a timer, and no retry runs while no clock moves.
	poll.Until(t, 10*time.Second, "the retry's timer", func() bool { return f.clock.Waiters() > waiters })
	require.Equal(t, int64(1), fs.calls.Load(), "no retry before the backoff")
	f.clock.Step(1100 * time.Millisecond)
	poll.Until(t, 10*time.Second, "the retry", func() bool { return fs.calls.Load() >= 2 })
	fs.failing.Store(false)
	f.clock.Step(2100 * time.Millisecond)
	r := <-f.passes
	require.Equal(t, store.ResultSuccess, r.Status)
}

func TestUndecodableDesiredStateIsRecordedAsError(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{})
	f.apply(t, policy(1), stack("acme", "web", config.StackSpec{}))
	ctx := context.Background()
	rec, err := f.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	rec.Desired = json.RawMessage(`{"resources": 42}`)
	_, err = f.store.UpdateState(ctx, rec)
	require.NoError(t, err)

	res, _, err := f.loop.Reconcile(ctx, reconcile.Key("acme", "web"), reconcile.TriggerManual)
	require.NoError(t, err, "a stalled pass is recorded, not retried hot")
	require.Equal(t, store.ResultFailed, res.Status)
	rec, err = f.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, store.StatusError, rec.Status)
	require.Contains(t, rec.LastError, "desired document does not decode")
}

func TestEventsRevealProviderChangeAndStaleContent(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{})
	spec := config.StackSpec{
		Providers: map[string]config.ProviderBinding{
			config.RoleCMS: {Name: "sanity"},
			config.RoleSSG: {Name: "hugo", Build: &config.Build{Driver: "command", Command: []string{"true"}}},
		},
		ContentTypes: []string{"post"},
	}
	pol := policy(1)
	pol.Content.MaxStaleness = config.Duration(time.Minute)
	f.apply(t, pol, stack("acme", "web", spec))
	ctx := context.Background()
	now := f.clock.Now()
	ev := func(id, provider, typ, ct string, at time.Time) store.Event {
		return store.Event{EventID: id, ClientID: "acme", StackID: "web", ProviderName: provider, EventType: typ,
			ContentType: ct, ContentID: id, Timestamp: at, Payload: json.RawMessage(`{}`), ReceivedAt: at,
			TTLTimestamp: at.Add(time.Hour).Unix()}
	}
	_, err := f.store.InsertEvents(ctx, []store.Event{
		ev("b1", "hugo", "build.succeeded", "", now.Add(-10*time.Minute)),
		ev("c1", "sanity", "content.updated", "post", now.Add(-5*time.Minute)),
		ev("x1", "contentful", "content.updated", "post", now.Add(-time.Minute)),
	})
	require.NoError(t, err)

	// The first pass finds the drift and confirms none of it; the next
	// one confirms it (provider_changed is an inference from events, so
	// critical or not it is confirmed like any drift).
	f.firstPass(t, "acme", "web")
	res := f.pass(t, "acme", "web")
	require.True(t, res.DriftDetected)
	rec, err := f.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	codes := map[drift.Code]drift.Drift{}
	for _, d := range rec.DriftDetails {
		codes[d.Code] = d
	}
	require.Contains(t, codes, drift.ProviderChanged)
	require.Equal(t, drift.SeverityCritical, codes[drift.ProviderChanged].Severity)
	require.Equal(t, "cms", codes[drift.ProviderChanged].Component)
	require.Contains(t, codes, drift.ContentStale)
	require.Equal(t, "post", codes[drift.ContentStale].Component)

	// Every event was seen by the pass, and the lag was measured.
	evs, _, err := f.store.ListEvents(ctx, store.EventQuery{ClientID: "acme"})
	require.NoError(t, err)
	for _, e := range evs {
		require.True(t, e.DriftChecked, e.EventID)
	}
	require.Equal(t, uint64(1), histogramCount(t, f.reg, "blackwell_event_processing_lag_seconds"))
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// stackStatuses reads blackwell_stack_status as client/stack -> status of
// the series whose value is 1, failing on any other value.
func stackStatuses(t *testing.T, reg *prometheus.Registry) map[string]string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]string{}
	for _, mf := range mfs {
		if mf.GetName() != "blackwell_stack_status" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			require.Equal(t, 1.0, m.GetGauge().GetValue(), l)
			key := l["client_id"] + "/" + l["stack_id"]
			require.NotContains(t, out, key, "two series of one stack")
			out[key] = l["status"]
		}
	}
	return out
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestPausedLoopRunsNoPassUntilResumed(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{})
	f.apply(t, policy(1), stack("acme", "web", siteSpec("http://127.0.0.1:1/")))
	f.loop.Pause()
	require.True(t, f.loop.Paused())
	require.NoError(t, f.loop.Start(context.Background()))
	t.Cleanup(func() { f.loop.Stop(context.Background()) })
	f.loop.Trigger("acme", "web", reconcile.TriggerManual)
	select {
	case res := <-f.passes:
		t.Fatalf("a pass ran while paused: %+v", res)
	case <-time.After(300 * time.Millisecond):
	}
	f.loop.Resume()
	select {
	case res := <-f.passes:
		require.Equal(t, "web", res.StackID)
	case <-time.After(10 * time.Second):
		t.Fatal("no pass after Resume")
	}
}

func TestStopEndsAPausedLoop(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{})
	require.NoError(t, f.loop.Start(context.Background()))
	f.loop.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, f.loop.Stop(ctx))
}

func TestContentChangedAfterTheBuildIsLookedAtWhenItTurnsStale(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t, fixtureOpts{})
	pol := policy(1)
	pol.Schedule.Interval = config.Duration(5 * time.Minute)
	pol.Content.MaxStaleness = config.Duration(time.Minute)
	f.apply(t, pol, stack("acme", "web", config.StackSpec{ContentTypes: []string{"post"},
		Providers: map[string]config.ProviderBinding{config.RoleCMS: {Name: "sanity"}}}))
	now := f.clock.Now()
	ev := func(id, typ, ct string, at time.Time) store.Event {
		return store.Event{EventID: id, ClientID: "acme", StackID: "web", ProviderName: "sanity", EventType: typ,
			ContentID: id, ContentType: ct, Timestamp: at, Payload: json.RawMessage(`{}`), ReceivedAt: at, TTLTimestamp: at.Add(time.Hour).Unix()}
	}
	_, err := f.store.InsertEvents(ctx, []store.Event{
		ev("b1", "build.succeeded", "", now.Add(-10*time.Minute)),
		ev("c1", "content.updated", "post", now.Add(-20*time.Second)),
	})
	require.NoError(t, err)
	_, next, err := f.loop.Reconcile(ctx, reconcile.Key("acme", "web"), reconcile.TriggerManual)
	require.NoError(t, err)
	require.InDelta(t, (40 * time.Second).Seconds(), next.Seconds(), 1, "the next pass when the post turns stale, not in 5m")
}

// hangingCommit is a store whose CommitPass answers only when its context
// ends, like a database that stopped answering.
type hangingCommit struct{ store.Store }

func (h hangingCommit) CommitPass(ctx context.Context, _ store.Pass) (store.StateRecord, error) {
	<-ctx.Done()
	return store.StateRecord{}, ctx.Err()
}

// A commit that does not answer ends at its own deadline; the worker is
// free again and the pass reports the failed commit.
func TestPassCommitHasItsOwnDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{commit: 50 * time.Millisecond,
		wrap: func(st store.Store) store.Store { return hangingCommit{st} }})
	f.apply(t, policy(1), stack("acme", "web", config.StackSpec{}))

	done := make(chan error, 1)
	go func() {
		_, _, err := f.loop.Reconcile(context.Background(), reconcile.Key("acme", "web"), reconcile.TriggerManual)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("the pass's commit hangs with the store")
	}
}
