package sim

// Shopify fakes the subset of Shopify's REST Admin API that the shopify
// driver uses, and sends signed deliveries, after:
//   - https://shopify.dev/docs/api/admin-rest/latest/resources/webhook
//     (GET/POST /admin/api/{version}/webhooks.json,
//     GET /admin/api/{version}/webhooks/count.json,
//     GET/PUT/DELETE /admin/api/{version}/webhooks/{id}.json; the answers
//     {"webhooks":[...]}, {"webhook":{...}}, {"count":N}, {} for a delete;
//     422 {"errors":{"address":["for this topic has already been taken"]}}
//     for a duplicate topic and address);
//   - https://shopify.dev/docs/api/admin-rest/usage/pagination (limit up
//     to 250, an opaque page_info cursor in the Link header with
//     rel="next"/"previous"; a request with page_info takes no other filter);
//   - https://shopify.dev/docs/api/admin-rest/usage/rate-limits (a leaky
//     bucket of 40 calls leaking 2/s, reported as
//     X-Shopify-Shop-Api-Call-Limit "used/40"; over it, 429 with
//     Retry-After in seconds, e.g. "2.0");
//   - https://shopify.dev/docs/api/usage/authentication (the
//     X-Shopify-Access-Token header; 401 {"errors":"[API] Invalid API key
//     or access token (unrecognized login or wrong password)"});
//   - deliveries: https://shopify.dev/docs/apps/build/webhooks/verify-deliveries
//     and https://shopify.dev/docs/api/webhooks/latest (headers
//     X-Shopify-Topic, X-Shopify-Hmac-Sha256 = base64 HMAC-SHA256 of the raw
//     body keyed with the app's client secret, X-Shopify-Shop-Domain,
//     X-Shopify-API-Version, X-Shopify-Webhook-Id, X-Shopify-Event-Id,
//     X-Shopify-Triggered-At).

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Defaults of ShopifyOptions.
const (
	DefaultShopifyShop         = "sim-shop.myshopify.com"
	DefaultShopifyAPIVersion   = "2025-07"
	DefaultShopifyToken        = "shpat_sim_token"
	DefaultShopifyClientSecret = "shopify-sim-client-secret"
)

// ShopifyOptions configure a fake Shopify.
type ShopifyOptions struct {
	// Addr to listen on (default 127.0.0.1:0).
	Addr string
	// Shop is the shop domain in deliveries (X-Shopify-Shop-Domain).
	Shop string
	// APIVersion is the version of deliveries and of webhooks created
	// without one.
	APIVersion string
	// Token is the Admin API access token the fake accepts.
	Token string
	// ClientSecret is the app's client secret that signs deliveries.
	ClientSecret string
	// BucketSize and LeakRate shape the rate limit (default 40 and 2/s).
	BucketSize int
	LeakRate   float64
	Logger     *slog.Logger
}

