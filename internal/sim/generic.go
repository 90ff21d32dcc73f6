package sim

// IntegrationAPI fakes the spec's Integration API, the management API of a
// "generic" provider, as the generic driver documents it
// (internal/provider/generic): POST /providers/register, GET /integrations
// (cursor-paginated {"items","next_cursor"}), PUT /integrations/{name}, with
// Authorization: Bearer, errors {"error":{"code","message"}} and 429 with
// Retry-After. Deliveries are signed with Standard Webhooks 1.0 (package
// stdwebhook) and carry a body in the spec's ContentChangeEvent schema.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

// DefaultIntegrationAPIToken is the token a fake Integration API accepts.
const DefaultIntegrationAPIToken = "sim-integration-api-token"

// IntegrationAPIOptions configure a fake Integration API.
type IntegrationAPIOptions struct {
	Addr string
	// Token is the bearer token the fake accepts.
	Token string
	// PageSize is the default page size of the list (default 50).
	PageSize int
	Logger   *slog.Logger
}

// GenericIntegration is an integration the fake holds.
type GenericIntegration struct {
	Name         string
	ClientID     string
	StackID      string
	ProviderName string
	Address      string
	Topics       []string
	Filter       string
	Enabled      bool
	// Secret (whsec_...) signs deliveries; write-only in the API.
	Secret    string
	UpdatedAt time.Time
}

// GenericProvider is a provider registration the fake holds.
type GenericProvider struct {
	ClientID, StackID, ProviderType, ProviderName, Address string
	RegisteredAt                                           time.Time
}

// IntegrationAPI is a fake Integration API.
type IntegrationAPI struct {
	APIFaults
	EventSwitch
	opts IntegrationAPIOptions
	srv  *apiServer
	hc   *http.Client

	mu           sync.Mutex
	revoked      bool
	integrations map[string]*GenericIntegration // client_id "/" name
	providers    map[string]GenericProvider     // client_id/stack_id/provider_type
}

// NewIntegrationAPI starts a fake Integration API.
func NewIntegrationAPI(opts IntegrationAPIOptions) (*IntegrationAPI, error) {
	if opts.Token == "" {
		opts.Token = DefaultIntegrationAPIToken
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 50
	}
	g := &IntegrationAPI{APIFaults: newAPIFaults(), opts: opts, hc: newDeliveryClient(),
		integrations: map[string]*GenericIntegration{}, providers: map[string]GenericProvider{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /providers/register", g.registerProvider)
	mux.HandleFunc("GET /integrations", g.list)
	mux.HandleFunc("PUT /integrations/{name}", g.put)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		genericError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	srv, err := startAPIServer(opts.Addr, g.guard(mux), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim integration api: %w", err)
	}
	g.srv = srv
	return g, nil
}

// URL is the API's base (settings.integration_api of a generic binding).
func (g *IntegrationAPI) URL() string { return g.srv.url }

// Token is the bearer token the fake accepts.
func (g *IntegrationAPI) Token() string { return g.opts.Token }

// Close stops the fake.
func (g *IntegrationAPI) Close() {
	g.closeFaults()
	g.srv.close()
}

// RevokeToken makes every API call answer 401.
func (g *IntegrationAPI) RevokeToken() { g.setRevoked(true) }

// RestoreToken undoes RevokeToken.
func (g *IntegrationAPI) RestoreToken() { g.setRevoked(false) }

func (g *IntegrationAPI) setRevoked(v bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.revoked = v
}

// AddIntegration stores an integration without the API.
func (g *IntegrationAPI) AddIntegration(in GenericIntegration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	in.UpdatedAt = time.Now().UTC()
	g.integrations[in.ClientID+"/"+in.Name] = &in
}

// Integrations lists the integrations, by client and name.
func (g *IntegrationAPI) Integrations() []GenericIntegration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sortedLocked("")
}

// Providers lists the provider registrations.
func (g *IntegrationAPI) Providers() []GenericProvider {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]GenericProvider, 0, len(g.providers))
	for _, p := range g.providers {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b GenericProvider) int {
		return strings.Compare(a.ClientID+a.StackID+a.ProviderType, b.ClientID+b.StackID+b.ProviderType)
	})
	return out
}

// DeleteIntegration removes an integration.
func (g *IntegrationAPI) DeleteIntegration(clientID, name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.integrations[clientID+"/"+name]
	delete(g.integrations, clientID+"/"+name)
	return ok
}

