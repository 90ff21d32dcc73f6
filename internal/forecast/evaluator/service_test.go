package evaluator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// healthyProber answers every resource healthy.
type healthyProber struct{}

func (healthyProber) ProbeAll(_ context.Context, rs map[string]config.Resource) map[string]drift.ResourceObservation {
	out := map[string]drift.ResourceObservation{}
	for name := range rs {
		out[name] = drift.ResourceObservation{Status: drift.StatusHealthy, Latency: 10 * time.Millisecond}
	}
	return out
}

// cmsAPI answers the cms binding reachable, or refused (401) while
// refused is set.
type cmsAPI struct {
	mu      sync.Mutex
	refused bool
}

func (c *cmsAPI) set(refused bool) { c.mu.Lock(); c.refused = refused; c.mu.Unlock() }

func (c *cmsAPI) ObserveProviders(_ context.Context, _, _ string, spec config.StackSpec) map[string]drift.ProviderObservation {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]drift.ProviderObservation{}
	for role, b := range spec.Providers {
		o := drift.ProviderObservation{Name: b.Name, Reachability: drift.Reachable, SubscriptionsKnown: true}
		if role == config.RoleCMS && c.refused {
			o = drift.ProviderObservation{Name: b.Name, Reachability: drift.Unreachable, Reason: drift.ReasonUnauthorized, Detail: "401 from sanity"}
		}
		out[role] = o
	}
	return out
}

type policy struct{}

func (policy) Policy(context.Context, string, string) (config.PolicySpec, error) {
	p := config.DefaultPolicy()
	p.Content.MaxStaleness = config.Duration(6 * time.Hour)
	return p, nil
}

