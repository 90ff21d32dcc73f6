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
	"time"

	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/redact"
)

// DefaultHookTimeout bounds a build hook request.
const DefaultHookTimeout = 30 * time.Second

// HookOptions configure a HookRunner.
type HookOptions struct {
	// HTTPClient sends the hook requests (default: http.Client's
	// transport). Its redirect policy is replaced: a redirect is not
	// followed (its answer is the hook's answer).
	HTTPClient *http.Client
	// Timeout bounds one request (default DefaultHookTimeout).
	Timeout time.Duration
}

// HookRunner triggers a build by POSTing to the binding's build hook URL
// (build.url, a secret):
//   - Netlify (https://docs.netlify.com/configure-builds/build-hooks/):
//     POST https://api.netlify.com/build_hooks/{id}, any body, no auth; the
//     answer carries no deploy id;
//   - Vercel (https://vercel.com/docs/deploy-hooks): POST
//     https://api.vercel.com/v1/integrations/deploy/{project}/{hook}; the
//     answer is {"job":{"id","state","createdAt"}};
//   - Cloudflare Pages
//     (https://developers.cloudflare.com/pages/configuration/deploy-hooks/):
//     POST https://api.cloudflare.com/client/v4/pages/webhooks/deploy_hooks/{id};
//     the answer is the API envelope {"success":true,"result":{"id"}}.
//
// Any 2xx is accepted. These hooks only queue a build, and none of them
// reports its end on the hook: an accepted hook is recorded as the build's
// success at the time it was accepted. The URL never reaches an error, a
// log or an event: it is redacted to scheme and host.
type HookRunner struct {
	hc      *http.Client
	timeout time.Duration
}

// NewHookRunner returns a HookRunner.
func NewHookRunner(opts HookOptions) *HookRunner {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultHookTimeout
	}
	hc := http.Client{}
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &HookRunner{hc: &hc, timeout: opts.Timeout}
}

// RedactHookURL keeps a hook URL's scheme and host: its path and query are
// the secret.
func RedactHookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<build hook>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

// Run POSTs to the hook.
func (h *HookRunner) Run(ctx context.Context, b provider.Binding) (BuildResult, error) {
	res := BuildResult{Driver: DriverHook, StartedAt: time.Now()}
	if b.Build == nil || b.Build.URL.Value() == "" {
		return res, provider.ConfigError("build hook of %s/%s has no url (or its ${VAR} is unset)", b.ClientID, b.StackID)
	}
	raw := b.Build.URL.Value()
	red := RedactHookURL(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return res, provider.ConfigError("build hook url %s is not an http(s) URL", red)
	}
	rctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, raw, bytes.NewReader([]byte("{}")))
	if err != nil {
		return res, fmt.Errorf("build hook %s: %w", red, provider.ErrConfig)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "blackwell-reconciler")
	resp, err := h.hc.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text holds the URL
		}
		if errors.Is(err, egress.ErrRefused) {
			// The operator's egress allowlist, not the hook, said no.
			return res, fmt.Errorf("post build hook %s: %w", red, err)
		}
		return res, fmt.Errorf("post build hook %s: %w: %s", red, provider.ErrUnreachable, redact.Text(err.Error()))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res.FinishedAt = time.Now()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		res.Status = StatusFailed
		res.Detail = fmt.Sprintf("build hook %s answered %d", red, resp.StatusCode)
		return res, errors.New(res.Detail)
	}
	res.ID = hookJobID(body)
	res.Status = StatusSucceeded
	res.Detail = fmt.Sprintf("build hook %s accepted the build (%d)", red, resp.StatusCode)
	if res.ID != "" {
		res.Detail += ", job " + res.ID
	}
	return res, nil
}

// hookJobID reads Vercel's job.id or Cloudflare's result.id (or, for
// Workers Builds hooks, result.build_uuid).
func hookJobID(body []byte) string {
	var v struct {
		Job *struct {
			ID string `json:"id"`
		} `json:"job"`
		Result *struct {
			ID        string `json:"id"`
			BuildUUID string `json:"build_uuid"`
		} `json:"result"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	switch {
	case v.Job != nil && v.Job.ID != "":
		return v.Job.ID
	case v.Result != nil && v.Result.ID != "":
		return v.Result.ID
	case v.Result != nil:
		return v.Result.BuildUUID
	}
	return ""
}
