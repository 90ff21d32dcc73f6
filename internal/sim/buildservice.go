package sim

// BuildHook fakes a static-site host's build hook, in the flavour of
// Netlify (https://docs.netlify.com/configure-builds/build-hooks/: POST
// /build_hooks/{id}, any body, no auth, no deploy id in the answer),
// Vercel (https://vercel.com/docs/deploy-hooks: POST
// /v1/integrations/deploy/{project}/{hook}, answer
// {"job":{"id","state":"PENDING","createdAt"}}) or Cloudflare Pages
// (https://developers.cloudflare.com/pages/configuration/deploy-hooks/:
// POST /client/v4/pages/webhooks/deploy_hooks/{id}, answer the API envelope
// {"success":true,"errors":[],"messages":[],"result":{"id"}}). The hook URL
// is the secret; a rotated hook's old URL answers 404. Each accepted POST
// is a build the fake records.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"
)

// BuildHookFlavor is the host whose hook a BuildHook imitates.
type BuildHookFlavor string

// The flavours.
const (
	FlavorNetlify    BuildHookFlavor = "netlify"
	FlavorVercel     BuildHookFlavor = "vercel"
	FlavorCloudflare BuildHookFlavor = "cloudflare"
)

// BuildHookOptions configure a BuildHook.
type BuildHookOptions struct {
	Addr   string
	Flavor BuildHookFlavor
	Logger *slog.Logger
}

// HookBuild is a build the hook accepted.
type HookBuild struct {
	ID    string
	At    time.Time
	Query url.Values
}

// BuildHook is a fake build hook. Its APIFaults make it answer 429, 500 or
// slowly; Reject makes it refuse builds with 404 as a deleted hook does.
type BuildHook struct {
	APIFaults
	opts BuildHookOptions
	srv  *apiServer

	mu      sync.Mutex
	hookID  string
	builds  []HookBuild
	onBuild func(HookBuild)
}

// NewBuildHook starts a fake build hook.
func NewBuildHook(opts BuildHookOptions) (*BuildHook, error) {
	if opts.Flavor == "" {
		opts.Flavor = FlavorNetlify
	}
	h := &BuildHook{APIFaults: newAPIFaults(), opts: opts, hookID: randomHex(12)}
	srv, err := startAPIServer(opts.Addr, http.HandlerFunc(h.handle), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim build hook: %w", err)
	}
	h.srv = srv
	return h, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// URL is the hook URL (the binding's build.url, a secret).
func (h *BuildHook) URL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.srv.url + h.pathLocked()
}

func (h *BuildHook) pathLocked() string {
	switch h.opts.Flavor {
	case FlavorVercel:
		return "/v1/integrations/deploy/prj_sim/" + h.hookID
	case FlavorCloudflare:
		return "/client/v4/pages/webhooks/deploy_hooks/" + h.hookID
	default:
		return "/build_hooks/" + h.hookID
	}
}

// Rotate gives the hook a new URL; the old one answers 404 from now on.
func (h *BuildHook) Rotate() string {
	h.mu.Lock()
	h.hookID = randomHex(12)
	h.mu.Unlock()
	return h.URL()
}

// OnBuild sets a function called for every build the hook accepts, before
// it answers: a StackWorld redeploys its site with it (the sim's deploys
// are instant).
func (h *BuildHook) OnBuild(fn func(HookBuild)) {
	h.mu.Lock()
	h.onBuild = fn
	h.mu.Unlock()
}

// Builds lists the builds accepted, oldest first.
func (h *BuildHook) Builds() []HookBuild {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HookBuild(nil), h.builds...)
}

// Close stops the fake.
func (h *BuildHook) Close() {
	h.closeFaults()
	h.srv.close()
}

func (h *BuildHook) handle(w http.ResponseWriter, r *http.Request) {
	kind, wait, ok := h.take(w, r)
	if !ok {
		return
	}
	h.mu.Lock()
	path := h.pathLocked()
	h.mu.Unlock()
	switch {
	case r.URL.Path != path:
		h.answerError(w, http.StatusNotFound, "Not Found")
		return
	case r.Method != http.MethodPost && !(r.Method == http.MethodGet && h.opts.Flavor == FlavorVercel):
		h.answerError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	case kind == faultServerError:
		h.answerError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	case kind == faultRateLimit:
		w.Header().Set("Retry-After", fmt.Sprint(int(max(1, (wait+time.Second-1)/time.Second))))
		h.answerError(w, http.StatusTooManyRequests, "Rate limit exceeded")
		return
	}
	b := HookBuild{ID: uuid.NewString(), At: time.Now(), Query: r.URL.Query()}
	h.mu.Lock()
	h.builds = append(h.builds, b)
	onBuild := h.onBuild
	h.mu.Unlock()
	if onBuild != nil {
		onBuild(b)
	}
	switch h.opts.Flavor {
	case FlavorVercel:
		genericJSON(w, http.StatusCreated, map[string]any{"job": map[string]any{
			"id": b.ID, "state": "PENDING", "createdAt": b.At.UnixMilli()}})
	case FlavorCloudflare:
		genericJSON(w, http.StatusOK, map[string]any{"success": true, "errors": []any{}, "messages": []any{},
			"result": map[string]any{"id": b.ID}})
	default:
		w.WriteHeader(http.StatusOK)
	}
}

func (h *BuildHook) answerError(w http.ResponseWriter, status int, msg string) {
	if h.opts.Flavor == FlavorCloudflare {
		genericJSON(w, status, map[string]any{"success": false, "errors": []any{map[string]any{"code": status, "message": msg}},
			"messages": []any{}, "result": nil})
		return
	}
	http.Error(w, msg, status)
}
