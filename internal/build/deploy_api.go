package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/redact"
)

// The hosts' API addresses, used when build.deploy.api_base is unset.
const (
	netlifyAPI    = "https://api.netlify.com"
	vercelAPI     = "https://api.vercel.com"
	cloudflareAPI = "https://api.cloudflare.com"
)

// Deployment is a host's deployment as its deploy API answers it.
type Deployment struct {
	ID string `json:"id"`
	// Commit is the source commit it was built from, where the host says.
	Commit string `json:"commit,omitempty"`
}

// DeployClient calls a static-site host's deploy API (build.deploy):
// which deployment serves production, and making an earlier one serve it
// again. The calls, after each host's public reference:
//   - Netlify (https://docs.netlify.com/api/get-started/): GET
//     /api/v1/sites/{site_id} (published_deploy) and POST
//     /api/v1/sites/{site_id}/deploys/{deploy_id}/restore;
//   - Vercel (https://vercel.com/docs/rest-api): GET
//     /v9/projects/{project} (targets.production) and POST
//     /v1/projects/{project}/rollback/{deployment_id}, an instant rollback
//     (production then stays on it, new deployments unassigned, until a
//     promote: POST /v10/projects/{project}/promote/{deployment_id});
//   - Cloudflare Pages (https://developers.cloudflare.com/api/resources/pages/):
//     GET /client/v4/accounts/{account}/pages/projects/{project}
//     (canonical_deployment) and POST
//     .../deployments/{deployment_id}/rollback.
//
// Errors wrap provider.ErrUnauthorized, ErrNotFound, ErrRateLimited or
// ErrUnreachable; the token never reaches an error.
type DeployClient struct {
	hc      *http.Client
	timeout time.Duration
}

// NewDeployClient returns a DeployClient sending with hc (nil: a plain
// client) and bounding each call by timeout (<= 0: DefaultHookTimeout).
func NewDeployClient(hc *http.Client, timeout time.Duration) *DeployClient {
	if hc == nil {
		hc = &http.Client{}
	}
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	return &DeployClient{hc: hc, timeout: timeout}
}

// Live returns the deployment serving the site's production; ID is empty
// when the host has none yet.
func (c *DeployClient) Live(ctx context.Context, d config.DeployAPI) (Deployment, error) {
	var path string
	switch d.Host {
	case config.HostNetlify:
		path = "/api/v1/sites/" + url.PathEscape(d.Site)
	case config.HostVercel:
		path = "/v9/projects/" + url.PathEscape(d.Site)
	case config.HostCloudflare:
		path = cloudflareProject(d)
	default:
		return Deployment{}, provider.ConfigError("build.deploy.host %q is not netlify, vercel or cloudflare", d.Host)
	}
	var raw json.RawMessage
	if err := c.call(ctx, d, http.MethodGet, path, &raw); err != nil {
		return Deployment{}, err
	}
	live, err := ParseLive(d.Host, raw)
	if err != nil {
		return Deployment{}, fmt.Errorf("GET %s: %w: %v", path, provider.ErrUnreachable, err)
	}
	return live, nil
}

