package forecast_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/sim"
)

// resParams raise a DNS forecast at the change (no wait: TestDNSWaitShare
// tests that).
var resParams = forecast.Params{DomainHorizon: 7 * day, DNSChangeWindow: 48 * time.Hour, DNSWaitShare: -1}

func TestDomainExpiry(t *testing.T) {
	t.Parallel()
	home := forecast.Key{Code: drift.ResourceMissing, Component: "home"}
	for _, tc := range []struct {
		name     string
		reading  forecast.DomainReading
		forecast bool
		unknown  string
	}{
		{name: "expires in 3 days", reading: forecast.DomainReading{Domain: "site.example", Expiry: ptr(now.Add(3 * day)), Seen: now}, forecast: true},
		{name: "expires in 30 days", reading: forecast.DomainReading{Domain: "site.example", Expiry: ptr(now.Add(30 * day)), Seen: now}},
		{name: "expired", reading: forecast.DomainReading{Domain: "site.example", Expiry: ptr(now.Add(-day)), Seen: now}},
		{name: "no expiration event", reading: forecast.DomainReading{Domain: "site.example", Seen: now}, unknown: "no expiration event"},
		{name: "the registry failed", reading: forecast.DomainReading{Domain: "site.example", Err: "rdap: the registry answered 500"}, unknown: "answered 500"},
		{name: "read in the future", reading: forecast.DomainReading{Domain: "site.example", Expiry: ptr(now.Add(3 * day)), Seen: now.Add(time.Hour)},
			unknown: "clocks disagree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Now: now,
				Domains: map[string]forecast.DomainReading{"home": tc.reading}}, resParams, nil)
			if tc.forecast {
				require.Equal(t, []string{home.String() + "@" + tc.reading.Expiry.Format(time.RFC3339)}, keys(r))
				require.Equal(t, forecast.ClassDated, r.Forecasts[0].Class)
				require.Equal(t, forecast.IndicatorDomain, r.Forecasts[0].Evidence.Indicator)
			} else {
				require.Empty(t, r.Forecasts)
			}
			require.Contains(t, r.UnknownOf(home), tc.unknown)
		})
	}
}

func TestDNSChanges(t *testing.T) {
	t.Parallel()
	home := forecast.Key{Code: drift.ResourceMissing, Component: "home"}
	old := forecast.DNSAnswer{At: now.Add(-3 * time.Hour), NS: []string{"ns1.old.example.", "ns2.old.example."}, Target: "site.host.example", TTL: 4 * time.Hour, Held: true}
	at := func(a forecast.DNSAnswer, d time.Duration) forecast.DNSAnswer { a.At = now.Add(d); return a }
	moved := forecast.DNSAnswer{NS: []string{"ns1.new.example"}, Target: "site.host.example", TTL: 5 * time.Minute}
	retarget := forecast.DNSAnswer{NS: old.NS, Target: "gone.host.example", TTL: 5 * time.Minute}
	movedHeld := moved
	movedHeld.Held = true
	reordered := old
	reordered.NS = []string{"NS2.old.example", "ns1.old.example"}
	for _, tc := range []struct {
		name    string
		answers []forecast.DNSAnswer
		eta     time.Time // zero: no forecast
		unknown string
	}{
		{name: "delegation moved, record not held", answers: []forecast.DNSAnswer{old, at(moved, -2*time.Hour), at(moved, -time.Hour)}, eta: now.Add(2 * time.Hour)},
		{name: "CNAME target changed, not held", answers: []forecast.DNSAnswer{old, at(retarget, -time.Hour)}, eta: now.Add(3 * time.Hour)},
		{name: "moved and held", answers: []forecast.DNSAnswer{old, at(movedHeld, -time.Hour)}},
		{name: "the same servers in another order", answers: []forecast.DNSAnswer{old, at(reordered, -time.Hour)}},
		{name: "moved three days ago", answers: []forecast.DNSAnswer{at(old, -100*time.Hour), at(moved, -72*time.Hour), at(moved, 0)}},
		{name: "cached past its TTL", answers: []forecast.DNSAnswer{at(old, -6*time.Hour), at(moved, -5*time.Hour)}, eta: now},
		{name: "one answer", answers: []forecast.DNSAnswer{old}},
		{name: "out of order", answers: []forecast.DNSAnswer{at(moved, -time.Hour), old}, unknown: "out of time order"},
		{name: "an answer after now", answers: []forecast.DNSAnswer{old, at(moved, time.Hour)}, unknown: "clocks disagree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Now: now,
				DNS: map[string][]forecast.DNSAnswer{"home": tc.answers}}, resParams, nil)
			if tc.eta.IsZero() {
				require.Empty(t, r.Forecasts)
			} else {
				require.Equal(t, []string{home.String() + "@" + tc.eta.Format(time.RFC3339)}, keys(r))
				require.Equal(t, forecast.IndicatorDNS, r.Forecasts[0].Evidence.Indicator)
			}
			require.Contains(t, r.UnknownOf(home), tc.unknown)
		})
	}
}