// EditIntegration changes an integration in place (topics, filter,
// enabled, address: the drift faults).
func (g *IntegrationAPI) EditIntegration(clientID, name string, fn func(*GenericIntegration)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	in, ok := g.integrations[clientID+"/"+name]
	if ok {
		fn(in)
		in.UpdatedAt = time.Now().UTC()
	}
	return ok
}

func (g *IntegrationAPI) sortedLocked(clientID string) []GenericIntegration {
	out := []GenericIntegration{}
	for _, in := range g.integrations {
		if clientID == "" || in.ClientID == clientID {
			c := *in
			c.Topics = slices.Clone(in.Topics)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b GenericIntegration) int {
		return strings.Compare(a.ClientID+"/"+a.Name, b.ClientID+"/"+b.Name)
	})
	return out
}

// GenericEvent is the spec's ContentChangeEvent, the body of a delivery.
type GenericEvent struct {
	EventID      string         `json:"event_id"`
	ClientID     string         `json:"client_id"`
	ProviderName string         `json:"provider_name"`
	EventType    string         `json:"event_type"`
	ContentID    string         `json:"content_id"`
	ContentType  string         `json:"content_type"`
	Timestamp    string         `json:"timestamp"`
	Metadata     map[string]any `json:"metadata"`
}

// Deliver sends ev to every enabled integration of ev.ClientID whose
// topics cover ev.EventType (none: every event), signed per Standard
// Webhooks with the integration's secret.
func (g *IntegrationAPI) Deliver(ctx context.Context, ev GenericEvent) []DeliveryResult {
	if g.EventsStopped() {
		return nil
	}
	if ev.EventID == "" {
		ev.EventID = uuid.NewString()
	}
	if ev.Timestamp == "" {
		ev.Timestamp = time.Now().UTC().Format(time.RFC3339Nano)
	}
	if ev.Metadata == nil {
		ev.Metadata = map[string]any{}
	}
	body, _ := json.Marshal(ev)
	g.mu.Lock()
	var targets []GenericIntegration
	for _, in := range g.sortedLocked(ev.ClientID) {
		if in.Enabled && (len(in.Topics) == 0 || slices.ContainsFunc(in.Topics, func(p string) bool { return contentfulTopicCovers(p, ev.EventType) || p == "*" })) {
			targets = append(targets, in)
		}
	}
	g.mu.Unlock()
	var out []DeliveryResult
	for _, in := range targets {
		hdr := http.Header{}
		hdr.Set("Content-Type", "application/json")
		id := "msg_" + strings.ReplaceAll(uuid.NewString(), "-", "")
		sent := time.Now()
		hdr.Set(stdwebhook.HeaderID, id)
		hdr.Set(stdwebhook.HeaderTimestamp, strconv.FormatInt(sent.Unix(), 10))
		if in.Secret != "" {
			sig, err := stdwebhook.Sign(in.Secret, id, sent, body)
			if err != nil {
				out = append(out, DeliveryResult{SubscriptionID: in.Name, Address: in.Address, Err: err})
				continue
			}
			hdr.Set(stdwebhook.HeaderSignature, sig)
		}
		status, err := deliver(ctx, g.hc, http.MethodPost, in.Address, hdr, body)
		out = append(out, DeliveryResult{SubscriptionID: in.Name, Address: in.Address, Status: status, Err: err})
	}
	return out
}

func genericError(w http.ResponseWriter, status int, code, msg string) {
	genericJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func genericJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *IntegrationAPI) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, wait, ok := g.take(w, r)
		if !ok {
			return
		}
		g.mu.Lock()
		authed := !g.revoked && r.Header.Get("Authorization") == "Bearer "+g.opts.Token
		g.mu.Unlock()
		switch {
		case kind == faultServerError:
			genericError(w, http.StatusInternalServerError, "internal", "internal error")
		case !authed:
			genericError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid bearer token")
		case kind == faultRateLimit:
			w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (wait+time.Second-1)/time.Second))))
			genericError(w, http.StatusTooManyRequests, "rate_limited", "too many requests")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// genericIntegrationJSON is the wire form of an integration.
type genericIntegrationJSON struct {
	Name          string            `json:"name"`
	ClientID      string            `json:"client_id"`
	StackID       string            `json:"stack_id,omitempty"`
	ProviderName  string            `json:"provider_name,omitempty"`
	Configuration genericConfigJSON `json:"configuration"`
	UpdatedAt     string            `json:"updated_at,omitempty"`
}

