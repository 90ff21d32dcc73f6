package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// exceptionsOrg has a rule every stack breaks and declares an exception
// for acme-corp/status-page; declare adds another declared exception.
func exceptionsOrg(declare string) string {
	return `apiVersion: blackwell.io/v1
kind: OrganizationPolicy
metadata: {name: agency}
spec:
  rules:
    - {name: many-resources, mode: audit, expression: "size(stack.resources) > 50", message: too few resources}
    - {name: other, mode: audit, expression: "true"}
  exceptions:
    - {rule: many-resources, client_id: acme-corp, stack_id: status-page, owner: ops, reason: small site, expires: "2030-01-01T00:00:00Z"}
` + declare
}

// TestComplianceExceptions: exceptions added and removed through the API,
// kept in the stored policy across applies of the file unless the file
// declares the same one, judged at the time of use, refused when bad,
// audited; a client-scoped admin changes its own client's only.
func TestComplianceExceptions(t *testing.T) {
	t.Parallel()
	f := setupAuth(t)
	ctx := context.Background()
	path := "/v1/clients/acme-corp/compliance/exceptions"
	add := func(who, body string) *httptest.ResponseRecorder { return f.as(t, who, http.MethodPost, path, body) }
	in := func(d time.Duration) string { return f.now.Add(d).Format(time.RFC3339) }
	body := func(stack, reason, expires string) string {
		return `{"rule": "many-resources", "stack_id": "` + stack + `", "owner": "ana@example.com", "reason": "` + reason + `", "ticket": "OPS-1", "expires": "` + expires + `"}`
	}
	applyOrg := func(doc string) {
		w := f.as(t, "admin", http.MethodPost, "/v1/config", doc, "Content-Type", "application/yaml", filenameHeader, "org.yaml")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	excepted := func(stack string) bool {
		org, _, err := f.state.Organization(ctx)
		require.NoError(t, err)
		_, ok := org.Exception("many-resources", "acme-corp", stack, f.now)
		return ok
	}

	// Without an OrganizationPolicy there is no rule to except.
	requireError(t, add("admin", body("cms-ecom-prod", "migration", in(time.Hour))), http.StatusUnprocessableEntity, codeInvalid)
	applyOrg(exceptionsOrg(""))

	// Bad input: nothing written.
	for _, c := range []struct {
		body   string
		status int
		says   string
	}{
		{`{"rule": "nope", "owner": "o", "reason": "r", "expires": "` + in(time.Hour) + `"}`, 422, `declares no rule`},
		{body("cms-ecom-prod", "r", in(-time.Minute)), 422, "would have expired already"},
		{body("cms-ecom-prod", "r", "tomorrow"), 422, "not an RFC 3339 time"},
		{body("cms-ecom-prod", "", in(time.Hour)), 422, "needs a reason"},
		{`{"rule": "many-resources", "reason": "r", "expires": "` + in(time.Hour) + `"}`, 422, "needs an owner"},
		{body("nope", "r", in(time.Hour)), 404, "not found"},
		{body("status-page", "r", in(time.Hour)), 409, "declared there"},
	} {
		w := add("admin", c.body)
		require.Equal(t, c.status, w.Code, "%s: %s", c.body, w.Body.String())
		require.Contains(t, w.Body.String(), c.says)
	}
	require.False(t, excepted("cms-ecom-prod"))

	// Roles and scope: an operator may not; another client's admin may
	// not; the client's own scoped admin could (tested by the
	// cross-tenant suite for the refusals).
	requireError(t, add("acme-operator", body("cms-ecom-prod", "r", in(time.Hour))), http.StatusForbidden, codeForbidden)
	requireError(t, add("globex-admin", body("cms-ecom-prod", "r", in(time.Hour))), http.StatusForbidden, codeForbidden)

	// Added, then replaced.
	got := decodeAs[exceptionAnswer](t, add("admin", body("cms-ecom-prod", "migration", in(time.Hour))), http.StatusCreated)
	require.Equal(t, "api", got.Exception.Source)
	require.Equal(t, "OPS-1", got.Exception.Ticket)
	got = decodeAs[exceptionAnswer](t, add("admin", body("cms-ecom-prod", "migration, week 2", in(2*time.Hour))), http.StatusOK)
	require.True(t, got.Replaced)
	require.True(t, excepted("cms-ecom-prod"))
	list := decodeAs[exceptionList](t, f.as(t, "acme-viewer", http.MethodGet, path, ""), http.StatusOK)
	require.Len(t, list.Items, 2)
	require.Equal(t, "cms-ecom-prod", list.Items[0].StackID)
	require.Equal(t, "migration, week 2", list.Items[0].Reason)
	require.Equal(t, "status-page", list.Items[1].StackID)
	require.Empty(t, list.Items[1].Source, "declared by the file")
	audit, _, err := f.store.ListAudit(ctx, store.AuditQuery{Action: "exception_added", Limit: 10})
	require.NoError(t, err)
	require.Len(t, audit, 2)
	require.Contains(t, audit[0].TriggeredBy, "admin")

	// Applying the file again keeps it...
	applyOrg(exceptionsOrg(""))
	require.True(t, excepted("cms-ecom-prod"), "the API's exception survives an apply of the file")
	// ...unless the file declares the same one: the file's wins.
	applyOrg(exceptionsOrg(`    - {rule: many-resources, client_id: acme-corp, stack_id: cms-ecom-prod, owner: cto, reason: from the file, expires: "2030-01-01T00:00:00Z"}
`))
	list = decodeAs[exceptionList](t, f.as(t, "admin", http.MethodGet, path, ""), http.StatusOK)
	require.Len(t, list.Items, 2)
	require.Equal(t, "from the file", list.Items[0].Reason)
	require.Empty(t, list.Items[0].Source)
	w := f.as(t, "admin", http.MethodDelete, path+"?rule=many-resources&stack_id=cms-ecom-prod", "")
	requireError(t, w, http.StatusConflict, codeConflict)
	require.Contains(t, w.Body.String(), "remove it from the file")

	// A client-wide exception, judged at the time of use: expired, it
	// exempts nothing and is listed as expired.
	applyOrg(exceptionsOrg(""))
	got = decodeAs[exceptionAnswer](t, add("admin", `{"rule": "many-resources", "owner": "ana", "reason": "freeze", "expires": "`+in(time.Hour)+`"}`), http.StatusCreated)
	require.Empty(t, got.Exception.StackID)
	require.True(t, excepted("cms-ecom-prod"))
	f.now = f.now.Add(2 * time.Hour)
	require.False(t, excepted("cms-ecom-prod"), "expired")
	list = decodeAs[exceptionList](t, f.as(t, "admin", http.MethodGet, path, ""), http.StatusOK)
	require.Len(t, list.Items, 2)
	require.True(t, list.Items[0].Expired)
	// An apply drops it then.
	applyOrg(exceptionsOrg(""))
	list = decodeAs[exceptionList](t, f.as(t, "admin", http.MethodGet, path, ""), http.StatusOK)
	require.Len(t, list.Items, 1)

	// Removed through the API.
	decodeAs[exceptionAnswer](t, add("admin", body("cms-ecom-prod", "again", in(time.Hour))), http.StatusCreated)
	requireError(t, f.as(t, "admin", http.MethodDelete, path, ""), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.as(t, "globex-admin", http.MethodDelete, path+"?rule=many-resources&stack_id=cms-ecom-prod", ""), http.StatusForbidden, codeForbidden)
	gone := decodeAs[exceptionAnswer](t, f.as(t, "admin", http.MethodDelete, path+"?rule=many-resources&stack_id=cms-ecom-prod", ""), http.StatusOK)
	require.Equal(t, "again", gone.Exception.Reason)
	require.False(t, excepted("cms-ecom-prod"))
	requireError(t, f.as(t, "admin", http.MethodDelete, path+"?rule=many-resources&stack_id=cms-ecom-prod", ""), http.StatusNotFound, codeNotFound)
	audit, _, err = f.store.ListAudit(ctx, store.AuditQuery{Action: "exception_removed", Limit: 10})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.True(t, strings.Contains(string(audit[0].ChangesMade), `"reason":"again"`))
}

// replicaOrg is an OrganizationPolicy with one rule, for the replica tests.
const replicaOrg = `apiVersion: blackwell.io/v1
kind: OrganizationPolicy
metadata: {name: agency}
spec:
  rules:
    - {name: many-resources, mode: audit, expression: "size(stack.resources) > 50", message: too few resources}
`

// TestExceptionsAddedOnTwoReplicasAtOnce: exceptions added at once
// through two API replicas (each its own state service, one store) all
// land, or are refused with 409: none is silently lost. On SQLite and on
// PostgreSQL.
func TestExceptionsAddedOnTwoReplicasAtOnce(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var st store.Store
			if driver == "postgres" {
				st = pgtest.Store(t)
			} else {
				db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "shared.db"))
				require.NoError(t, err)
				t.Cleanup(func() { _ = db.Close() })
				st = db
			}
			now := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
			replica := func() *fixture {
				return setup(t, func(o *Options) {
					o.Store, o.State = st, state.New(st, state.Options{Now: func() time.Time { return now }})
				})
			}
			replicas := []*fixture{replica(), replica()}
			w := replicas[0].do(t, http.MethodPost, "/v1/config", replicaOrg, "Content-Type", "application/yaml", filenameHeader, "org.yaml")
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())

			const perReplica = 12
			answers := make([]*httptest.ResponseRecorder, 2*perReplica)
			var wg sync.WaitGroup
			for i := range answers {
				wg.Go(func() {
					body := fmt.Sprintf(`{"rule": "many-resources", "owner": "ops", "reason": "replica %d", "expires": "2027-01-01T00:00:00Z"}`, i%2)
					answers[i] = replicas[i%2].do(t, http.MethodPost, fmt.Sprintf("/v1/clients/c%02d/compliance/exceptions", i), body)
				})
			}
			wg.Wait()
			var added []string
			refused := 0
			for i, w := range answers {
				switch w.Code {
				case http.StatusCreated:
					added = append(added, fmt.Sprintf("c%02d", i))
				case http.StatusConflict:
					e := requireError(t, w, http.StatusConflict, codeConflict)
					require.Contains(t, e.Error.Message, "changed concurrently")
					refused++
				default:
					t.Fatalf("add %d: %d %s", i, w.Code, w.Body.String())
				}
			}
			t.Logf("%d added, %d refused with 409", len(added), refused)
			for _, f := range replicas {
				items, err := f.srv.opts.State.Exceptions(ctx, "")
				require.NoError(t, err)
				var stored []string
				for _, x := range items {
					stored = append(stored, x.ClientID)
				}
				require.ElementsMatch(t, added, stored, "every exception answered 201 is stored, and only those")
			}
			audit, _, err := st.ListAudit(ctx, store.AuditQuery{Action: "exception_added", Limit: 100})
			require.NoError(t, err)
			require.Len(t, audit, len(added), "one audit entry per exception added")
		})
	}
}