// ParseLive reads the live deployment from a host's answer: Netlify's
// site (published_deploy), Vercel's project (targets.production),
// Cloudflare's project envelope (result.canonical_deployment). An answer
// without one is the zero Deployment.
func ParseLive(host string, body []byte) (Deployment, error) {
	switch host {
	case config.HostNetlify:
		var site struct {
			Published *struct {
				ID        string `json:"id"`
				CommitRef string `json:"commit_ref"`
			} `json:"published_deploy"`
		}
		if err := json.Unmarshal(body, &site); err != nil || site.Published == nil {
			return Deployment{}, err
		}
		return Deployment{ID: site.Published.ID, Commit: site.Published.CommitRef}, nil
	case config.HostVercel:
		var project struct {
			Targets map[string]*struct {
				ID   string            `json:"id"`
				Meta map[string]string `json:"meta"`
			} `json:"targets"`
		}
		if err := json.Unmarshal(body, &project); err != nil || project.Targets["production"] == nil {
			return Deployment{}, err
		}
		prod := project.Targets["production"]
		return Deployment{ID: prod.ID, Commit: prod.Meta["githubCommitSha"]}, nil
	case config.HostCloudflare:
		var env struct {
			Result struct {
				Canonical *struct {
					ID      string `json:"id"`
					Trigger struct {
						Metadata struct {
							CommitHash string `json:"commit_hash"`
						} `json:"metadata"`
					} `json:"deployment_trigger"`
				} `json:"canonical_deployment"`
			} `json:"result"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Result.Canonical == nil {
			return Deployment{}, err
		}
		return Deployment{ID: env.Result.Canonical.ID, Commit: env.Result.Canonical.Trigger.Metadata.CommitHash}, nil
	}
	return Deployment{}, fmt.Errorf("unknown host %q", host)
}

// Restore makes the deployment id serve the site's production again.
func (c *DeployClient) Restore(ctx context.Context, d config.DeployAPI, id string) error {
	if id == "" {
		return fmt.Errorf("restore a deployment of %s: %w: no deployment id", d.Host, provider.ErrConfig)
	}
	var path string
	switch d.Host {
	case config.HostNetlify:
		path = "/api/v1/sites/" + url.PathEscape(d.Site) + "/deploys/" + url.PathEscape(id) + "/restore"
	case config.HostVercel:
		path = "/v1/projects/" + url.PathEscape(d.Site) + "/rollback/" + url.PathEscape(id)
	case config.HostCloudflare:
		path = cloudflareProject(d) + "/deployments/" + url.PathEscape(id) + "/rollback"
	default:
		return provider.ConfigError("build.deploy.host %q is not netlify, vercel or cloudflare", d.Host)
	}
	if err := c.call(ctx, d, http.MethodPost, path, nil); err != nil {
		return fmt.Errorf("restore %s deployment %s: %w", d.Host, id, err)
	}
	return nil
}

// Promote ends what an instant rollback left on a Vercel project: the
// deployment id is promoted (POST /v10/projects/{project}/promote/{id}),
// which serves it in production and assigns the production domains to
// new production deployments again. Netlify and Cloudflare Pages keep
// publishing new builds after a restore or rollback: for them Promote
// does nothing.
func (c *DeployClient) Promote(ctx context.Context, d config.DeployAPI, id string) error {
	switch d.Host {
	case config.HostNetlify, config.HostCloudflare:
		return nil
	case config.HostVercel:
	default:
		return provider.ConfigError("build.deploy.host %q is not netlify, vercel or cloudflare", d.Host)
	}
	if id == "" {
		return fmt.Errorf("promote a deployment of %s: %w: no deployment id", d.Host, provider.ErrConfig)
	}
	path := "/v10/projects/" + url.PathEscape(d.Site) + "/promote/" + url.PathEscape(id)
	if err := c.call(ctx, d, http.MethodPost, path, nil); err != nil {
		return fmt.Errorf("promote %s deployment %s: %w", d.Host, id, err)
	}
	return nil
}

func cloudflareProject(d config.DeployAPI) string {
	return "/client/v4/accounts/" + url.PathEscape(d.Account) + "/pages/projects/" + url.PathEscape(d.Site)
}

func deployBase(d config.DeployAPI) string {
	if d.APIBase != "" {
		return strings.TrimRight(d.APIBase, "/")
	}
	switch d.Host {
	case config.HostVercel:
		return vercelAPI
	case config.HostCloudflare:
		return cloudflareAPI
	}
	return netlifyAPI
}

// call sends one request and decodes a 2xx JSON answer into out (nil:
// the body is not read as JSON).
func (c *DeployClient) call(ctx context.Context, d config.DeployAPI, method, path string, out any) error {
	if d.Token.Value() == "" {
		return provider.ConfigError("build.deploy.token of %s is unset (or its ${VAR} is)", d.Host)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader([]byte("{}"))
	}
	req, err := http.NewRequestWithContext(ctx, method, deployBase(d)+path, body)
	if err != nil {
		return fmt.Errorf("%w: build.deploy.api_base: %v", provider.ErrConfig, redact.Text(err.Error()))
	}
	req.Header.Set("Authorization", "Bearer "+d.Token.Value())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "blackwell-reconciler")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if errors.Is(err, egress.ErrRefused) {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		return fmt.Errorf("%s %s: %w: %s", method, path, provider.ErrUnreachable, redact.Text(err.Error()))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w: answer cut short", method, path, provider.ErrUnreachable)
	}
	if err := deployStatus(resp.StatusCode); err != nil {
		return fmt.Errorf("%s %s: %w (%d)", method, path, err, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: %w: the answer is not the API's JSON", method, path, provider.ErrUnreachable)
	}
	return nil
}

// deployStatus maps a deploy API's status to the provider errors.
func deployStatus(status int) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return provider.ErrUnauthorized
	case status == http.StatusNotFound:
		return provider.ErrNotFound
	case status == http.StatusTooManyRequests:
		return provider.ErrRateLimited
	case status >= 500:
		return provider.ErrUnreachable
	}
	return fmt.Errorf("the host refused the request")
}
