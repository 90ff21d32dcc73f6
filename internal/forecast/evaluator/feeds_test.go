package evaluator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// countingStore counts the event reads of the content feed.
type countingStore struct {
	*sqlite.Store
	lists atomic.Int64
}

func (c *countingStore) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, store.Page, error) {
	c.lists.Add(1)
	return c.Store.ListEvents(ctx, q)
}

type feedBundle struct {
	ev   *evaluator.Evaluator
	st   *countingStore
	rdap *sim.RDAP
}

func setupFeeds(t *testing.T) feedBundle {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	st := &countingStore{Store: db}
	rdap := sim.NewRDAP()
	srv := httptest.NewServer(rdap)
	t.Cleanup(srv.Close)
	n := 0
	ev := evaluator.New(evaluator.Options{
		Store:       st,
		Domains:     &evaluator.Domains{Base: srv.URL, Client: srv.Client(), TTL: 6 * time.Hour},
		Credentials: &evaluator.Credentials{},
		Content:     &evaluator.Content{Events: st},
		// No waiting gates: these tests feed the indicators (the gates are
		// tested in internal/forecast).
		Params: forecast.Params{DomainHorizon: 2 * day, BuildFailStreak: 3, ContentWaitShare: -1, DNSWaitShare: -1},
		NewID:  func() string { n++; return fmt.Sprintf("fc-%d", n) },
	})
	return feedBundle{ev: ev, st: st, rdap: rdap}
}

// evaluate runs the evaluator on p with the stack's open forecasts and
// returns the forecasts open after it.
func (b feedBundle) evaluate(t *testing.T, p reconcile.PassObservation) []forecast.Forecast {
	t.Helper()
	open, _, err := b.st.ListForecasts(t.Context(), store.ForecastQuery{ClientID: p.ClientID, StackID: p.StackID})
	require.NoError(t, err)
	p.Forecasts = open
	_, err = b.ev.Evaluate(t.Context(), p)
	require.NoError(t, err)
	open, _, err = b.st.ListForecasts(t.Context(), store.ForecastQuery{ClientID: p.ClientID, StackID: p.StackID})
	require.NoError(t, err)
	return open
}

func feedPass(at time.Time, spec config.StackSpec) reconcile.PassObservation {
	return reconcile.PassObservation{ClientID: "acme", StackID: "web", ReconciliationID: "recon-" + at.Format("0102150405"),
		Trigger: "schedule", At: at, Spec: spec}
}

func indicators(fs []forecast.Forecast) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		out[f.Key().String()] = f.Evidence.Indicator
	}
	return out
}

// The domain of a resource is read from the registry (the sim's RDAP),
// once per TTL: its expiry raises resource_missing, a renewal seen after
// the cache expired clears it. Reserved names are never asked.
func TestFeedDomainExpiry(t *testing.T) {
	t.Parallel()
	b := setupFeeds(t)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	b.rdap.SetDomain("blackwell-shop.dev", t0.Add(-300*day), t0.Add(30*time.Hour))
	spec := config.StackSpec{Resources: map[string]config.Resource{
		"home":  {Probe: config.ProbeHTTP, URL: "https://www.blackwell-shop.dev/"},
		"cert":  {Probe: config.ProbeTLS, Address: "blackwell-shop.dev:443"},
		"local": {Probe: config.ProbeHTTP, URL: "http://127.0.0.1:8080/"},
		"demo":  {Probe: config.ProbeDNS, Name: "site.example.com"},
	}}
	open := b.evaluate(t, feedPass(t0, spec))
	require.Equal(t, map[string]string{"resource_missing/home": forecast.IndicatorDomain, "resource_missing/cert": forecast.IndicatorDomain},
		indicators(open))
	require.Equal(t, t0.Add(30*time.Hour), open[0].ETA)
	require.EqualValues(t, 1, b.rdap.Requests(), "one lookup per domain, none of a reserved name or an address")

	// Renewed: within the cache's TTL the forecast stays, unread.
	b.rdap.SetDomain("blackwell-shop.dev", t0.Add(-300*day), t0.Add(400*day))
	require.Len(t, b.evaluate(t, feedPass(t0.Add(time.Hour), spec)), 2)
	require.EqualValues(t, 1, b.rdap.Requests())
	// After it, read again: cleared.
	require.Empty(t, b.evaluate(t, feedPass(t0.Add(7*time.Hour), spec)))
	require.EqualValues(t, 2, b.rdap.Requests())
}

