package catalog_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/catalog"
)

// TestProviders: the four providers, in the order messages name them,
// each complete: a driver, a verifier that refuses an unsigned delivery,
// and a normaliser.
func TestProviders(t *testing.T) {
	t.Parallel()
	ps := catalog.Providers()
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{"shopify", "sanity", "contentful", "generic"}, names)

	drivers := provider.Drivers(ps, provider.APIClientOptions{})
	require.Len(t, drivers, len(ps))
	for _, p := range ps {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			require.NotNil(t, drivers[p.Name], "a driver")
			require.NotNil(t, p.Normalize, "a normaliser")
			r := httptest.NewRequest(http.MethodPost, "/v1/webhooks/"+p.Name+"/acme", strings.NewReader(`{}`))
			r.Header.Set("Content-Type", "application/json")
			require.ErrorIs(t, p.Verify([]string{"secret"}, r, []byte(`{}`), time.Now()), webhook.ErrMissingSignature)
		})
	}
	require.NotSame(t, &ps[0], &catalog.Providers()[0], "each call builds its own list")
}
