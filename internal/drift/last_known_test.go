package drift_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
)

// TestRemember: a known observation replaces what was known; an unknown one
// never overwrites it, it only notes why and since when.
func TestRemember(t *testing.T) {
	t.Parallel()
	in := setup(t)
	t0 := testNow
	k := drift.Remember(drift.LastKnown{}, in.Desired, in.Observed, t0)
	require.Equal(t, drift.Sighting{Value: "ok", SeenAt: &t0, Known: true}, k.Providers["cms"])
	require.Equal(t, drift.Sighting{Value: "healthy", SeenAt: &t0, Known: true}, k.Resources["site"])
	require.NotContains(t, k.Providers, "ssg", "a role not observed through its API has no sighting")
	require.Empty(t, k.Unseen())

	// The API goes away and the probe cannot run: the last known stays.
	t1 := t0.Add(5 * time.Minute)
	setProvider(&in, "cms", func(p *drift.ProviderObservation) {
		p.Reachability, p.Reason, p.Detail, p.SubscriptionsKnown = drift.Unreachable, drift.ReasonTimeout, "no answer", false
	})
	in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusUnknown, Detail: "cancelled"}
	delete(in.Observed.Providers, "ecommerce") // not observed at all this pass
	k1 := drift.Remember(k, in.Desired, in.Observed, t1)
	require.Equal(t, drift.Sighting{Value: "ok", SeenAt: &t0, Reason: drift.ReasonTimeout, UnknownSince: &t1}, k1.Providers["cms"])
	require.Equal(t, drift.Sighting{Value: "healthy", SeenAt: &t0, Reason: drift.ReasonNotObserved, UnknownSince: &t1}, k1.Resources["site"])
	require.Equal(t, k.Providers["ecommerce"], k1.Providers["ecommerce"], "kept as it was")
	require.Equal(t, drift.Sighting{Value: "ok", SeenAt: &t0, Known: true}, k.Providers["cms"], "prev is not modified")

	// Still unknown: UnknownSince stays the start of the run.
	t2 := t1.Add(5 * time.Minute)
	k2 := drift.Remember(k1, in.Desired, in.Observed, t2)
	require.Equal(t, &t1, k2.Providers["cms"].UnknownSince)

	// Credentials rejected is known (the provider answered).
	t3 := t2.Add(time.Minute)
	setProvider(&in, "cms", func(p *drift.ProviderObservation) {
		p.Reachability, p.Reason, p.Detail = drift.Unauthorized, drift.ReasonUnauthorized, "401"
	})
	k3 := drift.Remember(k2, in.Desired, in.Observed, t3)
	require.Equal(t, drift.Sighting{Value: "unauthorized", Detail: "401", SeenAt: &t3, Known: true}, k3.Providers["cms"])

	// A resource no longer declared is forgotten.
	delete(in.Desired.Resources, "cert")
	require.NotContains(t, drift.Remember(k3, in.Desired, in.Observed, t3).Resources, "cert")
}

// TestRememberNeverKnown: something observed but never known is unseen,
// and keeps the detail of why.
func TestRememberNeverKnown(t *testing.T) {
	t.Parallel()
	in := setup(t)
	setProvider(&in, "ecommerce", func(p *drift.ProviderObservation) {
		p.Reachability, p.Detail, p.SubscriptionsKnown = drift.Unreachable, "connection refused", false
	})
	k := drift.Remember(drift.LastKnown{}, in.Desired, in.Observed, testNow)
	require.Equal(t, drift.Sighting{Detail: "connection refused", Reason: drift.ReasonUnreachable, UnknownSince: &testNow}, k.Providers["ecommerce"])
	require.Equal(t, []string{"provider:ecommerce"}, k.Unseen())
}

func TestUnjudged(t *testing.T) {
	t.Parallel()
	id := func(typ drift.Type, component string) string { return drift.ID(client, stack, typ, component) }
	tests := []struct {
		name   string
		mutate func(*drift.Input)
		want   []string
	}{
		{name: "everything known", mutate: func(*drift.Input) {}},
		{
			name: "api unknown: the provider and its integrations",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) { p.Reachability = drift.Unreachable })
			},
			want: []string{id(drift.TypeProvider, "ecommerce"), id(drift.TypeIntegration, "products")},
		},
		{
			name: "credentials rejected: the provider is judged, its integrations are not",
			mutate: func(in *drift.Input) {
				setProvider(in, "cms", func(p *drift.ProviderObservation) {
					p.Reachability, p.SubscriptionsKnown = drift.Unauthorized, false
				})
			},
			want: []string{id(drift.TypeIntegration, "content")},
		},
		{
			name: "probe could not run",
			mutate: func(in *drift.Input) {
				in.Observed.Resources["cert"] = drift.ResourceObservation{Status: drift.StatusUnknown}
			},
			want: []string{id(drift.TypeResource, "cert")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := setup(t)
			tt.mutate(&in)
			got := drift.Unjudged(in)
			require.Len(t, got, len(tt.want))
			for _, w := range tt.want {
				require.True(t, got[w], w)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	d := found(drift.ResourceUnhealthy, "site", testNow)
	d.FirstSeen, d.LastSeen, d.Observations, d.Observed = testNow, testNow.Add(90*time.Second), 3, "503"
	got := drift.Explain(d)
	require.Equal(t, drift.ConfidenceSuspected, got.Confidence)
	require.Equal(t, &drift.Evidence{Observations: 3, FirstSeen: testNow, LastSeen: testNow.Add(90 * time.Second),
		Span: "1m30s", SpanSeconds: 90, LastObserved: "503"}, got.Evidence)
	d.Confirmed = true
	require.Equal(t, drift.ConfidenceConfirmed, drift.Explain(d).Confidence)
}