// Each pass's provider answers (401 or not) are kept per role: a share of
// refused answers rising over hours raises provider_unauthorized, answers
// accepted again for hours clear it.
func TestFeedUnauthorizedShare(t *testing.T) {
	t.Parallel()
	b := setupFeeds(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	spec := config.StackSpec{Providers: map[string]config.ProviderBinding{"cms": {Name: "sanity"}}}
	pass := func(i int, refused bool) []forecast.Forecast {
		p := feedPass(t0.Add(time.Duration(i)*10*time.Minute), spec)
		o := drift.ProviderObservation{Name: "sanity", Reachability: drift.Reachable, SubscriptionsKnown: true}
		if refused {
			o = drift.ProviderObservation{Name: "sanity", Reachability: drift.Unreachable, Reason: drift.ReasonUnauthorized}
		}
		p.Observed.Providers = map[string]drift.ProviderObservation{"cms": o}
		return b.evaluate(t, p)
	}
	i := 0
	for ; i < 24; i++ { // 4 hours answered
		require.Empty(t, pass(i, false), "pass %d", i)
	}
	raised := false
	for ; i < 36 && !raised; i++ { // then every third answer refused, then every other
		refused := i%3 == 0 || (i >= 30 && i%2 == 0)
		raised = indicators(pass(i, refused))["provider_unauthorized/cms"] == forecast.IndicatorAuthShare
	}
	require.True(t, raised, "a rising share of 401s raises a forecast")
	cleared := false
	for end := i + 60; i < end && !cleared; i++ {
		cleared = len(pass(i, false)) == 0
	}
	require.True(t, cleared, "answers accepted again clear it")
}

// Content changed after the last deploy and a streak of failed builds
// (read from the store's build events, only when a build finished) raise
// content_stale; a successful deploy clears it.
func TestFeedFailedBuilds(t *testing.T) {
	t.Parallel()
	b := setupFeeds(t)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	spec := config.StackSpec{
		ContentTypes: []string{"post"},
		Providers:    map[string]config.ProviderBinding{"ssg": {Name: "nextjs", Build: &config.Build{Driver: "hook", Timeout: config.Duration(20 * time.Minute)}}},
	}
	build := func(at time.Time, ok bool) {
		typ := "build.failed"
		if ok {
			typ = "build.succeeded"
		}
		payload, _ := json.Marshal(map[string]any{"status": "x", "started_at": at.Add(-4 * time.Minute), "finished_at": at})
		_, err := b.st.InsertEvents(t.Context(), []store.Event{{EventID: "build:" + at.String(), ClientID: "acme", StackID: "web",
			ProviderName: "nextjs", EventType: typ, ContentID: at.String(), Timestamp: at, Payload: payload, ReceivedAt: at}})
		require.NoError(t, err)
	}
	lastOK := t0.Add(-time.Hour)
	build(lastOK, true)
	pass := func(at, lastBuild, newestBuild time.Time) []forecast.Forecast {
		p := feedPass(at, spec)
		p.Policy.Content.MaxStaleness = config.Duration(3 * time.Hour)
		p.Observed.LastBuild = &lastBuild
		p.Observed.ContentUpdated = map[string]time.Time{"post": t0}
		p.Activity = []store.Activity{{ProviderName: "nextjs", EventType: "build.succeeded", Count: 1, Last: newestBuild}}
		return b.evaluate(t, p)
	}
	require.Empty(t, pass(t0.Add(5*time.Minute), lastOK, lastOK), "content waits, builds fine")
	for i := 1; i <= 3; i++ {
		build(t0.Add(time.Duration(i)*10*time.Minute), false)
	}
	reads := b.st.lists.Load()
	open := pass(t0.Add(35*time.Minute), lastOK, t0.Add(30*time.Minute))
	require.Equal(t, map[string]string{"content_stale/post": forecast.IndicatorBuilds}, indicators(open))
	require.Equal(t, t0.Add(3*time.Hour), open[0].ETA)
	require.Equal(t, reads+2, b.st.lists.Load(), "a new build: its events read once")
	require.Len(t, pass(t0.Add(45*time.Minute), lastOK, t0.Add(30*time.Minute)), 1)
	require.Equal(t, reads+2, b.st.lists.Load(), "no new build: no read")

	deployed := t0.Add(50 * time.Minute)
	build(deployed, true)
	require.Empty(t, pass(t0.Add(55*time.Minute), deployed, deployed), "deployed: cleared")
}

// Content that waits for a deploy much longer than it usually does (the
// waits the feed saw before) raises content_stale; the deploy clears it.
func TestFeedContentWaiting(t *testing.T) {
	t.Parallel()
	b := setupFeeds(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	spec := config.StackSpec{ContentTypes: []string{"post"}, Providers: map[string]config.ProviderBinding{"ssg": {Name: "nextjs"}}}
	pass := func(at, lastBuild, updated time.Time) []forecast.Forecast {
		p := feedPass(at, spec)
		p.Policy.Content.MaxStaleness = config.Duration(24 * time.Hour)
		p.Observed.LastBuild = &lastBuild
		p.Observed.ContentUpdated = map[string]time.Time{"post": updated}
		return b.evaluate(t, p)
	}
	// Three changes, each deployed 5 minutes later: the usual wait.
	build := t0
	for i := range 3 {
		change := t0.Add(time.Duration(i+1) * time.Hour)
		require.Empty(t, pass(change.Add(time.Minute), build, change))
		build = change.Add(5 * time.Minute)
		require.Empty(t, pass(build.Add(time.Minute), build, change))
	}
	// The next one waits: 30 minutes is 6 usual waits, 2 hours is 24.
	change := t0.Add(5 * time.Hour)
	require.Empty(t, pass(change.Add(30*time.Minute), build, change))
	open := pass(change.Add(2*time.Hour), build, change)
	require.Equal(t, map[string]string{"content_stale/post": forecast.IndicatorWaiting}, indicators(open))
	require.Empty(t, pass(change.Add(150*time.Minute), change.Add(140*time.Minute), change), "deployed: cleared")
}

// A dns resource whose zone moved to name servers that do not hold its
// record raises resource_missing (the old answer lasts a TTL in resolvers'
// caches); the record copied to the new servers clears it. Names are read
// at most once per Every.
func TestFeedDNSMove(t *testing.T) {
	t.Parallel()
	recursive, err := sim.NewDNSServer(sim.DNSOptions{Records: map[string][]netip.Addr{
		"edge.host-a.test": {netip.MustParseAddr("192.0.2.20")}}})
	require.NoError(t, err)
	t.Cleanup(recursive.Close)
	recursive.SetCNAME("www.shop.test", "edge.host-a.test")
	recursive.SetNS("shop.test", "ns1.dns-a.test")
	// The new provider's name server, which does not hold the name yet.
	newAuthority, err := sim.NewDNSServer(sim.DNSOptions{})
	require.NoError(t, err)
	t.Cleanup(newAuthority.Close)
	recursive.Set("ns1.dns-b.test", netip.MustParseAddr("192.0.2.53"))
	// The new authority is asked at ns1.dns-b.test's address, port 53:
	// the dial goes to the sim's server instead.
	var dialled atomic.Value
	feed := &evaluator.DNS{Resolver: recursive.Resolver(), TTL: 2 * time.Hour,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			dialled.Store(address)
			var d net.Dialer
			return d.DialContext(ctx, network, newAuthority.Addr())
		}}
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	b := feedBundle{st: &countingStore{Store: db}, ev: evaluator.New(evaluator.Options{Store: db, DNS: feed,
		Params: forecast.Params{DNSWaitShare: -1}})}
	spec := config.StackSpec{Resources: map[string]config.Resource{"www": {Probe: config.ProbeDNS, Name: "www.shop.test"}}}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	pass := func(at time.Time) []forecast.Forecast {
		p := feedPass(at, spec)
		p.Observed.Resources = map[string]drift.ResourceObservation{"www": {Status: drift.StatusHealthy, Answers: []string{"192.0.2.20"}}}
		return b.evaluate(t, p)
	}
	require.Empty(t, pass(t0))
	queries := recursive.Queries()
	require.Empty(t, pass(t0.Add(time.Minute)))
	require.Equal(t, queries, recursive.Queries(), "read at most once per Every")

	recursive.SetNS("shop.test", "ns1.dns-b.test")
	require.Empty(t, pass(t0.Add(5*time.Minute)), "not read again yet")
	open := pass(t0.Add(11 * time.Minute))
	require.Equal(t, map[string]string{"resource_missing/www": forecast.IndicatorDNS}, indicators(open))
	require.Equal(t, t0.Add(11*time.Minute+2*time.Hour), open[0].ETA, "the change plus the old answer's TTL")
	require.Equal(t, "192.0.2.53:53", dialled.Load())
	require.Positive(t, newAuthority.Queries())

	// Missing in a pass (drift now): not read again, the forecast kept.
	queries = recursive.Queries()
	missing := feedPass(t0.Add(20*time.Minute), spec)
	missing.Observed.Resources = map[string]drift.ResourceObservation{"www": {Status: drift.StatusMissing}}
	require.Len(t, b.evaluate(t, missing), 1)
	require.Equal(t, queries, recursive.Queries())

	// Still not there: kept; copied to the new servers: cleared.
	require.Len(t, pass(t0.Add(22*time.Minute)), 1)
	newAuthority.SetCNAME("www.shop.test", "edge.host-a.test")
	require.Empty(t, pass(t0.Add(33*time.Minute)))

	// A new CNAME target that does not resolve is a move too.
	recursive.SetCNAME("www.shop.test", "edge.host-c.test")
	require.Equal(t, map[string]string{"resource_missing/www": forecast.IndicatorDNS}, indicators(pass(t0.Add(44*time.Minute))))
	recursive.Set("edge.host-c.test", netip.MustParseAddr("192.0.2.30"))
	require.Empty(t, pass(t0.Add(55*time.Minute)), "the target resolves: cleared")
}

// A role with no refusal keeps no samples, only its run of accepted
// passes; the first refusal turns the run into evenly spaced samples; a
// refusal that left Keep turns them back into a run.
func TestCredentialsKeepSamplesOnlyAroundRefusals(t *testing.T) {
	t.Parallel()
	c := &evaluator.Credentials{Keep: 2 * time.Hour}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	spec := config.StackSpec{Providers: map[string]config.ProviderBinding{"cms": {Name: "sanity"}}}
	record := func(i int, refused bool) map[string]forecast.CredentialReading {
		p := feedPass(t0.Add(time.Duration(i)*10*time.Minute), spec)
		o := drift.ProviderObservation{Reachability: drift.Reachable}
		if refused {
			o = drift.ProviderObservation{Reachability: drift.Unreachable, Reason: drift.ReasonUnauthorized}
		}
		p.Observed.Providers = map[string]drift.ProviderObservation{"cms": o}
		return c.Record(p)
	}
	for i := range 18 { // 3 hours accepted: only the last 2 hours count
		require.Nil(t, record(i, false))
	}
	got := record(18, true)["cms"].Statuses
	require.Len(t, got, 13, "the run's 12 passes within Keep (from 1:00 to 2:50) and the refusal")
	require.Equal(t, t0.Add(time.Hour), got[0].At)
	require.Equal(t, t0.Add(100*time.Minute), got[4].At, "evenly spaced")
	require.Equal(t, t0.Add(170*time.Minute), got[11].At)
	require.Equal(t, 200, got[11].Status)
	require.Equal(t, 401, got[12].Status)
	for i := 19; i < 30; i++ {
		require.NotNil(t, record(i, false), "pass %d: the refusal is within Keep", i)
	}
	require.Nil(t, record(31, false), "the refusal left Keep")
}

// A provider_unauthorized drift that resolved drops its role's samples
// only when it was confirmed: a refusal one pass saw and the next did not
// is a sample of the share that the trend reads.
func TestCredentialsForgetOnlyConfirmed(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	spec := config.StackSpec{Providers: map[string]config.ProviderBinding{"cms": {Name: "sanity"}}}
	for _, tc := range []struct {
		name      string
		confirmed bool
		// samples after the pass that resolved it, and after a refusal
		// at the next
		after, next int
	}{
		{name: "a refusal never confirmed: kept", after: 7, next: 8},
		{name: "a confirmed drift fixed: forgotten", confirmed: true, after: 0, next: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &evaluator.Credentials{}
			record := func(i int, refused bool, resolved ...drift.Drift) map[string]forecast.CredentialReading {
				p := feedPass(t0.Add(time.Duration(i)*10*time.Minute), spec)
				o := drift.ProviderObservation{Reachability: drift.Reachable}
				if refused {
					o = drift.ProviderObservation{Reachability: drift.Unreachable, Reason: drift.ReasonUnauthorized}
				}
				p.Observed.Providers = map[string]drift.ProviderObservation{"cms": o}
				p.Resolved = resolved
				return c.Record(p)
			}
			for i := range 6 {
				record(i, i == 5)
			}
			got := record(6, false, drift.Drift{Code: drift.ProviderUnauthorized, Component: "cms", Confirmed: tc.confirmed})
			require.Len(t, got["cms"].Statuses, tc.after)
			require.Len(t, record(7, true)["cms"].Statuses, tc.next, "the run since the fix, and the refusal")
		})
	}
}

