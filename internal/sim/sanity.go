package sim

// Sanity fakes the subset of Sanity's webhook management API that the
// sanity driver uses, and sends signed GROQ-powered webhook deliveries,
// after:
//   - https://www.sanity.io/docs/http-webhooks and
//     https://www.sanity.io/docs/http-reference/webhooks (base
//     https://{projectId}.api.sanity.io/{apiVersion}; GET/POST
//     /hooks/projects/{projectId}, GET/PATCH/DELETE
//     /hooks/projects/{projectId}/{hookId}; Authorization: Bearer; the list
//     is a bare JSON array without pagination; hook fields id, name,
//     projectId, dataset, url, createdAt, createdByUserId, isDisabled,
//     isDisabledByUser, deletedAt, description, type, rule{on,filter,
//     projection}, apiVersion, httpMethod, includeDrafts, headers);
//   - errors in Sanity's {"statusCode","error","message"} shape;
//   - deliveries: sanity-io/webhook-toolkit src/signature.ts (header
//     sanity-webhook-signature "t=<unix ms>,v1=<base64url HMAC-SHA256 of
//     "{t}.{body}">", no space) and
//     https://www.sanity.io/docs/webhook-best-practices (headers
//     sanity-transaction-id, sanity-transaction-time, sanity-dataset,
//     sanity-document-id, sanity-operation, sanity-project-id,
//     sanity-webhook-id, idempotency-key).
// PATCH as the update method is third-party knowledge (PROVIDERS.md §2).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Defaults of SanityOptions.
const (
	DefaultSanityProjectID = "simproj1"
	DefaultSanityDataset   = "production"
	DefaultSanityToken     = "sk_sim_sanity_token"
)

// SanityOptions configure a fake Sanity project.
type SanityOptions struct {
	Addr      string
	ProjectID string
	// Dataset is the dataset deliveries come from.
	Dataset string
	// Token is the API token the fake accepts.
	Token  string
	Logger *slog.Logger
}

// SanityRule is a hook's trigger rule.
type SanityRule struct {
	On         []string `json:"on"`
	Filter     string   `json:"filter,omitempty"`
	Projection string   `json:"projection,omitempty"`
}

// SanityHook is a webhook the fake holds.
type SanityHook struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	ProjectID        string            `json:"projectId"`
	Dataset          string            `json:"dataset"`
	URL              string            `json:"url"`
	Description      string            `json:"description,omitempty"`
	Type             string            `json:"type"`
	Rule             SanityRule        `json:"rule"`
	APIVersion       string            `json:"apiVersion"`
	HTTPMethod       string            `json:"httpMethod"`
	IncludeDrafts    bool              `json:"includeDrafts"`
	Headers          map[string]string `json:"headers"`
	IsDisabled       bool              `json:"isDisabled"`
	IsDisabledByUser bool              `json:"isDisabledByUser"`
	CreatedAt        time.Time         `json:"createdAt"`
	CreatedByUserID  string            `json:"createdByUserId"`
	DeletedAt        *time.Time        `json:"deletedAt"`
	// Secret signs deliveries; write-only in the API.
	Secret string `json:"-"`
}

// Sanity is a fake Sanity project: webhooks through the management API,
// signed deliveries to them, and faults on command.
type Sanity struct {
	APIFaults
	EventSwitch
	opts SanityOptions
	srv  *apiServer
	hc   *http.Client

	mu      sync.Mutex
	revoked bool
	hooks   map[string]*SanityHook
}

// NewSanity starts a fake Sanity project.
func NewSanity(opts SanityOptions) (*Sanity, error) {
	if opts.ProjectID == "" {
		opts.ProjectID = DefaultSanityProjectID
	}
	if opts.Dataset == "" {
		opts.Dataset = DefaultSanityDataset
	}
	if opts.Token == "" {
		opts.Token = DefaultSanityToken
	}
	s := &Sanity{APIFaults: newAPIFaults(), opts: opts, hc: newDeliveryClient(), hooks: map[string]*SanityHook{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{version}/hooks/projects/{project}", s.list)
	mux.HandleFunc("POST /{version}/hooks/projects/{project}", s.create)
	mux.HandleFunc("GET /{version}/hooks/projects/{project}/{hook}", s.get)
	mux.HandleFunc("PATCH /{version}/hooks/projects/{project}/{hook}", s.patch)
	mux.HandleFunc("DELETE /{version}/hooks/projects/{project}/{hook}", s.delete)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		sanityError(w, http.StatusNotFound, "Not Found")
	})
	srv, err := startAPIServer(opts.Addr, s.guard(mux), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim sanity: %w", err)
	}
	s.srv = srv
	return s, nil
}

