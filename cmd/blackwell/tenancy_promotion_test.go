package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// seedPromotions writes a finished promotion of each tenant's application
// (its stack in prod is the application of its stack id) before serve
// starts, for the promotion routes of the cross-tenant suite.
func seedPromotions(t *testing.T, path string, tenants ...*tenant) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	now := time.Now().UTC()
	for _, tn := range tenants {
		_, err := st.CreatePromotion(ctx, store.Promotion{
			ID: tenancyPromotionID(tn), ClientID: tn.client, App: tn.stack, From: "staging", To: "prod",
			FromStack: tn.stack + "-staging", ToStack: tn.stack, FromVersion: "v1.0.0", PreviousVersion: "v1.0.0",
			Status: store.PromotionSucceeded, RequestedBy: "tenancy suite", CreatedAt: now, UpdatedAt: now, CompletedAt: &now,
		}, nil, nil)
		require.NoError(t, err)
	}
}

// tenancyPromotionID is the promotion seedPromotions writes for tn.
func tenancyPromotionID(tn *tenant) string { return "prom-" + tn.client }
