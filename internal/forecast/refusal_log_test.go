package forecast_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/forecast"
)

func TestRefusalLog(t *testing.T) {
	t.Parallel()
	l := forecast.NewRefusalLog()
	orders := http.Header{"X-Shopify-Topic": {"orders/create"}}
	products := http.Header{"X-Shopify-Topic": {"products/update"}}
	l.Record("shopify", "acme", orders, 503, now)
	l.Record("shopify", "acme", orders, 401, now.Add(time.Minute))
	l.Record("shopify", "acme", products, 200, now.Add(time.Minute))
	l.Record("shopify", "globex", orders, 503, now)
	l.Record("sanity", "acme", orders, 500, now) // no topic header of its own
	require.Equal(t, []forecast.RefusalStreak{
		{Provider: "sanity", Count: 1, First: now, Last: now, LastStatus: 500},
		{Provider: "shopify", Topic: "orders/create", Count: 2, First: now, Last: now.Add(time.Minute), LastStatus: 401},
	}, l.Streaks("acme"))

	// An accepted delivery of the topic ends its streak.
	l.Record("shopify", "acme", orders, 200, now.Add(2*time.Minute))
	require.Len(t, l.Streaks("acme"), 1)
	require.Len(t, l.Streaks("globex"), 1)
	require.Empty(t, l.Streaks("initech"))
}