// ShopifyWebhook is a webhook subscription the fake holds.
type ShopifyWebhook struct {
	ID         int64     `json:"id"`
	Address    string    `json:"address"`
	Topic      string    `json:"topic"`
	Format     string    `json:"format"`
	APIVersion string    `json:"api_version"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Shopify is a fake Shopify shop: webhook subscriptions through the REST
// Admin API, signed deliveries to them, and faults on command.
type Shopify struct {
	APIFaults
	EventSwitch
	opts ShopifyOptions
	srv  *apiServer
	hc   *http.Client

	mu       sync.Mutex
	token    string
	revoked  bool
	hooks    map[int64]*ShopifyWebhook
	nextID   int64
	bucket   float64
	bucketAt time.Time
}

// NewShopify starts a fake Shopify.
func NewShopify(opts ShopifyOptions) (*Shopify, error) {
	if opts.Shop == "" {
		opts.Shop = DefaultShopifyShop
	}
	if opts.APIVersion == "" {
		opts.APIVersion = DefaultShopifyAPIVersion
	}
	if opts.Token == "" {
		opts.Token = DefaultShopifyToken
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultShopifyClientSecret
	}
	if opts.BucketSize <= 0 {
		opts.BucketSize = 40
	}
	if opts.LeakRate <= 0 {
		opts.LeakRate = 2
	}
	s := &Shopify{
		APIFaults: newAPIFaults(), opts: opts, hc: newDeliveryClient(),
		token: opts.Token, hooks: map[int64]*ShopifyWebhook{}, nextID: 1_000_000_001,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/api/{version}/webhooks.json", s.list)
	mux.HandleFunc("POST /admin/api/{version}/webhooks.json", s.create)
	mux.HandleFunc("GET /admin/api/{version}/webhooks/{file}", s.get)
	mux.HandleFunc("PUT /admin/api/{version}/webhooks/{file}", s.update)
	mux.HandleFunc("DELETE /admin/api/{version}/webhooks/{file}", s.delete)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		shopifyJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
	})
	srv, err := startAPIServer(opts.Addr, s.guard(mux), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim shopify: %w", err)
	}
	s.srv = srv
	return s, nil
}

// URL is the fake's API base (settings.api_base of a shopify binding).
func (s *Shopify) URL() string { return s.srv.url }

// Token is the access token the fake accepts.
func (s *Shopify) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// ClientSecret is the secret deliveries are signed with (the binding's
// webhook_secret).
func (s *Shopify) ClientSecret() string { return s.opts.ClientSecret }

// Shop is the shop's domain.
func (s *Shopify) Shop() string { return s.opts.Shop }

// Close stops the fake.
func (s *Shopify) Close() {
	s.closeFaults()
	s.srv.close()
}

// RevokeToken makes every API call answer 401, as after the app was
// uninstalled or its token rotated.
func (s *Shopify) RevokeToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
}

// RestoreToken undoes RevokeToken.
func (s *Shopify) RestoreToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = false
}

// AddWebhook creates a subscription without the API (as a person in the
// admin or another app would) and returns its id.
func (s *Shopify) AddWebhook(topic, address string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(topic, address, "json", s.opts.APIVersion).ID
}

// Webhooks lists the subscriptions, by id.
func (s *Shopify) Webhooks() []ShopifyWebhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedLocked(func(*ShopifyWebhook) bool { return true })
}

// DeleteWebhook removes a subscription: the "someone deleted the Shopify
// webhook" fault (Shopify also deletes subscriptions whose deliveries keep
// failing). It reports whether it existed.
func (s *Shopify) DeleteWebhook(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.hooks[id]
	delete(s.hooks, id)
	return ok
}

// SetWebhookTopic changes a subscription's topic.
func (s *Shopify) SetWebhookTopic(id int64, topic string) bool {
	return s.edit(id, func(h *ShopifyWebhook) { h.Topic = topic })
}

// SetWebhookAddress changes a subscription's address.
func (s *Shopify) SetWebhookAddress(id int64, address string) bool {
	return s.edit(id, func(h *ShopifyWebhook) { h.Address = address })
}

func (s *Shopify) edit(id int64, fn func(*ShopifyWebhook)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hooks[id]
	if ok {
		fn(h)
		h.UpdatedAt = time.Now().UTC()
	}
	return ok
}

// Deliver sends body as one event of topic to every subscription of the
// topic, signed as Shopify signs: X-Shopify-Hmac-Sha256 over the exact
// bytes sent. The deliveries of one event share X-Shopify-Event-Id; each
// has its own X-Shopify-Webhook-Id. With events stopped it sends nothing.
func (s *Shopify) Deliver(ctx context.Context, topic string, body []byte) []DeliveryResult {
	if s.EventsStopped() {
		return nil
	}
	s.mu.Lock()
	targets := s.sortedLocked(func(h *ShopifyWebhook) bool { return h.Topic == topic })
	s.mu.Unlock()
	eventID := uuid.NewString()
	triggered := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	var out []DeliveryResult
	for _, h := range targets {
		hdr := http.Header{}
		hdr.Set("Content-Type", "application/json")
		hdr.Set("User-Agent", "Shopify-Captain-Hook")
		hdr.Set("X-Shopify-Topic", topic)
		hdr.Set("X-Shopify-Hmac-Sha256", shopifySignature(s.opts.ClientSecret, body))
		hdr.Set("X-Shopify-Shop-Domain", s.opts.Shop)
		hdr.Set("X-Shopify-API-Version", h.APIVersion)
		hdr.Set("X-Shopify-Webhook-Id", uuid.NewString())
		hdr.Set("X-Shopify-Event-Id", eventID)
		hdr.Set("X-Shopify-Triggered-At", triggered)
		if res, _, ok := strings.Cut(topic, "/"); ok && (res == "products" || res == "orders") {
			var v struct {
				ID json.Number `json:"id"`
			}
			if json.Unmarshal(body, &v) == nil && v.ID != "" {
				hdr.Set("X-Shopify-"+strings.TrimSuffix(strings.ToUpper(res[:1])+res[1:], "s")+"-Id", v.ID.String())
			}
		}
		status, err := deliver(ctx, s.hc, http.MethodPost, h.Address, hdr, body)
		out = append(out, DeliveryResult{SubscriptionID: strconv.FormatInt(h.ID, 10), Address: h.Address, Status: status, Err: err})
	}
	return out
}

// shopifySignature is X-Shopify-Hmac-Sha256: standard padded base64 of
// HMAC-SHA256(client secret, raw body).
func shopifySignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *Shopify) addLocked(topic, address, format, version string) *ShopifyWebhook {
	now := time.Now().UTC().Truncate(time.Second)
	h := &ShopifyWebhook{ID: s.nextID, Address: address, Topic: topic, Format: format, APIVersion: version, CreatedAt: now, UpdatedAt: now}
	s.nextID++
	s.hooks[h.ID] = h
	return h
}

func (s *Shopify) sortedLocked(keep func(*ShopifyWebhook) bool) []ShopifyWebhook {
	out := []ShopifyWebhook{}
	for _, h := range s.hooks {
		if keep(h) {
			out = append(out, *h)
		}
	}
	slices.SortFunc(out, func(a, b ShopifyWebhook) int { return int(a.ID - b.ID) })
	return out
}

// guard answers faults, authentication and the rate limit before the API.
func (s *Shopify) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, wait, ok := s.take(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		used, over := s.leakLocked()
		authed := !s.revoked && r.Header.Get("X-Shopify-Access-Token") == s.token && s.token != ""
		s.mu.Unlock()
		w.Header().Set("X-Shopify-Shop-Api-Call-Limit", fmt.Sprintf("%d/%d", used, s.opts.BucketSize))
		switch {
		case kind == faultServerError:
			shopifyJSON(w, http.StatusInternalServerError, map[string]any{"errors": "Internal Server Error"})
		case !authed:
			shopifyJSON(w, http.StatusUnauthorized, map[string]any{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		case kind == faultRateLimit || over:
			if kind != faultRateLimit {
				wait = time.Duration(float64(time.Second) / s.opts.LeakRate)
			}
			w.Header().Set("Retry-After", strconv.FormatFloat(wait.Seconds(), 'f', 1, 64))
			shopifyJSON(w, http.StatusTooManyRequests, map[string]any{"errors": fmt.Sprintf(
				"Exceeded %g calls per second for api client. Reduce request rates to resume uninterrupted service.", s.opts.LeakRate)})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// leakLocked drains the bucket for the time passed and adds this call,
// unless the bucket is full (over).
func (s *Shopify) leakLocked() (used int, over bool) {
	now := time.Now()
	if !s.bucketAt.IsZero() {
		s.bucket = math.Max(0, s.bucket-now.Sub(s.bucketAt).Seconds()*s.opts.LeakRate)
	}
	s.bucketAt = now
	if s.bucket+1 > float64(s.opts.BucketSize) {
		return int(math.Ceil(s.bucket)), true
	}
	s.bucket++
	return int(math.Ceil(s.bucket)), false
}

func shopifyJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// shopifyCursor is what page_info encodes: the filters of the first
// request and where the page starts.
type shopifyCursor struct {
	Address string `json:"a,omitempty"`
	Topic   string `json:"t,omitempty"`
	After   int64  `json:"after,omitempty"`  // ids > After (next pages)
	Before  int64  `json:"before,omitempty"` // ids < Before (previous pages)
}

func (s *Shopify) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 250 {
			shopifyJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]any{"limit": []string{"must be between 1 and 250"}}})
			return
		}
		limit = n
	}
	var cur shopifyCursor
	if pi := q.Get("page_info"); pi != "" {
		for k := range q {
			if k != "page_info" && k != "limit" && k != "fields" {
				shopifyJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]any{"page_info": []string{"cannot be combined with " + k}}})
				return
			}
		}
		raw, err := base64.RawURLEncoding.DecodeString(pi)
		if err != nil || json.Unmarshal(raw, &cur) != nil {
			shopifyJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]any{"page_info": []string{"Invalid value."}}})
			return
		}
	} else {
		cur.Address, cur.Topic = q.Get("address"), q.Get("topic")
		if v := q.Get("since_id"); v != "" {
			cur.After, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	s.mu.Lock()
	all := s.sortedLocked(func(h *ShopifyWebhook) bool {
		return (cur.Address == "" || h.Address == cur.Address) && (cur.Topic == "" || h.Topic == cur.Topic)
	})
	s.mu.Unlock()
	var page []ShopifyWebhook
	start, end := 0, len(all)
	if cur.Before != 0 {
		i := slices.IndexFunc(all, func(h ShopifyWebhook) bool { return h.ID >= cur.Before })
		if i < 0 {
			i = len(all)
		}
		end, start = i, max(0, i-limit)
	} else {
		i := slices.IndexFunc(all, func(h ShopifyWebhook) bool { return h.ID > cur.After })
		if i < 0 {
			i = len(all)
		}
		start, end = i, min(len(all), i+limit)
	}
	page = all[start:end]
	var links []string
	base := "http://" + r.Host + r.URL.Path
	link := func(c shopifyCursor, rel string) {
		b, _ := json.Marshal(c)
		v := url.Values{"limit": {strconv.Itoa(limit)}, "page_info": {base64.RawURLEncoding.EncodeToString(b)}}
		links = append(links, fmt.Sprintf(`<%s?%s>; rel="%s"`, base, v.Encode(), rel))
	}
	if start > 0 && len(page) > 0 {
		link(shopifyCursor{Address: cur.Address, Topic: cur.Topic, Before: page[0].ID}, "previous")
	}
	if end < len(all) && len(page) > 0 {
		link(shopifyCursor{Address: cur.Address, Topic: cur.Topic, After: page[len(page)-1].ID}, "next")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	out := make([]map[string]any, len(page))
	for i, h := range page {
		out[i] = shopifyResource(h)
	}
	shopifyJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

// shopifyResource is the REST Webhook resource of h.
func shopifyResource(h ShopifyWebhook) map[string]any {
	return map[string]any{
		"id": h.ID, "address": h.Address, "topic": h.Topic, "format": h.Format,
		"fields": []string{}, "metafield_namespaces": []string{}, "api_version": h.APIVersion,
		"created_at": h.CreatedAt.Format(time.RFC3339), "updated_at": h.UpdatedAt.Format(time.RFC3339),
	}
}

// hookFile parses "{id}.json"; "count.json" is the count endpoint.
func (s *Shopify) hookFile(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimSuffix(r.PathValue("file"), ".json"), 10, 64)
	if err != nil || !strings.HasSuffix(r.PathValue("file"), ".json") {
		shopifyJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return 0, false
	}
	return id, true
}

func (s *Shopify) get(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("file") == "count.json" {
		topic := r.URL.Query().Get("topic")
		s.mu.Lock()
		n := len(s.sortedLocked(func(h *ShopifyWebhook) bool { return topic == "" || h.Topic == topic }))
		s.mu.Unlock()
		shopifyJSON(w, http.StatusOK, map[string]any{"count": n})
		return
	}
	id, ok := s.hookFile(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	h, found := s.hooks[id]
	var c ShopifyWebhook
	if found {
		c = *h
	}
	s.mu.Unlock()
	if !found {
		shopifyJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}
	shopifyJSON(w, http.StatusOK, map[string]any{"webhook": shopifyResource(c)})
}

type shopifyWebhookBody struct {
	Webhook *struct {
		ID      int64  `json:"id"`
		Topic   string `json:"topic"`
		Address string `json:"address"`
		Format  string `json:"format"`
	} `json:"webhook"`
}

func (s *Shopify) decode(w http.ResponseWriter, r *http.Request) (*shopifyWebhookBody, bool) {
	var body shopifyWebhookBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || body.Webhook == nil {
		shopifyJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]any{"webhook": "Required parameter missing or invalid"}})
		return nil, false
	}
	return &body, true
}

func shopifyAddressProblem(addr string) string {
	if strings.TrimSpace(addr) == "" {
		return "can't be blank"
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "is invalid"
	}
	return ""
}

func (s *Shopify) create(w http.ResponseWriter, r *http.Request) {
	body, ok := s.decode(w, r)
	if !ok {
		return
	}
	in := body.Webhook
	errs := map[string][]string{}
	if strings.Count(in.Topic, "/") != 1 {
		errs["topic"] = []string{"Invalid topic specified: " + in.Topic}
	}
	if p := shopifyAddressProblem(in.Address); p != "" {
		errs["address"] = []string{p}
	}
	if in.Format == "" {
		in.Format = "json"
	}
	s.mu.Lock()
	if len(errs) == 0 {
		for _, h := range s.hooks {
			if h.Topic == in.Topic && h.Address == in.Address {
				errs["address"] = []string{"for this topic has already been taken"}
			}
		}
	}
	if len(errs) > 0 {
		s.mu.Unlock()
		shopifyJSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": errs})
		return
	}
	h := *s.addLocked(in.Topic, in.Address, in.Format, r.PathValue("version"))
	s.mu.Unlock()
	shopifyJSON(w, http.StatusCreated, map[string]any{"webhook": shopifyResource(h)})
}

func (s *Shopify) update(w http.ResponseWriter, r *http.Request) {
	id, ok := s.hookFile(w, r)
	if !ok {
		return
	}
	body, ok := s.decode(w, r)
	if !ok {
		return
	}
	in := body.Webhook
	if in.Address != "" {
		if p := shopifyAddressProblem(in.Address); p != "" {
			shopifyJSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": map[string][]string{"address": {p}}})
			return
		}
	}
	s.mu.Lock()
	h, found := s.hooks[id]
	var c ShopifyWebhook
	if found {
		if in.Address != "" {
			h.Address = in.Address
		}
		if in.Format != "" {
			h.Format = in.Format
		}
		h.UpdatedAt = time.Now().UTC().Truncate(time.Second)
		c = *h
	}
	s.mu.Unlock()
	if !found {
		shopifyJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}
	shopifyJSON(w, http.StatusOK, map[string]any{"webhook": shopifyResource(c)})
}

func (s *Shopify) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := s.hookFile(w, r)
	if !ok {
		return
	}
	if !s.DeleteWebhook(id) {
		shopifyJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}
	shopifyJSON(w, http.StatusOK, map[string]any{})
}
