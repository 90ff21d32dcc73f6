package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/erase"
	"github.com/blackwellio/blackwell/internal/store"
)

// seedOrders stores one full orders/create event per client naming the
// same customer's email.
func (f *fixture) seedOrders(t *testing.T, email string, clients ...string) {
	t.Helper()
	var in []store.Event
	for _, c := range clients {
		in = append(in, store.Event{EventID: "shopify:" + c + ":o1", ClientID: c, ProviderName: "shopify", EventType: "order.created",
			ContentID: "1001", Timestamp: f.now, TTLTimestamp: f.now.Add(time.Hour).Unix(),
			Payload: json.RawMessage(`{"id":1001,"email":"` + email + `","customer":{"id":42}}`)})
	}
	_, err := f.store.InsertEvents(context.Background(), in)
	require.NoError(t, err)
}

func (f *fixture) eventCount(t *testing.T, client string) int {
	t.Helper()
	evs, _, err := f.store.ListEvents(context.Background(), store.EventQuery{ClientID: client})
	require.NoError(t, err)
	return len(evs)
}

func TestEraseRoute(t *testing.T) {
	t.Parallel()
	f := setupAuth(t)
	const email = "ann.erase@example.com"
	f.seedOrders(t, email, "acme-corp", "globex")
	const path = "/v1/clients/acme-corp/erase"
	body := `{"subject":"` + email + `"}`

	// Admin only; a client-scoped admin only for its own client.
	for _, who := range []string{"viewer", "operator", "acme-viewer", "acme-operator", "globex-admin"} {
		requireError(t, f.as(t, who, http.MethodPost, path, body), http.StatusForbidden, codeForbidden)
	}
	require.Equal(t, 1, f.eventCount(t, "acme-corp"), "refused requests erase nothing")

	// Exactly one of subject, shop or all.
	for _, b := range []string{`{}`, `{"subject":" "}`, `{"subject":"x","all":true}`, `{"shop":"a.myshopify.com","subjects":["x"]}`} {
		requireError(t, f.as(t, "admin", http.MethodPost, path, b), http.StatusUnprocessableEntity, codeInvalid)
	}
	requireError(t, f.as(t, "admin", http.MethodPost, path, `{"subject":"x","everything":true}`), http.StatusBadRequest, codeBadRequest)

	// A dry run finds and keeps.
	w := f.as(t, "admin", http.MethodPost, path, `{"subject":"`+email+`","dry_run":true}`)
	got := decodeAs[eraseAnswer](t, w, http.StatusOK)
	require.Equal(t, "acme-corp", got.ClientID)
	require.True(t, got.DryRun)
	require.Equal(t, 1, got.Events)
	require.Equal(t, 1, f.eventCount(t, "acme-corp"))

	// The erasure: acme-corp's event goes, globex's stays.
	w = f.as(t, "globex-admin", http.MethodPost, "/v1/clients/globex/erase", `{"subjects":["nobody@example.com"]}`)
	require.Equal(t, 0, decodeAs[eraseAnswer](t, w, http.StatusOK).Events)
	w = f.as(t, "admin", http.MethodPost, path, body)
	got = decodeAs[eraseAnswer](t, w, http.StatusOK)
	require.False(t, got.DryRun)
	require.Equal(t, "subject", got.Scope)
	require.Equal(t, 1, got.Events)
	require.Len(t, got.SHA256, 64)
	require.Zero(t, f.eventCount(t, "acme-corp"))
	require.Equal(t, 1, f.eventCount(t, "globex"))

	// Audited with the token and the counts, never the subject.
	entries, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{ClientID: "acme-corp", Action: erase.ActionErased})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Contains(t, entries[0].TriggeredBy, f.ids["admin"])
	require.Contains(t, string(entries[0].ChangesMade), got.SHA256)
	require.NotContains(t, string(entries[0].ChangesMade), "ann.erase")
	found, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{ClientID: "acme-corp", Action: erase.ActionDataRequest})
	require.NoError(t, err)
	require.Len(t, found, 1, "the dry run is a data request")
}

func TestStackRetention(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.EventRetention, o.HistoryRetention = 30*24*time.Hour, 7*24*time.Hour })
	f.seed(t)
	type answer struct {
		ClientID  string                            `json:"client_id"`
		StackID   string                            `json:"stack_id"`
		Retention *struct{ Events, History string } `json:"retention"`
	}
	list := func() map[string]string {
		page := decodeAs[struct{ Items []answer }](t, f.do(t, http.MethodGet, "/v1/stacks", ""), http.StatusOK)
		out := map[string]string{}
		for _, a := range page.Items {
			require.NotNil(t, a.Retention, a.StackID)
			out[a.ClientID+"/"+a.StackID] = a.Retention.Events + " " + a.Retention.History
		}
		return out
	}
	require.Equal(t, map[string]string{
		"acme-corp/cms-ecom-prod": "720h0m0s 168h0m0s", "acme-corp/status-page": "720h0m0s 168h0m0s", "globex/site": "720h0m0s 168h0m0s",
	}, list(), "the server's, where no policy sets them")

	put := func(target, spec string) {
		t.Helper()
		require.Equal(t, http.StatusOK, f.do(t, http.MethodPut, target, spec).Code)
	}
	put("/v1/clients/acme-corp/policy", `{"observability":{"history_retention":"90d"},"events":{"retention":"2d"}}`)
	put("/v1/clients/acme-corp/policy?stack_id=status-page", `{"observability":{"history_retention":"1d"}}`)
	require.Equal(t, map[string]string{
		"acme-corp/cms-ecom-prod": "48h0m0s 2160h0m0s",
		// The stack's own policy is its effective one: the server's events retention.
		"acme-corp/status-page": "720h0m0s 24h0m0s",
		"globex/site":           "720h0m0s 168h0m0s",
	}, list())

	one := decodeAs[answer](t, f.do(t, http.MethodGet, "/v1/stacks/acme-corp/cms-ecom-prod", ""), http.StatusOK)
	require.Equal(t, "48h0m0s", one.Retention.Events)
	require.Equal(t, "2160h0m0s", one.Retention.History)
}
