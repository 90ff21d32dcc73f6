package heal

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/store"
)

// recordingDriver lists no subscription and records what it is asked.
type recordingDriver struct{ calls []string }

func (d *recordingDriver) Observe(context.Context, provider.Binding) provider.Observation {
	return provider.Observation{ProviderObservation: drift.ProviderObservation{Reachability: drift.Reachable, SubscriptionsKnown: true}}
}

func (d *recordingDriver) Register(_ context.Context, _ provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	d.calls = append(d.calls, "register "+ig.Name+" at "+address)
	return drift.Subscription{ID: "new", Address: address}, nil
}

func (d *recordingDriver) Update(context.Context, provider.Binding, drift.Subscription, provider.Integration, string) error {
	d.calls = append(d.calls, "update")
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
	const address = "https://bw.example/v1/webhooks/shopify/acme/web"

	re := &reregisteringDriver{}
	a := New(Options{ReceiverPrefix: "https://bw.example/v1/webhooks", Registry: provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{"shopify": re}})})
	detail, err := a.Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Equal(t, "re-registered shopify subscription fresh for shop-products", detail)
	require.Equal(t, []string{"reregister shop-products at " + address}, re.calls)

	// A driver that cannot replace one makes it exist and match instead.
	plain := &recordingDriver{}
	a = New(Options{ReceiverPrefix: "https://bw.example/v1/webhooks", Registry: provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{"shopify": plain}})})
	detail, err = a.Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Equal(t, "created shopify subscription new for shop-products", detail)
	require.Equal(t, []string{"register shop-products at " + address}, plain.calls)

	// recreate_subscription never replaces a subscription.
	re.calls = nil
	a = New(Options{ReceiverPrefix: "https://bw.example/v1/webhooks", Registry: provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{"shopify": re}})})
	at.Action = ActionRecreateSubscription
	_, err = a.Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Equal(t, []string{"register shop-products at " + address}, re.calls)
}