// Through the reconcile loop (passes on an injected clock, the store's
// pass load, the evaluator wired as serve wires it): the registry's
// domain expiry, a DNS move, a rising share of 401s and a streak of failed
// builds under waiting content each raise their forecast, and each clears
// when its precursor fades.
func TestServiceFeedsRaiseAndClear(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(t0)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	rdap := sim.NewRDAP()
	rdapSrv := httptest.NewServer(rdap)
	t.Cleanup(rdapSrv.Close)
	rdap.SetDomain("blackwell-shop.dev", t0.Add(-300*day), t0.Add(30*time.Hour))
	dns, err := sim.NewDNSServer(sim.DNSOptions{Records: map[string][]netip.Addr{"edge.host-a.test": {netip.MustParseAddr("192.0.2.20")}}})
	require.NoError(t, err)
	t.Cleanup(dns.Close)
	dns.SetCNAME("www.shop.test", "edge.host-a.test")
	dns.SetNS("shop.test", "ns1.dns-a.test")
	dns.Set("ns1.dns-b.test", netip.MustParseAddr("192.0.2.53"))
	// The name server the zone moves to; the feed's queries to it (at
	// 192.0.2.53:53) are dialled here.
	newAuthority, err := sim.NewDNSServer(sim.DNSOptions{})
	require.NoError(t, err)
	t.Cleanup(newAuthority.Close)

	spec := config.StackSpec{
		ContentTypes: []string{"post"},
		Providers: map[string]config.ProviderBinding{
			config.RoleCMS: {Name: "sanity"},
			config.RoleSSG: {Name: "nextjs", Build: &config.Build{Driver: "hook"}},
		},
		Resources: map[string]config.Resource{
			"home": {Probe: config.ProbeHTTP, URL: "https://www.blackwell-shop.dev/"},
			"www":  {Probe: config.ProbeDNS, Name: "www.shop.test"},
		},
	}
	doc, err := json.Marshal(spec)
	require.NoError(t, err)
	_, err = db.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "web", Hash: "h1", Document: doc}})
	require.NoError(t, err)

	api := &cmsAPI{}
	n := 0
	ev := evaluator.New(evaluator.Options{
		Store:   db,
		Domains: &evaluator.Domains{Base: rdapSrv.URL, Client: rdapSrv.Client()},
		DNS: &evaluator.DNS{Resolver: dns.Resolver(), Every: time.Minute,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, newAuthority.Addr())
			}},
		Credentials: &evaluator.Credentials{},
		Content:     &evaluator.Content{Events: db},
		Params:      forecast.Params{BuildFailStreak: 3, DomainHorizon: 2 * day, ContentWaitShare: -1, DNSWaitShare: -1},
		NewID:       func() string { n++; return fmt.Sprintf("fc-%d", n) },
	})
	loop := reconcile.New(reconcile.Options{Store: db, Clock: clk, Prober: healthyProber{}, Providers: api,
		Policies: policy{}, Forecasts: ev})

	event := func(typ, contentType string, at time.Time) {
		payload, _ := json.Marshal(map[string]any{"started_at": at.Add(-3 * time.Minute), "finished_at": at})
		_, err := db.InsertEvents(ctx, []store.Event{{EventID: typ + at.String(), ClientID: "acme", StackID: "web",
			ProviderName: "x", EventType: typ, ContentID: "c-" + at.String(), ContentType: contentType, Timestamp: at,
			Payload: payload, ReceivedAt: at, TTLTimestamp: at.Add(30 * day).Unix()}})
		require.NoError(t, err)
	}
	// open runs a pass at the clock's now and returns the open forecasts'
	// indicators.
	open := func() map[string]string {
		t.Helper()
		_, _, err := loop.Reconcile(ctx, "acme/web", reconcile.TriggerSchedule)
		require.NoError(t, err)
		fs, _, err := db.ListForecasts(ctx, store.ForecastQuery{ClientID: "acme", StackID: "web"})
		require.NoError(t, err)
		return indicators(fs)
	}
	step := func(d time.Duration) { clk.Step(d) }

	event("build.succeeded", "", t0.Add(-time.Hour))
	// The domain expires within a day and a half.
	require.Equal(t, map[string]string{"resource_missing/home": forecast.IndicatorDomain}, open())
	rdap.SetDomain("blackwell-shop.dev", t0.Add(-300*day), t0.Add(400*day)) // renewed, seen in 6 hours

	// Content published, then three failed builds.
	event("content.updated", "post", t0.Add(time.Minute))
	for i := 2; i <= 4; i++ {
		event("build.failed", "", t0.Add(time.Duration(i)*time.Minute))
	}
	step(5 * time.Minute)
	require.Equal(t, forecast.IndicatorBuilds, open()["content_stale/post"])

	// The zone moves to name servers without the record.
	dns.SetNS("shop.test", "ns1.dns-b.test")
	step(2 * time.Minute)
	got := open()
	require.Equal(t, forecast.IndicatorDNS, got["resource_missing/www"], "%v", got)
	// The record copied to the new name servers: cleared.
	newAuthority.SetCNAME("www.shop.test", "edge.host-a.test")
	step(2 * time.Minute)
	require.NotContains(t, open(), "resource_missing/www")

	// A build deploys the content.
	event("build.succeeded", "", clk.Now().Add(-time.Second))
	step(time.Minute)
	require.NotContains(t, open(), "content_stale/post")

	// 401s rise over hours: every third pass, then every other.
	raised := false
	for i := 0; i < 60 && !raised; i++ {
		step(10 * time.Minute)
		api.set(i >= 18 && (i%3 == 0 || i >= 27 && i%2 == 0))
		raised = open()["provider_unauthorized/cms"] == forecast.IndicatorAuthShare
	}
	require.True(t, raised, "a rising 401 share raises provider_unauthorized")

	api.set(false)
	cleared := false
	for i := 0; i < 60 && !cleared; i++ {
		step(10 * time.Minute)
		_, cleared = open()["provider_unauthorized/cms"]
		cleared = !cleared
	}
	require.True(t, cleared, "answers accepted again for hours clear it")

	// The renewal is read once the cached answer is 6 hours old.
	require.Less(t, rdap.Requests(), int64(3))
	if d := t0.Add(6*time.Hour + time.Minute).Sub(clk.Now()); d > 0 {
		step(d)
	}
	require.NotContains(t, open(), "resource_missing/home", "the renewal was read: cleared")
}