// A change is forecast only once DNSWaitShare of the old answer's TTL
// passed unfixed; an open forecast is kept before that.
func TestDNSWaitShare(t *testing.T) {
	t.Parallel()
	old := forecast.DNSAnswer{At: now.Add(-10 * time.Hour), NS: []string{"ns1.old.example"}, Target: "site.host.example", TTL: 4 * time.Hour, Held: true}
	moved := func(ago time.Duration) []forecast.DNSAnswer {
		return []forecast.DNSAnswer{old, {At: now.Add(-ago), NS: []string{"ns1.new.example"}, Target: "site.host.example", TTL: 5 * time.Minute}}
	}
	p := forecast.Params{DNSChangeWindow: 24 * time.Hour, DNSWaitShare: 0.75}
	home := forecast.Key{Code: drift.ResourceMissing, Component: "home"}
	indicate := func(answers []forecast.DNSAnswer, open bool) forecast.Reading {
		return forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Now: now,
			DNS: map[string][]forecast.DNSAnswer{"home": answers}}, p, func(s forecast.Source) bool {
			return open && s == forecast.Source{Key: home, Indicator: forecast.IndicatorDNS}
		})
	}
	require.Empty(t, indicate(moved(2*time.Hour), false).Forecasts, "half the 4 h TTL: not yet")
	require.Equal(t, []string{home.String() + "@" + now.Add(2*time.Hour).Format(time.RFC3339)}, keys(indicate(moved(2*time.Hour), true)),
		"an open forecast is kept")
	require.Equal(t, []string{home.String() + "@" + now.Add(30*time.Minute).Format(time.RFC3339)}, keys(indicate(moved(210*time.Minute), false)),
		"past three quarters of the TTL: raised, due at the TTL")
}

func TestParseRDAPDomain(t *testing.T) {
	t.Parallel()
	exp := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, body string
		expiry     *time.Time
		err        string
	}{
		{name: "RFC 9083 domain", body: `{"objectClassName":"domain","ldhName":"site.example","events":[
			{"eventAction":"registration","eventDate":"2020-03-01T00:00:00Z"},{"eventAction":"expiration","eventDate":"2027-03-01T01:00:00+01:00"}]}`, expiry: &exp},
		{name: "no events", body: `{"objectClassName":"domain","ldhName":"site.example"}`},
		{name: "two expirations: the latest", body: `{"objectClassName":"domain","events":[
			{"eventAction":"expiration","eventDate":"2026-03-01T00:00:00Z"},{"eventAction":"Expiration","eventDate":"2027-03-01T00:00:00Z"}]}`, expiry: &exp},
		{name: "other actions ignored", body: `{"objectClassName":"domain","events":[{"eventAction":"last changed","eventDate":"yesterday"}]}`},
		{name: "malformed date", body: `{"objectClassName":"domain","events":[{"eventAction":"expiration","eventDate":"01/03/2027"}]}`,
			err: `event 0 (expiration): eventDate "01/03/2027" is not RFC 3339`},
		{name: "an entity, not a domain", body: `{"objectClassName":"entity"}`, err: `objectClassName "entity"`},
		{name: "not JSON", body: `<html>`, err: "not a JSON object"},
		{name: "events not a list", body: `{"objectClassName":"domain","events":{}}`, err: "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := forecast.ParseRDAPDomain([]byte(tc.body))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.expiry, d.Expiration)
		})
	}
}

func FuzzParseRDAPDomain(f *testing.F) {
	f.Add([]byte(`{"objectClassName":"domain","events":[{"eventAction":"expiration","eventDate":"2027-03-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"objectClassName":"domain","events":[{"eventAction":"expiration","eventDate":"9999-99-99"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := forecast.ParseRDAPDomain(body)
		if err != nil {
			return
		}
		if d.Expiration != nil {
			// What was read feeds the indicator without a crash.
			r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Now: now,
				Domains: map[string]forecast.DomainReading{"home": forecast.DomainReadingOf("x", d, nil, now)}}, forecast.Params{}, nil)
			for _, f := range r.Forecasts {
				f.RaisedAt = now
				if err := forecast.Check(f); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestLookupDomainOnTheSimRegistry(t *testing.T) {
	t.Parallel()
	reg := sim.NewRDAP()
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	exp := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	reg.SetDomain("site.example", exp.AddDate(-5, 0, 0), exp)
	reg.SetRaw("broken.example", `{"objectClassName":"domain","events":[{"eventAction":"expiration","eventDate":"soon"}]}`)
	ctx := context.Background()

	d, err := forecast.LookupDomain(ctx, srv.Client(), srv.URL, "Site.Example.")
	require.NoError(t, err)
	require.Equal(t, "site.example", d.LDHName)
	require.Equal(t, exp, *d.Expiration)

	_, err = forecast.LookupDomain(ctx, srv.Client(), srv.URL, "nowhere.example")
	require.ErrorIs(t, err, forecast.ErrDomainNotFound)
	_, err = forecast.LookupDomain(ctx, srv.Client(), srv.URL, "broken.example")
	require.ErrorContains(t, err, "not RFC 3339")

	// Renewed: the next lookup reads the new date.
	reg.SetDomain("site.example", exp.AddDate(-5, 0, 0), exp.AddDate(1, 0, 0))
	d, err = forecast.LookupDomain(ctx, srv.Client(), srv.URL, "site.example")
	require.NoError(t, err)
	require.Equal(t, exp.AddDate(1, 0, 0), *d.Expiration)
	reading := forecast.DomainReadingOf("site.example", d, nil, now)
	require.Equal(t, exp.AddDate(1, 0, 0), *reading.Expiry)
	require.Equal(t, int64(4), reg.Requests())

	resp, err := srv.Client().Post(srv.URL+"/domain/site.example", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