// conflictingStore is a store on which every compare-and-swap of the
// OrganizationPolicy loses (another replica always wrote first).
type conflictingStore struct{ store.Store }

func (conflictingStore) SwapOrganizationPolicy(context.Context, store.OrganizationPolicyRecord, store.OrganizationPolicyRecord) error {
	return fmt.Errorf("swap organization policy: %w: changed", store.ErrConflict)
}

// TestExceptionConflictAnswers409: when the OrganizationPolicy changes
// under every attempt to write it, the add and the remove are refused
// with 409 and say why; nothing is written.
func TestExceptionConflictAnswers409(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.do(t, http.MethodPost, "/v1/config", replicaOrg, "Content-Type", "application/yaml", filenameHeader, "org.yaml")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	path := "/v1/clients/acme-corp/compliance/exceptions"
	decodeAs[exceptionAnswer](t, f.do(t, http.MethodPost, path, `{"rule": "many-resources", "owner": "ops", "reason": "r", "expires": "2030-01-01T00:00:00Z"}`), http.StatusCreated)
	g := setup(t, func(o *Options) {
		cs := conflictingStore{Store: f.store}
		o.Store, o.State = cs, state.New(cs, state.Options{})
	})
	e := requireError(t, g.do(t, http.MethodPost, path, `{"rule": "many-resources", "owner": "ops", "reason": "other", "expires": "2030-01-01T00:00:00Z"}`),
		http.StatusConflict, codeConflict)
	require.Contains(t, e.Error.Message, "changed concurrently")
	require.Contains(t, e.Error.Message, "nothing was written")
	requireError(t, g.do(t, http.MethodDelete, path+"?rule=many-resources", ""), http.StatusConflict, codeConflict)
	list := decodeAs[exceptionList](t, f.do(t, http.MethodGet, path, ""), http.StatusOK)
	require.Len(t, list.Items, 1)
	require.Equal(t, "r", list.Items[0].Reason, "unchanged")
	audit, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{Action: "exception_added", Limit: 10})
	require.NoError(t, err)
	require.Len(t, audit, 1, "a refused change is not audited")
}
