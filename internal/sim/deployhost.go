package sim

// DeployHost fakes the deploy API of a static-site host, one site or
// project, in the flavour of:
//   - Netlify (https://docs.netlify.com/api/get-started/ and the open-api
//     document at https://open-api.netlify.com): GET /api/v1/sites/{site_id}
//     (its published_deploy), GET /api/v1/sites/{site_id}/deploys
//     (page/per_page, newest first, a Link header to the next page),
//     POST /api/v1/sites/{site_id}/deploys/{deploy_id}/restore (the deploy
//     becomes the published one; the answer is the deploy); errors
//     {"code","message"};
//   - Vercel (https://vercel.com/docs/rest-api): GET /v9/projects/{idOrName}
//     (targets.production, the deployment serving production),
//     GET /v6/deployments?projectId=&target=production (limit, until;
//     {"deployments","pagination":{"count","next","prev"}}, newest first),
//     POST /v1/projects/{projectId}/rollback/{deploymentId} (201; after an
//     instant rollback, new production deployments are not assigned the
//     production domains until a promote), POST
//     /v10/projects/{projectId}/promote/{deploymentId} (201; turns
//     assignment back on); errors {"error":{"code","message"}};
//   - Cloudflare Pages (https://developers.cloudflare.com/api/resources/pages/):
//     GET /client/v4/accounts/{account_id}/pages/projects/{project_name}
//     (canonical_deployment), GET .../deployments (page/per_page,
//     result_info), POST .../deployments/{deployment_id}/rollback (the
//     envelope {"success","errors","messages","result"} around the
//     deployment; only a successful production deployment is a target).
//
// Every request needs Authorization: Bearer <token>. Faults come from the
// embedded APIFaults (429 with the host's wait header, 500, HTML, cut
// bodies, slowness). A deployment is what a build published: Publish
// makes one (a build hook's build), and OnLive tells a world which one
// serves the site.

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultDeployToken is the token a fake DeployHost accepts.
const DefaultDeployToken = "sim-deploy-api-token"

// DeployHostOptions configure a DeployHost.
type DeployHostOptions struct {
	Addr   string
	Flavor BuildHookFlavor
	// Site is the Netlify site id, the Vercel project id or the
	// Cloudflare Pages project name (default "sim-site").
	Site string
	// Account is the Cloudflare account id (default "simaccount").
	Account string
	Token   string
	Logger  *slog.Logger
}

// SimDeploy is a deployment the host holds.
type SimDeploy struct {
	ID string
	// Commit is the source commit it was built from.
	Commit string
	// Ready: the build succeeded (a failed one cannot go live).
	Ready     bool
	CreatedAt time.Time
}

// DeployHost is a fake static-site host's deploy API.
type DeployHost struct {
	APIFaults
	opts DeployHostOptions
	srv  *apiServer

	mu      sync.Mutex
	deploys []SimDeploy // oldest first
	live    string
	// held: a Vercel instant rollback turned off the assignment of new
	// production deployments until a promote.
	held     bool
	onLive   func(SimDeploy)
	restores int
}

// NewDeployHost starts a fake deploy API.
func NewDeployHost(opts DeployHostOptions) (*DeployHost, error) {
	if opts.Flavor == "" {
		opts.Flavor = FlavorNetlify
	}
	if opts.Site == "" {
		opts.Site = "sim-site"
	}
	if opts.Account == "" {
		opts.Account = "simaccount"
	}
	if opts.Token == "" {
		opts.Token = DefaultDeployToken
	}
	h := &DeployHost{APIFaults: newAPIFaults(), opts: opts}
	mux := http.NewServeMux()
	switch opts.Flavor {
	case FlavorVercel:
		mux.HandleFunc("GET /v9/projects/{project}", h.vercelProject)
		mux.HandleFunc("GET /v6/deployments", h.vercelList)
		mux.HandleFunc("POST /v1/projects/{project}/rollback/{id}", h.vercelRollback)
		mux.HandleFunc("POST /v10/projects/{project}/promote/{id}", h.vercelPromote)
	case FlavorCloudflare:
		base := "/client/v4/accounts/{account}/pages/projects/{project}"
		mux.HandleFunc("GET "+base, h.cfProject)
		mux.HandleFunc("GET "+base+"/deployments", h.cfList)
		mux.HandleFunc("POST "+base+"/deployments/{id}/rollback", h.cfRollback)
	default:
		mux.HandleFunc("GET /api/v1/sites/{site}", h.netlifySite)
		mux.HandleFunc("GET /api/v1/sites/{site}/deploys", h.netlifyList)
		mux.HandleFunc("POST /api/v1/sites/{site}/deploys/{id}/restore", h.netlifyRestore)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { h.fail(w, http.StatusNotFound, "Not Found") })
	srv, err := startAPIServer(opts.Addr, h.guard(mux), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim deploy host: %w", err)
	}
	h.srv = srv
	return h, nil
}

// URL is the API base (build.api_base of an ssg binding).
func (h *DeployHost) URL() string { return h.srv.url }

// Site is the site id or project (build.site).
func (h *DeployHost) Site() string { return h.opts.Site }

// Account is the Cloudflare account id (build.account).
func (h *DeployHost) Account() string { return h.opts.Account }

// Token is the API token the fake accepts.
func (h *DeployHost) Token() string { return h.opts.Token }

