package api

import (
	"net/http"
	"testing"
)

func TestWholeChainIsRefusedWithAFilter(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, q := range []string{"client_id=acme", "action=policy_changed", "since=2025-01-01T00:00:00Z"} {
		w := f.do(t, "GET", "/v1/audit?chain=whole&"+q, "")
		requireError(t, w, http.StatusBadRequest, codeBadRequest)
	}
	requireError(t, f.do(t, "GET", "/v1/audit?chain=some", ""), http.StatusBadRequest, codeBadRequest)
	if w := f.do(t, "GET", "/v1/audit?chain=whole", ""); w.Code != http.StatusOK {
		t.Fatalf("chain=whole with the bootstrap token: %d %s", w.Code, w.Body.String())
	}
}
