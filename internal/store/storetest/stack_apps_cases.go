package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// testListStackApps: a client's stacks by stack id with environment, the
// application their documents name ("" for none) and desired hash; other
// clients' stacks are not listed, and a new desired document is seen.
func testListStackApps(ctx context.Context, t *testing.T, s store.Store) {
	named := desired("acme", "web-prod", "h1")
	named.Document = json.RawMessage(`{"app":"storefront","spec":{"x":1}}`)
	plain := desired("acme", "web-staging", "h2")
	plain.Environment = "staging"
	noEnv := desired("acme", "tools", "h3")
	noEnv.Environment = ""
	apply(ctx, t, s, named, plain, noEnv, desired("globex", "web-prod", "h4"))

	got, err := s.ListStackApps(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, []store.StackApp{
		{StackID: "tools", Environment: "", App: "", DesiredHash: "h3"},
		{StackID: "web-prod", Environment: "prod", App: "storefront", DesiredHash: "h1"},
		{StackID: "web-staging", Environment: "staging", App: "", DesiredHash: "h2"},
	}, got)

	plain.Hash, plain.Document = "h5", json.RawMessage(`{"app":"storefront"}`)
	apply(ctx, t, s, plain)
	got, err = s.ListStackApps(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, store.StackApp{StackID: "web-staging", Environment: "staging", App: "storefront", DesiredHash: "h5"}, got[2])

	none, err := s.ListStackApps(ctx, "initech")
	require.NoError(t, err)
	require.Empty(t, none)
}