// URL is the fake's API base (settings.api_base of a sanity binding).
func (s *Sanity) URL() string { return s.srv.url }

// ProjectID is the project's id (settings.project_id).
func (s *Sanity) ProjectID() string { return s.opts.ProjectID }

// Dataset is the dataset deliveries come from.
func (s *Sanity) Dataset() string { return s.opts.Dataset }

// Token is the API token the fake accepts.
func (s *Sanity) Token() string { return s.opts.Token }

// Close stops the fake.
func (s *Sanity) Close() {
	s.closeFaults()
	s.srv.close()
}

// RevokeToken makes every API call answer 401.
func (s *Sanity) RevokeToken() { s.setRevoked(true) }

// RestoreToken undoes RevokeToken.
func (s *Sanity) RestoreToken() { s.setRevoked(false) }

func (s *Sanity) setRevoked(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = v
}

// AddHook creates a webhook without the API and returns its id. Empty
// fields get the API's defaults.
func (s *Sanity) AddHook(h SanityHook) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(h).ID
}

// Hooks lists the webhooks that are not deleted, by id.
func (s *Sanity) Hooks() []SanityHook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveLocked()
}

// DeleteHook deletes a webhook (the "someone deleted the webhook" fault).
func (s *Sanity) DeleteHook(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.hooks[id]
	delete(s.hooks, id)
	return ok
}

// SetHookFilter changes a webhook's GROQ filter.
func (s *Sanity) SetHookFilter(id, filter string) bool {
	return s.edit(id, func(h *SanityHook) { h.Rule.Filter = filter })
}

// SetHookOn changes the operations a webhook triggers on.
func (s *Sanity) SetHookOn(id string, on ...string) bool {
	return s.edit(id, func(h *SanityHook) { h.Rule.On = on })
}

// SetHookURL changes a webhook's URL.
func (s *Sanity) SetHookURL(id, url string) bool {
	return s.edit(id, func(h *SanityHook) { h.URL = url })
}

// DisableHook disables a webhook as a user would in the manage UI.
func (s *Sanity) DisableHook(id string) bool {
	return s.edit(id, func(h *SanityHook) { h.IsDisabledByUser = true })
}

func (s *Sanity) edit(id string, fn func(*SanityHook)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hooks[id]
	if ok {
		fn(h)
	}
	return ok
}

func (s *Sanity) addLocked(h SanityHook) *SanityHook {
	if h.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		h.ID = hex.EncodeToString(b[:])
	}
	h.ProjectID = s.opts.ProjectID
	if h.Dataset == "" {
		h.Dataset = "*"
	}
	if h.Type == "" {
		h.Type = "document"
	}
	if len(h.Rule.On) == 0 {
		h.Rule.On = []string{"create", "update", "delete"}
	}
	if h.APIVersion == "" {
		h.APIVersion = "v2021-03-25"
	}
	if h.HTTPMethod == "" {
		h.HTTPMethod = http.MethodPost
	}
	if h.Headers == nil {
		h.Headers = map[string]string{}
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	}
	if h.CreatedByUserID == "" {
		h.CreatedByUserID = "pSimUser"
	}
	c := h
	s.hooks[h.ID] = &c
	return &c
}