type genericConfigJSON struct {
	Address string   `json:"address"`
	Topics  []string `json:"topics"`
	Filter  string   `json:"filter"`
	Enabled *bool    `json:"enabled,omitempty"`
	Secret  string   `json:"secret,omitempty"`
}

func genericWire(in GenericIntegration) genericIntegrationJSON {
	enabled := in.Enabled
	topics := in.Topics
	if topics == nil {
		topics = []string{}
	}
	return genericIntegrationJSON{
		Name: in.Name, ClientID: in.ClientID, StackID: in.StackID, ProviderName: in.ProviderName,
		Configuration: genericConfigJSON{Address: in.Address, Topics: topics, Filter: in.Filter, Enabled: &enabled},
		UpdatedAt:     in.UpdatedAt.Format(time.RFC3339Nano),
	}
}

func (g *IntegrationAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	client := q.Get("client_id")
	if client == "" {
		genericError(w, http.StatusUnprocessableEntity, "invalid", "client_id is required")
		return
	}
	limit := g.opts.PageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			genericError(w, http.StatusUnprocessableEntity, "invalid", "limit must be between 1 and 500")
			return
		}
		limit = n
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			genericError(w, http.StatusUnprocessableEntity, "invalid", "bad cursor")
			return
		}
		after = string(b)
	}
	g.mu.Lock()
	all := g.sortedLocked(client)
	g.mu.Unlock()
	items := []genericIntegrationJSON{}
	next := ""
	for _, in := range all {
		if in.Name <= after {
			continue
		}
		if len(items) == limit {
			next = base64.RawURLEncoding.EncodeToString([]byte(items[len(items)-1].Name))
			break
		}
		items = append(items, genericWire(in))
	}
	genericJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

func (g *IntegrationAPI) put(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var in genericIntegrationJSON
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		genericError(w, http.StatusBadRequest, "bad_request", "body is not valid JSON")
		return
	}
	u, err := url.Parse(in.Configuration.Address)
	switch {
	case in.ClientID == "":
		genericError(w, http.StatusUnprocessableEntity, "invalid", "client_id is required")
		return
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		genericError(w, http.StatusUnprocessableEntity, "invalid", "configuration.address must be an http(s) URL")
		return
	}
	g.mu.Lock()
	key := in.ClientID + "/" + name
	cur, exists := g.integrations[key]
	next := GenericIntegration{
		Name: name, ClientID: in.ClientID, StackID: in.StackID, ProviderName: in.ProviderName,
		Address: in.Configuration.Address, Topics: in.Configuration.Topics, Filter: in.Configuration.Filter,
		Enabled: in.Configuration.Enabled == nil || *in.Configuration.Enabled, Secret: in.Configuration.Secret,
		UpdatedAt: time.Now().UTC(),
	}
	if exists && next.Secret == "" {
		next.Secret = cur.Secret
	}
	g.integrations[key] = &next
	g.mu.Unlock()
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	genericJSON(w, status, genericWire(next))
}

func (g *IntegrationAPI) registerProvider(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientID     string `json:"client_id"`
		StackID      string `json:"stack_id"`
		ProviderType string `json:"provider_type"`
		ProviderName string `json:"provider_name"`
		Address      string `json:"address"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		genericError(w, http.StatusBadRequest, "bad_request", "body is not valid JSON")
		return
	}
	if in.ClientID == "" || in.ProviderType == "" || in.ProviderName == "" {
		genericError(w, http.StatusUnprocessableEntity, "invalid", "client_id, provider_type and provider_name are required")
		return
	}
	p := GenericProvider{ClientID: in.ClientID, StackID: in.StackID, ProviderType: in.ProviderType,
		ProviderName: in.ProviderName, Address: in.Address, RegisteredAt: time.Now().UTC()}
	g.mu.Lock()
	g.providers[in.ClientID+"/"+in.StackID+"/"+in.ProviderType] = p
	g.mu.Unlock()
	genericJSON(w, http.StatusOK, map[string]any{"provider": map[string]any{
		"client_id": p.ClientID, "stack_id": p.StackID, "provider_type": p.ProviderType,
		"provider_name": p.ProviderName, "address": p.Address, "registered_at": p.RegisteredAt.Format(time.RFC3339Nano),
	}})
}
