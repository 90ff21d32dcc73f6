package heal

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/store"
)

// recordingDriver lists subs and records what it is asked.
type recordingDriver struct {
	subs  []drift.Subscription
	calls []string
}

func (d *recordingDriver) Observe(context.Context, provider.Binding) provider.Observation {
	return provider.Observation{ProviderObservation: drift.ProviderObservation{Reachability: drift.Reachable,
		SubscriptionsKnown: true, Subscriptions: d.subs}}
}

func (d *recordingDriver) Register(_ context.Context, _ provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	d.calls = append(d.calls, "register "+ig.Name+" at "+address)
	return drift.Subscription{ID: "new", Address: address}, nil
}

func (d *recordingDriver) Update(_ context.Context, _ provider.Binding, sub drift.Subscription, ig provider.Integration, address string) error {
	d.calls = append(d.calls, "update "+sub.ID+" of "+ig.Name+" at "+address)
	return nil
}

// reregisteringDriver can also replace a subscription.
type reregisteringDriver struct{ recordingDriver }

func (d *reregisteringDriver) Reregister(_ context.Context, _ provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	d.calls = append(d.calls, "reregister "+ig.Name+" at "+address)
	return drift.Subscription{ID: "fresh", Address: address}, nil
}

func TestReregisterSubscription(t *testing.T) {
	t.Parallel()
	at := store.HealAttempt{ClientID: "acme", StackID: "web", Code: drift.WebhookBroken, Component: "shop-products",
		Action: ActionReregisterSubscription}
	const prefix = "https://bw.example/v1/webhooks"
	// Ours, at the client's receiver (not the stack's), and someone else's.
	subs := []drift.Subscription{
		{ID: "7,8", Address: prefix + "/shopify/acme", Topics: []string{"products/update"}},
		{ID: "9", Address: "https://other.example/hook", Topics: []string{"products/update"}},
	}
	actions := func(d provider.Driver) *Actions {
		return New(Options{ReceiverPrefix: prefix, Registry: provider.NewRegistry(provider.RegistryOptions{
			Drivers: map[string]provider.Driver{"shopify": d}})})
	}

	re := &reregisteringDriver{recordingDriver{subs: subs}}
	detail, err := actions(re).Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Equal(t, "re-registered shopify subscription 7,8 for shop-products as fresh", detail)
	require.Equal(t, []string{"reregister shop-products at " + prefix + "/shopify/acme"}, re.calls, "replaced where it was")

	// None of ours to replace: it is created at the stack's receiver.
	none := &reregisteringDriver{recordingDriver{subs: subs[1:]}}
	_, err = actions(none).Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Equal(t, []string{"register shop-products at " + prefix + "/shopify/acme/web"}, none.calls)

	// A driver that cannot replace one makes it exist and match instead.
	plain := &recordingDriver{subs: subs}
	_, err = actions(plain).Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Equal(t, []string{"update 7,8 of shop-products at " + prefix + "/shopify/acme"}, plain.calls)

	// recreate_subscription never replaces a subscription.
	re.calls = nil
	at.Action = ActionRecreateSubscription
	_, err = actions(re).Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Equal(t, []string{"update 7,8 of shop-products at " + prefix + "/shopify/acme"}, re.calls)
}

// A re-registered subscription restarts the refusal streak of its topic
// (the webhook_broken forecast reads it); the updated one does not.
func TestReregisterRestartsRefusalStreak(t *testing.T) {
	t.Parallel()
	at := store.HealAttempt{ClientID: "acme", StackID: "web", Code: drift.WebhookBroken, Component: "shop-products",
		Action: ActionReregisterSubscription}
	const prefix = "https://bw.example/v1/webhooks"
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	log := forecast.NewRefusalLog()
	h := http.Header{"X-Shopify-Topic": {"products/update"}}
	for i := range 3 {
		log.Record("shopify", "acme", h, http.StatusServiceUnavailable, t0.Add(time.Duration(i)*time.Minute))
	}
	require.Len(t, log.Streaks("acme"), 1)
	actions := func(d provider.Driver) *Actions {
		return New(Options{ReceiverPrefix: prefix, OnRecreated: log.Recreated, Now: func() time.Time { return t0.Add(time.Hour) },
			Registry: provider.NewRegistry(provider.RegistryOptions{Drivers: map[string]provider.Driver{"shopify": d}})})
	}
	subs := []drift.Subscription{{ID: "7", Address: prefix + "/shopify/acme", Topics: []string{"products/update"}}}

	// Updating a subscription in place keeps the provider's count: the
	// streak stays.
	at.Action = ActionRecreateSubscription
	_, err := actions(&recordingDriver{subs: subs}).Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Len(t, log.Streaks("acme"), 1)

	at.Action = ActionReregisterSubscription
	_, err = actions(&reregisteringDriver{recordingDriver{subs: subs}}).Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Empty(t, log.Streaks("acme"), "the fresh subscription's streak starts from zero")

	// Created where none was (the provider deleted it): restarts too.
	for i := range 3 {
		log.Record("shopify", "acme", h, http.StatusServiceUnavailable, t0.Add(time.Duration(i)*time.Minute))
	}
	_, err = actions(&recordingDriver{}).Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Empty(t, log.Streaks("acme"))
}
