package dynamodb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	dyn "github.com/blackwellio/blackwell/internal/store/dynamodb"
	"github.com/blackwellio/blackwell/internal/store/dynamodb/dynalitetest"
	"github.com/blackwellio/blackwell/internal/store/storetest"
)

// newTestStore opens a store on tables of a fresh prefix in the test's
// dynalite.
func newTestStore(t testing.TB) *dyn.Store {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	cfg := dyn.Config{Prefix: "t" + hex.EncodeToString(b) + "-", Region: "us-east-1", Endpoint: dynalitetest.Endpoint(t)}
	client, err := dyn.NewClient(ctx, cfg)
	require.NoError(t, err)
	s, err := dyn.OpenWith(ctx, dynalitetest.NewTxAPI(client), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestDynamoDBStore runs the conformance suite, every case.
func TestDynamoDBStore(t *testing.T) {
	dynalitetest.Endpoint(t)
	storetest.Exercise(context.Background(), t, func(t *testing.T) store.Store { return newTestStore(t) })
}

// reopen is a store on base's tables through the API wrap makes of
// base's.
func reopen(t *testing.T, base *dyn.Store, wrap func(dyn.API) dyn.API) *dyn.Store {
	t.Helper()
	s, err := dyn.OpenWith(context.Background(), wrap(base.API()), base.Config())
	require.NoError(t, err)
	return s
}
