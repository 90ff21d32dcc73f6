package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/store"
)

// promotionConfig is an application of two environments; staging's
// release must soak an hour.
const promotionConfig = `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop-staging, environment: staging}
spec: {content_types: [product, page]}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop-prod, environment: prod}
spec: {content_types: [product]}
---
apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: acme, app: shop}
spec:
  stages:
    - {environment: staging, soak: 1h}
    - {environment: prod}
`

func TestPromotionRoutes(t *testing.T) {
	t.Parallel()
	var now time.Time
	f := setup(t, func(o *Options) {
		o.Promotions = promote.New(promote.Options{Store: o.Store, State: o.State, Passes: o.Reconciler, Now: func() time.Time { return now }})
	})
	w := f.do(t, "POST", "/v1/config", promotionConfig, "Content-Type", "application/yaml")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	// staging's last pass verified it.
	rec, err := f.store.GetState(t.Context(), "acme", "shop-staging")
	require.NoError(t, err)
	now = time.Now().UTC()
	rec.Status, rec.LastVerified = store.StatusHealthy, &now
	_, err = f.store.UpdateState(t.Context(), rec)
	require.NoError(t, err)

	// Each stack answers the application it belongs to (the dashboard
	// reads its promotions from it).
	for _, id := range []string{"shop-staging", "shop-prod"} {
		require.Equal(t, "shop", decodeAs[stackAnswer](t, f.do(t, "GET", "/v1/stacks/acme/"+id, ""), http.StatusOK).App, id)
	}

	path := "/v1/clients/acme/apps/shop/promotions"
	requireError(t, f.do(t, "POST", "/v1/clients/nobody/apps/shop/promotions", `{"from": "staging", "to": "prod"}`), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "POST", "/v1/clients/acme/apps/blog/promotions", `{"from": "staging", "to": "prod"}`), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "POST", path, `{"from": "staging", "to": "qa"}`), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "POST", path, `{"from": "prod", "to": "staging"}`), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.do(t, "POST", path, `{"to": "prod"}`), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.do(t, "POST", path, `{"from": "staging", "to": "prod", "color": "red"}`), http.StatusBadRequest, codeBadRequest)
	w = f.do(t, "POST", path, `{"from": "staging", "to": "prod"}`)
	e := requireError(t, w, http.StatusConflict, "soaking")
	require.Contains(t, e.Error.Message, "remaining")
	require.Equal(t, "3600", w.Header().Get("Retry-After"))

	// An hour on: the dry run answers the plan; the promotion awaits
	// approval (prod).
	now = now.Add(time.Hour)
	plan := decodeAs[promotionAnswer](t, f.do(t, "POST", path, `{"from": "staging", "to": "prod", "dry_run": true}`), http.StatusOK)
	require.Nil(t, plan.Promotion)
	require.True(t, plan.Plan.NeedsApproval)
	require.Equal(t, "content_types", plan.Plan.Changes[0].Path)
	started := decodeAs[promotionAnswer](t, f.do(t, "POST", path, `{"from": "staging", "to": "prod"}`), http.StatusAccepted)
	require.Equal(t, store.PromotionAwaitingApproval, started.Promotion.Status)
	requireError(t, f.do(t, "POST", path, `{"from": "staging", "to": "prod"}`), http.StatusConflict, codeConflict)

	l := decodeAs[list[store.Promotion]](t, f.do(t, "GET", path, ""), http.StatusOK)
	require.Len(t, l.Items, 1)
	one := decodeAs[store.Promotion](t, f.do(t, "GET", path+"/"+started.Promotion.ID, ""), http.StatusOK)
	require.Equal(t, started.Promotion.ID, one.ID)
	requireError(t, f.do(t, "GET", "/v1/clients/acme/apps/other/promotions/"+started.Promotion.ID, ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "GET", "/v1/clients/acme/apps/blog/promotions", ""), http.StatusNotFound, codeNotFound)
}
