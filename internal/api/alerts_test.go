package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAlerts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)

	// An Alertmanager payload as its webhook receiver sends it: one firing
	// alert per stack, one resolved (ignored), one for a whole client.
	alertmanager := `{
  "version": "4", "groupKey": "{}:{alertname=\"SiteDown\"}", "truncatedAlerts": 0, "status": "firing",
  "receiver": "blackwell", "groupLabels": {"alertname": "SiteDown"}, "commonLabels": {}, "commonAnnotations": {},
  "externalURL": "http://alertmanager:9093",
  "alerts": [
    {"status": "firing", "labels": {"alertname": "SiteDown", "client_id": "acme-corp", "stack_id": "cms-ecom-prod"},
     "annotations": {"summary": "site down"}, "startsAt": "2025-10-10T04:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
     "generatorURL": "http://prometheus/graph", "fingerprint": "a1"},
    {"status": "resolved", "labels": {"alertname": "SiteDown", "client_id": "acme-corp", "stack_id": "status-page"}},
    {"status": "firing", "labels": {"alertname": "Lag", "client_id": "globex"}},
    {"status": "firing", "labels": {"alertname": "SiteDown", "client_id": "acme-corp", "stack_id": "cms-ecom-prod"}},
    {"status": "firing", "labels": {"alertname": "Gone", "client_id": "acme-corp", "stack_id": "gone"}}
  ]
}`
	ans := decodeAs[alertAnswer](t, f.do(t, http.MethodPost, "/v1/alerts", alertmanager), http.StatusAccepted)
	require.Equal(t, []string{"acme-corp/cms-ecom-prod", "globex/site"}, ans.Accepted, "each stack once; resolved alerts ignored")
	require.Equal(t, []string{"acme-corp/gone"}, ans.Unknown)
	require.Equal(t, []string{"acme-corp/cms-ecom-prod alert", "globex/site alert"}, f.rec.triggered())

	// The plain form, for one stack and for a whole client.
	ans = decodeAs[alertAnswer](t, f.do(t, http.MethodPost, "/v1/alerts",
		`{"client_id": "acme-corp", "stack_id": "status-page", "reason": "synthetic check failed"}`), http.StatusAccepted)
	require.Equal(t, []string{"acme-corp/status-page"}, ans.Accepted)
	ans = decodeAs[alertAnswer](t, f.do(t, http.MethodPost, "/v1/alerts", `{"client_id": "acme-corp"}`), http.StatusAccepted)
	require.Equal(t, []string{"acme-corp/cms-ecom-prod", "acme-corp/status-page"}, ans.Accepted)
	require.Contains(t, f.logs.String(), "synthetic check failed")

	// Everything resolved: nothing to do.
	ans = decodeAs[alertAnswer](t, f.do(t, http.MethodPost, "/v1/alerts",
		`{"status": "resolved", "alerts": [{"status": "resolved", "labels": {"client_id": "acme-corp"}}]}`), http.StatusAccepted)
	require.Empty(t, ans.Accepted)

	before := len(f.rec.triggered())
	for _, c := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"client_id": "initech"}`, http.StatusNotFound, codeNotFound},
		{`{"client_id": "acme-corp", "stack_id": "nope"}`, http.StatusNotFound, codeNotFound},
		{`{"alerts": [{"status": "firing", "labels": {"client_id": "initech"}}]}`, http.StatusNotFound, codeNotFound},
		{`{"reason": "no client"}`, http.StatusUnprocessableEntity, codeInvalid},
		{`{"alerts": [{"status": "firing", "labels": {"alertname": "NoLabels"}}]}`, http.StatusUnprocessableEntity, codeInvalid},
		{``, http.StatusUnprocessableEntity, codeInvalid},
		{`{"client_id": `, http.StatusBadRequest, codeBadRequest},
		{`{"client_id": 5}`, http.StatusBadRequest, codeBadRequest},
	} {
		w := f.do(t, http.MethodPost, "/v1/alerts", c.body)
		e := decodeAs[errorBody](t, w, c.status)
		require.Equal(t, c.code, e.Error.Code, c.body)
	}
	require.Len(t, f.rec.triggered(), before, "a refused alert triggers nothing")

	w := f.do(t, http.MethodPost, "/v1/alerts", `{"client_id": "acme-corp"}`, "Content-Type", "text/plain")
	require.Equal(t, http.StatusUnsupportedMediaType, w.Code)
}

func TestAlertsWithoutLoop(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.Reconciler = nil })
	w := f.do(t, http.MethodPost, "/v1/alerts", `{"client_id": "acme-corp"}`)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	w = f.do(t, http.MethodPost, "/v1/webhooks/shopify/acme-corp", `{}`)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, "no gateway wired")
}