// Build time trending toward the build's timeout, read from the store's
// build events, raises content_stale on waiting content; the deploy
// clears it.
func TestFeedBuildDuration(t *testing.T) {
	t.Parallel()
	b := setupFeeds(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	spec := config.StackSpec{
		ContentTypes: []string{"post"},
		Providers:    map[string]config.ProviderBinding{"ssg": {Name: "nextjs", Build: &config.Build{Driver: "hook", Timeout: config.Duration(20 * time.Minute)}}},
	}
	// Seven builds, 2.5 hours apart, each a minute and a half longer
	// than the last: 8 to 17 minutes.
	var last time.Time
	for i := range 7 {
		last = t0.Add(time.Duration(i) * 150 * time.Minute)
		took := 8*time.Minute + time.Duration(i)*90*time.Second
		payload, _ := json.Marshal(map[string]any{"started_at": last.Add(-took), "finished_at": last})
		_, err := b.st.InsertEvents(t.Context(), []store.Event{{EventID: "build:" + last.String(), ClientID: "acme", StackID: "web",
			ProviderName: "nextjs", EventType: "build.succeeded", ContentID: last.String(), Timestamp: last, Payload: payload, ReceivedAt: last}})
		require.NoError(t, err)
	}
	pass := func(at, lastBuild time.Time) []forecast.Forecast {
		p := feedPass(at, spec)
		p.Policy.Content.MaxStaleness = config.Duration(6 * time.Hour)
		p.Observed.LastBuild = &lastBuild
		p.Observed.ContentUpdated = map[string]time.Time{"post": last.Add(10 * time.Minute)}
		p.Activity = []store.Activity{{ProviderName: "nextjs", EventType: "build.succeeded", Count: 7, Last: lastBuild}}
		return b.evaluate(t, p)
	}
	open := pass(last.Add(20*time.Minute), last)
	require.Equal(t, map[string]string{"content_stale/post": forecast.IndicatorBuildTime}, indicators(open))
	require.Contains(t, open[0].Evidence.Detail, "reaches the 20m0s timeout")
	require.Empty(t, pass(last.Add(40*time.Minute), last.Add(30*time.Minute)), "deployed: cleared")
}

// Each call's answer is a sample: 401 and 403 refused, other answers
// below 500 accepted, throttled and failed calls nothing; an observation
// that logged no call counts once by its outcome.
func TestCredentialsCountEachCall(t *testing.T) {
	t.Parallel()
	c := &evaluator.Credentials{}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	spec := config.StackSpec{Providers: map[string]config.ProviderBinding{"cms": {Name: "sanity"}, "shop": {Name: "shopify"}}}
	p := feedPass(t0, spec)
	p.Observed.Providers = map[string]drift.ProviderObservation{
		"cms":  {Reachability: drift.Reachable, Answers: []int{200, 403, 429, 503, 404, 401}},
		"shop": {Reachability: drift.Unreachable, Reason: drift.ReasonUnauthorized},
	}
	got := c.Record(p)
	statuses := func(role string) []int {
		var out []int
		for _, s := range got[role].Statuses {
			out = append(out, s.Status)
		}
		return out
	}
	require.Equal(t, []int{200, 403, 200, 401}, statuses("cms"))
	require.Equal(t, []int{401}, statuses("shop"))
}

// A provider whose answers announce a Sunset within the horizon raises
// provider_changed on its role; a pass that does not hear from it keeps
// the forecast as it is, a malformed header is not judged either, and
// answers without the header clear it.
func TestFeedProviderSunset(t *testing.T) {
	t.Parallel()
	b := setupFeeds(t)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	spec := config.StackSpec{Providers: map[string]config.ProviderBinding{"cms": {Name: "contentful"}}}
	sunset := t0.Add(3 * day)
	pass := func(at time.Time, o drift.ProviderObservation) []forecast.Forecast {
		p := feedPass(at, spec)
		p.Observed.Providers = map[string]drift.ProviderObservation{"cms": o}
		return b.evaluate(t, p)
	}
	answered := func(notice map[string]string) drift.ProviderObservation {
		return drift.ProviderObservation{Name: "contentful", Reachability: drift.Reachable, SubscriptionsKnown: true,
			Answers: []int{200}, Notice: notice}
	}
	open := pass(t0, answered(map[string]string{"Sunset": sunset.Format(http.TimeFormat), "Deprecation": "@1764000000"}))
	require.Equal(t, map[string]string{"provider_changed/cms": forecast.IndicatorSunset}, indicators(open))
	require.Equal(t, sunset, open[0].ETA)

	require.Len(t, pass(t0.Add(time.Hour), drift.ProviderObservation{Name: "contentful", Reachability: drift.Unreachable,
		Reason: drift.ReasonUnreachable}), 1, "not heard from: kept")
	require.Len(t, pass(t0.Add(2*time.Hour), answered(map[string]string{"Sunset": "next tuesday"})), 1, "malformed: kept")
	require.Empty(t, pass(t0.Add(3*time.Hour), answered(nil)), "the announcement withdrawn: cleared")
}

// A provider not heard from holds only the provider_sunset forecast of
// its role: the notice feed says the role is unknown to provider_sunset,
// and another indicator's provider_changed forecast of the role still
// clears (the feed used to say nothing of the role unless a
// provider_sunset forecast was open; Track now holds per indicator).
func TestFeedNoticeUnheardHoldsOnlyItsOwn(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	p := feedPass(at, config.StackSpec{
		Providers: map[string]config.ProviderBinding{"cms": {Name: "contentful"}}})
	p.Observed.Providers = map[string]drift.ProviderObservation{"cms": {Name: "contentful", Reachability: drift.Unreachable}}
	other := forecast.Forecast{ID: "f1", ClientID: p.ClientID, StackID: p.StackID, Code: drift.ProviderChanged, Component: "cms",
		ETA: at, RaisedAt: at.Add(-time.Hour), Confidence: 0.5, Class: forecast.ClassTrend,
		Evidence: forecast.Evidence{Indicator: forecast.IndicatorEnvironment}}
	own := other
	own.Evidence.Indicator = forecast.IndicatorSunset
	track := func(open forecast.Forecast) forecast.Tracked {
		p.Forecasts = []forecast.Forecast{open}
		obs := forecast.Observation{ClientID: p.ClientID, StackID: p.StackID, Spec: p.Spec, Notices: evaluator.Notices(p), Now: at}
		return forecast.Track(p.Forecasts, forecast.Indicate(obs, forecast.Params{}, nil), at, func() string { return "new" })
	}
	require.NotEmpty(t, evaluator.Notices(p)["cms"].Err, "not heard from: unknown, with the reason")
	got := track(other)
	require.Len(t, got.Cleared, 1, "another indicator's forecast is not held by it")
	require.Empty(t, got.Kept)
	got = track(own)
	require.Equal(t, []forecast.Forecast{own}, got.Kept, "its own forecast is held as it is")
	require.Empty(t, got.Cleared)
}

// A token expiry the operator declared (settings.token_expires_at) raises
// provider_unauthorized on the role within the token horizon (1 day),
// dated at the expiry; a rotated token (a later date) clears it; a
// malformed date raises nothing and says why in the reading.
func TestFeedDeclaredTokenExpiry(t *testing.T) {
	t.Parallel()
	b := setupFeeds(t)
	expires := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	spec := func(v string) config.StackSpec {
		return config.StackSpec{Providers: map[string]config.ProviderBinding{
			"cms": {Name: "contentful", Settings: map[string]string{"space_id": "s", config.SettingTokenExpiresAt: v}}}}
	}
	require.Empty(t, b.evaluate(t, feedPass(expires.Add(-48*time.Hour), spec(expires.Format(time.RFC3339)))), "two days off: not yet")
	open := b.evaluate(t, feedPass(expires.Add(-20*time.Hour), spec(expires.Format(time.RFC3339))))
	require.Equal(t, map[string]string{"provider_unauthorized/cms": forecast.IndicatorToken}, indicators(open))
	require.True(t, expires.Equal(open[0].ETA))
	require.Equal(t, forecast.ClassDated, open[0].Class)
	require.Contains(t, open[0].Evidence.Detail, "the cms token expires 2026-12-10T12:00:00Z")
	require.Empty(t, b.evaluate(t, feedPass(expires.Add(-19*time.Hour), spec("2027-03-10"))), "rotated: cleared")

	c := &evaluator.Credentials{}
	got := c.Record(feedPass(expires, spec("soon")))["cms"]
	require.Nil(t, got.ExpiresAt)
	require.Contains(t, got.Err, `"soon" is not an RFC 3339 time or a date`)
	got = c.Record(feedPass(expires, spec("2027-03-10")))["cms"]
	require.Equal(t, time.Date(2027, 3, 10, 0, 0, 0, 0, time.UTC), *got.ExpiresAt, "a date is the start of its day, UTC")
	require.Nil(t, c.Record(feedPass(expires, config.StackSpec{Providers: map[string]config.ProviderBinding{"cms": {Name: "contentful"}}})),
		"no declared expiry and no refusal: no reading")
}