func (s *Sanity) liveLocked() []SanityHook {
	out := []SanityHook{}
	for _, h := range s.hooks {
		if h.DeletedAt == nil {
			c := *h
			c.Rule.On = slices.Clone(h.Rule.On)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b SanityHook) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Deliver sends doc (a document's JSON, with _id and _type) as one
// mutation (operation create, update or delete) to every enabled webhook
// whose rule covers the operation and whose filter the fake can tell
// matches (`_type == "x"` and `_type in ["x", ...]` are evaluated; any
// other filter is taken to match). Each delivery is signed with its hook's
// secret when it has one.
func (s *Sanity) Deliver(ctx context.Context, operation string, doc []byte) []DeliveryResult {
	if s.EventsStopped() {
		return nil
	}
	var meta struct {
		ID   string `json:"_id"`
		Type string `json:"_type"`
	}
	_ = json.Unmarshal(doc, &meta)
	s.mu.Lock()
	var targets []SanityHook
	for _, h := range s.liveLocked() {
		if h.IsDisabled || h.IsDisabledByUser || !slices.Contains(h.Rule.On, operation) ||
			(h.Dataset != "*" && h.Dataset != s.opts.Dataset) || !sanityFilterMatches(h.Rule.Filter, meta.Type) {
			continue
		}
		targets = append(targets, h)
	}
	s.mu.Unlock()
	txID := strings.ReplaceAll(uuid.NewString(), "-", "")[:22]
	now := time.Now()
	var out []DeliveryResult
	for _, h := range targets {
		hdr := http.Header{}
		hdr.Set("Content-Type", "application/json")
		hdr.Set("sanity-transaction-id", txID)
		hdr.Set("sanity-transaction-time", now.UTC().Format(time.RFC3339Nano))
		hdr.Set("sanity-dataset", s.opts.Dataset)
		hdr.Set("sanity-document-id", meta.ID)
		hdr.Set("sanity-operation", operation)
		hdr.Set("sanity-project-id", s.opts.ProjectID)
		hdr.Set("sanity-webhook-id", h.ID)
		hdr.Set("idempotency-key", "idem-"+h.ID+"-"+txID)
		for k, v := range h.Headers {
			hdr.Set(k, v)
		}
		if h.Secret != "" {
			hdr.Set("sanity-webhook-signature", sanitySignature(h.Secret, now.UnixMilli(), doc))
		}
		status, err := deliver(ctx, s.hc, h.HTTPMethod, h.URL, hdr, doc)
		out = append(out, DeliveryResult{SubscriptionID: h.ID, Address: h.URL, Status: status, Err: err})
	}
	return out
}

// sanitySignature is the sanity-webhook-signature header:
// "t={ms},v1={base64url, unpadded, of HMAC-SHA256(secret, "{ms}.{body}")}".
func sanitySignature(secret string, ms int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ms, 10) + "."))
	m.Write(body)
	return "t=" + strconv.FormatInt(ms, 10) + ",v1=" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var (
	sanityTypeEq = regexp.MustCompile(`^_type\s*==\s*"([^"]*)"$`)
	sanityTypeIn = regexp.MustCompile(`^_type\s+in\s+\[([^\]]*)\]$`)
)

// sanityFilterMatches evaluates the simplest GROQ filters on a document
// type; a filter it cannot read matches.
func sanityFilterMatches(filter, docType string) bool {
	filter = strings.TrimSpace(filter)
	if filter == "" {
		return true
	}
	if m := sanityTypeEq.FindStringSubmatch(filter); m != nil {
		return m[1] == docType
	}
	if m := sanityTypeIn.FindStringSubmatch(filter); m != nil {
		for _, v := range strings.Split(m[1], ",") {
			if strings.Trim(strings.TrimSpace(v), `"`) == docType {
				return true
			}
		}
		return false
	}
	return true
}

func sanityError(w http.ResponseWriter, status int, msg string) {
	sanityJSON(w, status, map[string]any{"statusCode": status, "error": http.StatusText(status), "message": msg})
}

func sanityJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Sanity) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, wait, ok := s.take(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		authed := !s.revoked && r.Header.Get("Authorization") == "Bearer "+s.opts.Token
		s.mu.Unlock()
		switch {
		case kind == faultServerError:
			sanityError(w, http.StatusInternalServerError, "An internal server error occurred")
		case !authed:
			sanityError(w, http.StatusUnauthorized, "Unauthorized - Session not found")
		case kind == faultRateLimit:
			w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (wait+time.Second-1)/time.Second))))
			if wait < time.Second {
				w.Header().Set("Retry-After", strconv.FormatFloat(wait.Seconds(), 'f', -1, 64))
			}
			sanityError(w, http.StatusTooManyRequests, "API rate limit exceeded")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// project answers 403 for another project's path.
func (s *Sanity) project(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("project") != s.opts.ProjectID {
		sanityError(w, http.StatusForbidden, "Forbidden: project not found or no access")
		return false
	}
	return true
}

func (s *Sanity) list(w http.ResponseWriter, r *http.Request) {
	if !s.project(w, r) {
		return
	}
	s.mu.Lock()
	hooks := s.liveLocked()
	s.mu.Unlock()
	sanityJSON(w, http.StatusOK, hooks)
}

