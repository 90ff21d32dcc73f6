package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/report"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// reportWorld seeds the fixture's stacks and, in the audit log, a drift of
// acme-corp acknowledged as a false positive and a healed drift of globex.
func reportWorld(t *testing.T) *fixture {
	t.Helper()
	f := setup(t)
	f.now = time.Date(2025, 10, 10, 0, 0, 0, 0, time.UTC)
	f.seed(t)
	f.now = f.now.Add(time.Hour)
	d := drift.Drift{Code: drift.ResourceUnhealthy, Component: "site", Expected: "healthy", Observed: "500", Confirmed: true}
	f.seedDrift(t, "acme-corp", "cms-ecom-prod", d)
	id := drift.ID("acme-corp", "cms-ecom-prod", drift.TypeResource, "site")
	at := f.now
	changes := func(v map[string]any) json.RawMessage { b, _ := json.Marshal(v); return b }
	require.NoError(t, f.store.AppendAudit(context.Background(), []store.AuditEntry{
		{Timestamp: at, Action: "drift_detected", ClientID: "acme-corp", StackID: "cms-ecom-prod", DriftID: id,
			ChangesMade: changes(map[string]any{"first_seen": at.Add(-90 * time.Second)})},
		{Timestamp: at.Add(time.Minute), Action: "drift_detected", ClientID: "globex", StackID: "site", DriftID: "g1",
			ChangesMade: changes(map[string]any{"first_seen": at})},
		{Timestamp: at.Add(3 * time.Minute), Action: "heal_succeeded", ClientID: "globex", StackID: "site", DriftID: "g1"},
		{Timestamp: at.Add(3 * time.Minute), Action: "drift_resolved", ClientID: "globex", StackID: "site", DriftID: "g1"},
	}))
	f.now = at.Add(10 * time.Minute)
	w := f.do(t, "POST", "/v1/clients/acme-corp/drift/"+id+"/ack", `{"reason":"false_positive"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	f.now = at.Add(2 * time.Hour)
	return f
}

// TestReport: the default period is the 30 days to now; the figures come
// from the audit entries, and the report names the chain's head.
func TestReport(t *testing.T) {
	t.Parallel()
	f := reportWorld(t)
	r := decodeAs[report.Report](t, f.do(t, "GET", "/v1/reports", ""), http.StatusOK)
	require.Equal(t, f.now.Add(-30*24*time.Hour), r.From)
	require.Equal(t, f.now, r.To)
	head, err := f.store.AuditChainHead(context.Background())
	require.NoError(t, err)
	require.Equal(t, head.Seq, r.Source.HeadSeq)
	require.Equal(t, head.Hash, r.Source.HeadHash)

	require.Equal(t, 3, r.Overall.Stacks)
	require.Equal(t, 2, r.Overall.DriftsDetected)
	require.Equal(t, 1, r.Overall.FalsePositives)
	require.Equal(t, map[string]int{"false_positive": 1}, r.Overall.Acknowledgements)
	require.Len(t, r.Clients, 2)
	globex := r.Clients[1]
	require.Equal(t, "globex", globex.ClientID)
	require.Equal(t, 180.0, *globex.TimeToHeal.MeanSeconds)
	require.Equal(t, 1.0, *globex.AutomationRate)

	// A period that ends before the drifts: none.
	r = decodeAs[report.Report](t, f.do(t, "GET", "/v1/reports?from=2025-10-09T00:00:00Z&to=2025-10-10T00:30:00Z", ""), http.StatusOK)
	require.Zero(t, r.Overall.DriftsDetected)
	require.Equal(t, 1.0, *r.Overall.Compliance)
}

// TestReportFormats: CSV and HTML come with their media types; the HTML
// runs and fetches nothing (its Content-Security-Policy says so too).
func TestReportFormats(t *testing.T) {
	t.Parallel()
	f := reportWorld(t)
	w := f.do(t, "GET", "/v1/reports?client_id=globex&format=csv", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "text/csv; charset=utf-8", w.Header().Get("Content-Type"))
	require.True(t, strings.HasPrefix(w.Body.String(), "scope,client_id,figure,value,"))
	require.Contains(t, w.Body.String(), "\nclient,globex,mtth,180,seconds,<,300,true,1,")

	w = f.do(t, "GET", "/v1/reports?format=html", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	require.Equal(t, reportCSP, w.Header().Get("Content-Security-Policy"))
	require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	require.Contains(t, w.Body.String(), "<svg ")
	require.Contains(t, w.Body.String(), "blackwell audit verify --expect-head ")
}

// TestReportRefusals: bad parameters are 400; an unknown client is 404; a
// token scoped to a client gets that client's report only.
func TestReportRefusals(t *testing.T) {
	t.Parallel()
	f := reportWorld(t)
	for target, want := range map[string]string{
		"/v1/reports?format=pdf":                                        `unknown report format "pdf": want json, csv or html`,
		"/v1/reports?from=yesterday":                                    `from must be an RFC 3339 time like 2025-10-10T04:00:00Z, not "yesterday"`,
		"/v1/reports?from=2025-10-10T00:00:00Z&to=2025-10-09T00:00:00Z": "to (2025-10-09T00:00:00Z) must be after from (2025-10-10T00:00:00Z)",
	} {
		e := requireError(t, f.do(t, "GET", target, ""), http.StatusBadRequest, codeBadRequest)
		require.Equal(t, want, e.Error.Message, target)
	}
	e := requireError(t, f.do(t, "GET", "/v1/reports?client_id=initech", ""), http.StatusNotFound, codeNotFound)
	require.Equal(t, "client initech not found", e.Error.Message)

	_, scoped, err := f.state.CreateToken(context.Background(), state.NewToken{Name: "g", Role: store.RoleViewer, ClientID: "globex"}, "test")
	require.NoError(t, err)
	r := decodeAs[report.Report](t, f.do(t, "GET", "/v1/reports", "", "Authorization", "Bearer "+scoped), http.StatusOK)
	require.Equal(t, "globex", r.ClientID)
	require.Len(t, r.Clients, 1)
	require.Equal(t, "globex", r.Clients[0].ClientID)
	requireError(t, f.do(t, "GET", "/v1/reports?client_id=acme-corp", "", "Authorization", "Bearer "+scoped), http.StatusForbidden, codeForbidden)
}