// Close stops the fake.
func (h *DeployHost) Close() {
	h.closeFaults()
	h.srv.close()
}

// OnLive sets a function called, outside the fake's lock, whenever a
// deployment is made live: a publish that changes the live one, and every
// restore or rollback, even to the live one (the host publishes it again).
func (h *DeployHost) OnLive(fn func(SimDeploy)) {
	h.mu.Lock()
	h.onLive = fn
	h.mu.Unlock()
}

// Publish records a deployment built from commit; a ready one goes live
// (unless a Vercel rollback holds production). It returns the deployment.
func (h *DeployHost) Publish(commit string, ready bool) SimDeploy {
	h.mu.Lock()
	d := SimDeploy{ID: fmt.Sprintf("%s%06d", h.idPrefix(), len(h.deploys)+1), Commit: commit, Ready: ready,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	h.deploys = append(h.deploys, d)
	goLive := ready && !h.held
	h.mu.Unlock()
	if goLive {
		h.setLive(d.ID, false)
	}
	return d
}

func (h *DeployHost) idPrefix() string {
	switch h.opts.Flavor {
	case FlavorVercel:
		return "dpl_sim"
	case FlavorCloudflare:
		return "cf-sim-"
	}
	return "nf-sim-"
}

// setLive makes id the live deployment and tells OnLive when it changed
// or always is set.
func (h *DeployHost) setLive(id string, always bool) {
	h.mu.Lock()
	changed := always || h.live != id
	h.live = id
	d, _ := h.findLocked(id)
	fn := h.onLive
	h.mu.Unlock()
	if changed && fn != nil {
		fn(d)
	}
}

// Live is the deployment serving the site (zero before any).
func (h *DeployHost) Live() SimDeploy {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, _ := h.findLocked(h.live)
	return d
}

// Deploys lists the deployments, oldest first.
func (h *DeployHost) Deploys() []SimDeploy {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]SimDeploy(nil), h.deploys...)
}

// Restores counts the rollbacks (restore, rollback, promote) the API
// performed.
func (h *DeployHost) Restores() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.restores
}

func (h *DeployHost) findLocked(id string) (SimDeploy, bool) {
	for _, d := range h.deploys {
		if d.ID == id {
			return d, true
		}
	}
	return SimDeploy{}, false
}

// rollTo makes id live as the host's rollback does: 404 for an unknown
// deployment, 422 (Cloudflare 400) for one that did not build.
func (h *DeployHost) rollTo(w http.ResponseWriter, id string, hold bool) (SimDeploy, bool) {
	h.mu.Lock()
	d, ok := h.findLocked(id)
	if ok && d.Ready {
		h.restores++
		h.held = hold
	}
	h.mu.Unlock()
	switch {
	case !ok:
		h.fail(w, http.StatusNotFound, "Not Found")
		return d, false
	case !d.Ready:
		status := http.StatusUnprocessableEntity
		if h.opts.Flavor == FlavorCloudflare {
			status = http.StatusBadRequest
		}
		h.fail(w, status, "deployment "+id+" did not build successfully and cannot be made live")
		return d, false
	}
	h.setLive(id, true)
	return d, true
}

// fail answers an error in the host's own shape.
func (h *DeployHost) fail(w http.ResponseWriter, status int, msg string) {
	switch h.opts.Flavor {
	case FlavorVercel:
		genericJSON(w, status, map[string]any{"error": map[string]any{"code": vercelCode(status), "message": msg}})
	case FlavorCloudflare:
		genericJSON(w, status, map[string]any{"success": false, "errors": []any{map[string]any{"code": 8000000 + status, "message": msg}},
			"messages": []any{}, "result": nil})
	default:
		genericJSON(w, status, map[string]any{"code": status, "message": msg})
	}
}

func vercelCode(status int) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	return "bad_request"
}

// guard answers faults, rate limits and a missing token before the API.
func (h *DeployHost) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, wait, ok := h.take(w, r)
		if !ok {
			return
		}
		switch {
		case kind == faultServerError:
			h.fail(w, http.StatusInternalServerError, "Internal Server Error")
		case kind == faultRateLimit:
			secs := int(max(1, (wait+time.Second-1)/time.Second))
			// Netlify and Vercel say when the window resets (epoch
			// seconds); Cloudflare says Retry-After.
			if h.opts.Flavor == FlavorCloudflare {
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			} else {
				w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Duration(secs)*time.Second).Unix(), 10))
			}
			h.fail(w, http.StatusTooManyRequests, "Rate limit exceeded")
		case r.Header.Get("Authorization") != "Bearer "+h.opts.Token:
			h.fail(w, http.StatusUnauthorized, "Access Denied: the token is missing or invalid")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// page reads page and per_page (Netlify, Cloudflare): 1-based, at most
// 100 a page.
func page(r *http.Request, defPer int) (int, int, bool) {
	q := r.URL.Query()
	p, per := 1, defPer
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, false
		}
		p = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, false
		}
		per = n
	}
	return p, per, true
}

// newestFirst returns the deployments newest first.
func (h *DeployHost) newestFirst() []SimDeploy {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]SimDeploy, 0, len(h.deploys))
	for i := len(h.deploys) - 1; i >= 0; i-- {
		out = append(out, h.deploys[i])
	}
	return out
}