func (s *Sanity) get(w http.ResponseWriter, r *http.Request) {
	if !s.project(w, r) {
		return
	}
	s.mu.Lock()
	h, ok := s.hooks[r.PathValue("hook")]
	var c SanityHook
	if ok {
		c = *h
	}
	s.mu.Unlock()
	if !ok || c.DeletedAt != nil {
		sanityError(w, http.StatusNotFound, "Webhook not found")
		return
	}
	sanityJSON(w, http.StatusOK, c)
}

// sanityHookInput is the body of a create or patch; pointers tell a field
// left out from a zero value.
type sanityHookInput struct {
	Name             *string            `json:"name"`
	URL              *string            `json:"url"`
	Dataset          *string            `json:"dataset"`
	Description      *string            `json:"description"`
	Type             *string            `json:"type"`
	Rule             *SanityRule        `json:"rule"`
	APIVersion       *string            `json:"apiVersion"`
	HTTPMethod       *string            `json:"httpMethod"`
	IncludeDrafts    *bool              `json:"includeDrafts"`
	Headers          *map[string]string `json:"headers"`
	Secret           *string            `json:"secret"`
	IsDisabledByUser *bool              `json:"isDisabledByUser"`
}

func (in sanityHookInput) apply(h *SanityHook) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&h.Name, in.Name)
	set(&h.URL, in.URL)
	set(&h.Dataset, in.Dataset)
	set(&h.Description, in.Description)
	set(&h.Type, in.Type)
	set(&h.APIVersion, in.APIVersion)
	set(&h.HTTPMethod, in.HTTPMethod)
	set(&h.Secret, in.Secret)
	if in.Rule != nil {
		h.Rule = *in.Rule
	}
	if in.IncludeDrafts != nil {
		h.IncludeDrafts = *in.IncludeDrafts
	}
	if in.Headers != nil {
		h.Headers = *in.Headers
	}
	if in.IsDisabledByUser != nil {
		h.IsDisabledByUser = *in.IsDisabledByUser
	}
}

func (s *Sanity) decode(w http.ResponseWriter, r *http.Request) (sanityHookInput, bool) {
	var in sanityHookInput
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		sanityError(w, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return in, false
	}
	if in.Rule != nil {
		for _, op := range in.Rule.On {
			if op != "create" && op != "update" && op != "delete" {
				sanityError(w, http.StatusBadRequest, fmt.Sprintf("rule.on: %q is not one of create, update, delete", op))
				return in, false
			}
		}
	}
	if in.URL != nil && !strings.HasPrefix(*in.URL, "http://") && !strings.HasPrefix(*in.URL, "https://") {
		sanityError(w, http.StatusBadRequest, "url: must be an http(s) URL")
		return in, false
	}
	return in, true
}

func (s *Sanity) create(w http.ResponseWriter, r *http.Request) {
	if !s.project(w, r) {
		return
	}
	in, ok := s.decode(w, r)
	if !ok {
		return
	}
	if in.Name == nil || *in.Name == "" || in.URL == nil {
		sanityError(w, http.StatusBadRequest, "name and url are required")
		return
	}
	var h SanityHook
	in.apply(&h)
	s.mu.Lock()
	c := *s.addLocked(h)
	s.mu.Unlock()
	sanityJSON(w, http.StatusOK, c)
}

func (s *Sanity) patch(w http.ResponseWriter, r *http.Request) {
	if !s.project(w, r) {
		return
	}
	in, ok := s.decode(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	h, found := s.hooks[r.PathValue("hook")]
	var c SanityHook
	if found && h.DeletedAt == nil {
		in.apply(h)
		c = *h
	}
	s.mu.Unlock()
	if !found || c.ID == "" {
		sanityError(w, http.StatusNotFound, "Webhook not found")
		return
	}
	sanityJSON(w, http.StatusOK, c)
}

func (s *Sanity) delete(w http.ResponseWriter, r *http.Request) {
	if !s.project(w, r) {
		return
	}
	id := r.PathValue("hook")
	if !s.DeleteHook(id) {
		sanityError(w, http.StatusNotFound, "Webhook not found")
		return
	}
	sanityJSON(w, http.StatusOK, map[string]any{"id": id, "deleted": true})
}
