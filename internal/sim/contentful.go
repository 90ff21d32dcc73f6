package sim

// Contentful fakes the subset of the Content Management API that the
// contentful driver uses, and sends signed webhook deliveries, after:
//   - https://www.contentful.com/developers/docs/references/content-management-api/#/reference/webhooks
//     (GET/POST /spaces/{space_id}/webhook_definitions, GET/PUT/DELETE
//     /spaces/{space_id}/webhook_definitions/{id}; an update PUT carries
//     X-Contentful-Version and answers 409 VersionMismatch when it is stale;
//     a PUT without it to an unknown id creates the webhook with that id),
//     the collection shape {sys:{type:"Array"},total,skip,limit,items} with
//     skip/limit pagination, and errors as {sys:{type:"Error",id},message,
//     requestId}; Content-Type application/vnd.contentful.management.v1+json;
//   - https://www.contentful.com/developers/docs/references/content-management-api/#/introduction/api-rate-limits
//     (X-Contentful-RateLimit-Second-Limit/-Second-Remaining on answers; a
//     429 RateLimitExceeded with X-Contentful-RateLimit-Reset, the seconds
//     to wait, as contentful-sdk-core's rate-limit.js reads it);
//   - https://www.contentful.com/developers/docs/extensibility/webhooks/headers/
//     and .../webhooks/request-verification/ with contentful/node-apps-toolkit
//     src/requests/sign-request.ts (deliveries: X-Contentful-Topic
//     "ContentManagement.{Type}.{action}", X-Contentful-Webhook-Name,
//     X-Contentful-Idempotency-Key; when the space has a signing secret,
//     x-contentful-signature = lowercase hex HMAC-SHA256 of METHOD\npath\n
//     "name:value" of the signed headers joined by ";"\nbody, with
//     x-contentful-signed-headers and x-contentful-timestamp (Unix ms)).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
)

// Defaults of ContentfulOptions.
const (
	DefaultContentfulSpace = "simspace01"
	DefaultContentfulToken = "CFPAT-sim-contentful-token"
	// contentfulType is the CMA's media type.
	contentfulType = "application/vnd.contentful.management.v1+json"
)

// ContentfulOptions configure a fake Contentful space.
type ContentfulOptions struct {
	Addr    string
	SpaceID string
	// Token is the CMA token the fake accepts.
	Token string
	// SigningSecret, when set, signs deliveries (the space's
	// webhook_settings/signing_secret; 64 characters in Contentful).
	SigningSecret string
	// SecondLimit is the requests per second allowed (default 7, the
	// CMA's documented default).
	SecondLimit int
	Logger      *slog.Logger
}

// ContentfulHeader is a custom header of a webhook.
type ContentfulHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ContentfulWebhook is a webhook definition the fake holds.
type ContentfulWebhook struct {
	ID        string
	Version   int
	Name      string
	URL       string
	Topics    []string
	Filters   json.RawMessage // a JSON array
	Headers   []ContentfulHeader
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Contentful is a fake Contentful space: webhook definitions through the
// CMA, signed deliveries to them, and faults on command.
type Contentful struct {
	APIFaults
	EventSwitch
	opts ContentfulOptions
	srv  *apiServer
	hc   *http.Client

	mu      sync.Mutex
	revoked bool
	secret  string
	hooks   map[string]*ContentfulWebhook
	// environments and aliases: contentful_aliases.go.
	environments map[string]bool
	aliases      map[string]*ContentfulAlias
	second       int64 // the current one-second window, Unix seconds
	inSecond     int
	requestNo    int
}

// NewContentful starts a fake Contentful space.
func NewContentful(opts ContentfulOptions) (*Contentful, error) {
	if opts.SpaceID == "" {
		opts.SpaceID = DefaultContentfulSpace
	}
	if opts.Token == "" {
		opts.Token = DefaultContentfulToken
	}
	if opts.SecondLimit <= 0 {
		opts.SecondLimit = 7
	}
	c := &Contentful{APIFaults: newAPIFaults(), opts: opts, hc: newDeliveryClient(),
		secret: opts.SigningSecret, hooks: map[string]*ContentfulWebhook{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /spaces/{space}/webhook_definitions", c.list)
	mux.HandleFunc("POST /spaces/{space}/webhook_definitions", c.create)
	mux.HandleFunc("GET /spaces/{space}/webhook_definitions/{id}", c.get)
	mux.HandleFunc("PUT /spaces/{space}/webhook_definitions/{id}", c.put)
	mux.HandleFunc("DELETE /spaces/{space}/webhook_definitions/{id}", c.delete)
	mux.HandleFunc("GET /spaces/{space}/environment_aliases", c.listAliases)
	mux.HandleFunc("GET /spaces/{space}/environment_aliases/{alias}", c.getAlias)
	mux.HandleFunc("PUT /spaces/{space}/environment_aliases/{alias}", c.putAlias)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.errorAnswer(w, http.StatusNotFound, "NotFound", "The resource could not be found.", nil)
	})
	srv, err := startAPIServer(opts.Addr, c.guard(mux), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim contentful: %w", err)
	}
	c.srv = srv
	return c, nil
}

// URL is the fake's API base (settings.api_base of a contentful binding).
func (c *Contentful) URL() string { return c.srv.url }

// SpaceID is the space's id (settings.space_id).
func (c *Contentful) SpaceID() string { return c.opts.SpaceID }

// Token is the CMA token the fake accepts.
func (c *Contentful) Token() string { return c.opts.Token }

// Close stops the fake.
func (c *Contentful) Close() {
	c.closeFaults()
	c.srv.close()
}

// RevokeToken makes every API call answer 401.
func (c *Contentful) RevokeToken() { c.setRevoked(true) }

// RestoreToken undoes RevokeToken.
func (c *Contentful) RestoreToken() { c.setRevoked(false) }

func (c *Contentful) setRevoked(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked = v
}

// SetSigningSecret sets (or, with "", removes) the space's signing secret.
func (c *Contentful) SetSigningSecret(secret string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secret = secret
}

// AddWebhook creates a webhook definition without the API; it returns the
// id. An empty Filters is no filter.
func (c *Contentful) AddWebhook(h ContentfulWebhook) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addLocked(h).ID
}

// Webhooks lists the webhook definitions, by id.
func (c *Contentful) Webhooks() []ContentfulWebhook {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sortedLocked()
}

// DeleteWebhook deletes a webhook definition.
func (c *Contentful) DeleteWebhook(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.hooks[id]
	delete(c.hooks, id)
	return ok
}

// SetWebhookTopics changes a webhook's topics.
func (c *Contentful) SetWebhookTopics(id string, topics ...string) bool {
	return c.edit(id, func(h *ContentfulWebhook) { h.Topics = topics })
}

// SetWebhookFilters changes a webhook's filters (a JSON array).
func (c *Contentful) SetWebhookFilters(id string, filters json.RawMessage) bool {
	return c.edit(id, func(h *ContentfulWebhook) { h.Filters = filters })
}

// SetWebhookActive enables or disables a webhook.
func (c *Contentful) SetWebhookActive(id string, active bool) bool {
	return c.edit(id, func(h *ContentfulWebhook) { h.Active = active })
}

func (c *Contentful) edit(id string, fn func(*ContentfulWebhook)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hooks[id]
	if ok {
		fn(h)
		h.Version++
		h.UpdatedAt = time.Now().UTC()
	}
	return ok
}

func (c *Contentful) addLocked(h ContentfulWebhook) *ContentfulWebhook {
	if h.ID == "" {
		var b [11]byte
		_, _ = rand.Read(b[:])
		h.ID = strings.ToUpper(hex.EncodeToString(b[:]))[:22]
	}
	if len(h.Filters) == 0 {
		h.Filters = json.RawMessage("[]")
	}
	if h.Headers == nil {
		h.Headers = []ContentfulHeader{}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	h.Version, h.CreatedAt, h.UpdatedAt = 1, now, now
	cp := h
	c.hooks[h.ID] = &cp
	return &cp
}

func (c *Contentful) sortedLocked() []ContentfulWebhook {
	out := []ContentfulWebhook{}
	for _, h := range c.hooks {
		cp := *h
		cp.Topics = slices.Clone(h.Topics)
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b ContentfulWebhook) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Deliver sends body as one event of topic ("Entry.publish") to every
// active webhook whose topics cover it ("Entry.*", "*.publish", "*.*").
// Filters are not evaluated. With a signing secret set, each delivery is
// signed as Contentful's request verification describes.
func (c *Contentful) Deliver(ctx context.Context, topic string, body []byte) []DeliveryResult {
	if c.EventsStopped() {
		return nil
	}
	c.mu.Lock()
	secret := c.secret
	var targets []ContentfulWebhook
	for _, h := range c.sortedLocked() {
		if h.Active && slices.ContainsFunc(h.Topics, func(p string) bool { return contentfulTopicCovers(p, topic) }) {
			targets = append(targets, h)
		}
	}
	c.mu.Unlock()
	var out []DeliveryResult
	for _, h := range targets {
		sum := sha256.Sum256([]byte(h.ID + "\x00" + topic + "\x00" + string(body)))
		hdr := [][2]string{
			{"Content-Type", contentfulType},
			{"X-Contentful-Topic", "ContentManagement." + topic},
			{"X-Contentful-Webhook-Name", h.Name},
			{"X-Contentful-Idempotency-Key", hex.EncodeToString(sum[:])},
		}
		for _, ch := range h.Headers {
			hdr = append(hdr, [2]string{ch.Key, ch.Value})
		}
		header := http.Header{}
		for _, kv := range hdr {
			header.Set(kv[0], kv[1])
		}
		if secret != "" {
			u, err := url.Parse(h.URL)
			if err != nil {
				out = append(out, DeliveryResult{SubscriptionID: h.ID, Address: h.URL, Err: err})
				continue
			}
			ts := time.Now().UnixMilli()
			signed, sig := contentfulSignature(secret, http.MethodPost, contentfulRequestPath(u),
				[][2]string{hdr[0], hdr[1], hdr[3]}, body, ts)
			header.Set("x-contentful-timestamp", strconv.FormatInt(ts, 10))
			header.Set("x-contentful-signed-headers", signed)
			header.Set("x-contentful-signature", sig)
		}
		status, err := deliver(ctx, c.hc, http.MethodPost, h.URL, header, body)
		out = append(out, DeliveryResult{SubscriptionID: h.ID, Address: h.URL, Status: status, Err: err})
	}
	return out
}

// contentfulSignature signs a request as node-apps-toolkit's signRequest:
// the headers (lower-cased and trimmed names, trimmed values) plus
// x-contentful-signed-headers and x-contentful-timestamp, sorted by name;
// canonical string METHOD\npath\nname:value;...\nbody; lowercase hex
// HMAC-SHA256 keyed with the secret. It returns the signed-headers value
// and the signature.
func contentfulSignature(secret, method, path string, headers [][2]string, body []byte, ts int64) (string, string) {
	type kv struct{ k, v string }
	var all []kv
	for _, h := range headers {
		all = append(all, kv{strings.ToLower(strings.TrimSpace(h[0])), strings.TrimSpace(h[1])})
	}
	names := []string{"x-contentful-signed-headers", "x-contentful-timestamp"}
	for _, h := range all {
		names = append(names, h.k)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	signed := strings.Join(names, ",")
	all = append(all, kv{"x-contentful-signed-headers", signed}, kv{"x-contentful-timestamp", strconv.FormatInt(ts, 10)})
	slices.SortFunc(all, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	parts := make([]string, 0, len(all))
	for _, h := range all {
		parts = append(parts, h.k+":"+h.v)
	}
	canonical := strings.ToUpper(method) + "\n" + path + "\n" + strings.Join(parts, ";") + "\n" + string(body)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(canonical))
	return signed, hex.EncodeToString(m.Sum(nil))
}

// contentfulRequestPath is the path the toolkit signs:
// encodeURI(pathname + ("?" + querystring.escape(search) when there is a
// query)); so "?x=1" is signed as "?x%253D1".
func contentfulRequestPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + jsEncodeURIComponent(u.RawQuery)
	}
	return jsEncodeURI(p)
}

// jsEncodeURIComponent is JavaScript's encodeURIComponent (which
// querystring.escape equals): everything but A-Z a-z 0-9 - _ . ! ~ * ' ( )
// is percent-encoded.
func jsEncodeURIComponent(s string) string { return jsEncode(s, "-_.!~*'()") }

// jsEncodeURI is JavaScript's encodeURI: it also keeps ; , / ? : @ & = + $ #.
func jsEncodeURI(s string) string { return jsEncode(s, "-_.!~*'();,/?:@&=+$#") }

func jsEncode(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || strings.IndexByte(keep, ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// contentfulTopicCovers matches a webhook topic against an event topic
// segment by segment, "*" matching any segment.
func contentfulTopicCovers(pattern, topic string) bool {
	ps, ts := strings.Split(pattern, "."), strings.Split(topic, ".")
	if len(ps) != len(ts) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != ts[i] {
			return false
		}
	}
	return true
}

func (c *Contentful) requestID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requestNo++
	return fmt.Sprintf("sim-%08x", c.requestNo)
}

func (c *Contentful) errorAnswer(w http.ResponseWriter, status int, id, msg string, details any) {
	body := map[string]any{"sys": map[string]any{"type": "Error", "id": id}, "message": msg, "requestId": c.requestID()}
	if details != nil {
		body["details"] = details
	}
	contentfulJSON(w, status, body)
}

func contentfulJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentfulType)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *Contentful) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, wait, ok := c.take(w, r)
		if !ok {
			return
		}
		now := time.Now()
		c.mu.Lock()
		if sec := now.Unix(); sec != c.second {
			c.second, c.inSecond = sec, 0
		}
		c.inSecond++
		over := c.inSecond > c.opts.SecondLimit
		remaining := max(0, c.opts.SecondLimit-c.inSecond)
		authed := !c.revoked && r.Header.Get("Authorization") == "Bearer "+c.opts.Token
		c.mu.Unlock()
		w.Header().Set("X-Contentful-RateLimit-Second-Limit", strconv.Itoa(c.opts.SecondLimit))
		w.Header().Set("X-Contentful-RateLimit-Second-Remaining", strconv.Itoa(remaining))
		w.Header().Set("X-Contentful-Request-Id", "sim")
		switch {
		case kind == faultServerError:
			c.errorAnswer(w, http.StatusInternalServerError, "ServerError", "Internal server error", nil)
		case !authed:
			c.errorAnswer(w, http.StatusUnauthorized, "AccessTokenInvalid", "The access token you sent could not be found or is invalid.", nil)
		case kind == faultRateLimit || over:
			reset := 1
			if kind == faultRateLimit {
				reset = int(max(1, (wait+time.Second-1)/time.Second))
			}
			w.Header().Set("X-Contentful-RateLimit-Reset", strconv.Itoa(reset))
			c.errorAnswer(w, http.StatusTooManyRequests, "RateLimitExceeded",
				"You have exceeded the rate limit of the Organization this Space belongs to by making too many API requests within a short timespan. Please wait a moment before trying the request again.", nil)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (c *Contentful) space(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("space") != c.opts.SpaceID {
		c.errorAnswer(w, http.StatusNotFound, "NotFound", "The resource could not be found.",
			map[string]any{"type": "Space", "id": r.PathValue("space")})
		return false
	}
	return true
}

// resource is the CMA JSON of a webhook definition.
func (c *Contentful) resource(h ContentfulWebhook) map[string]any {
	link := func(typ, id string) map[string]any {
		return map[string]any{"sys": map[string]any{"type": "Link", "linkType": typ, "id": id}}
	}
	return map[string]any{
		"sys": map[string]any{
			"type": "WebhookDefinition", "id": h.ID, "version": h.Version,
			"space": link("Space", c.opts.SpaceID), "createdBy": link("User", "simuser"),
			"updatedBy": link("User", "simuser"),
			"createdAt": h.CreatedAt.Format(time.RFC3339Nano), "updatedAt": h.UpdatedAt.Format(time.RFC3339Nano),
		},
		"name": h.Name, "url": h.URL, "topics": h.Topics, "filters": h.Filters, "headers": h.Headers,
		"httpBasicUsername": nil, "active": h.Active,
	}
}

func (c *Contentful) list(w http.ResponseWriter, r *http.Request) {
	if !c.space(w, r) {
		return
	}
	q := r.URL.Query()
	skip, limit := 0, 100
	if v := q.Get("skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			c.errorAnswer(w, http.StatusBadRequest, "BadRequest", "skip must be a non-negative integer", nil)
			return
		}
		skip = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			c.errorAnswer(w, http.StatusBadRequest, "BadRequest", "limit must be between 1 and 1000", nil)
			return
		}
		limit = n
	}
	c.mu.Lock()
	all := c.sortedLocked()
	c.mu.Unlock()
	items := []map[string]any{}
	for i := skip; i < len(all) && i < skip+limit; i++ {
		items = append(items, c.resource(all[i]))
	}
	contentfulJSON(w, http.StatusOK, map[string]any{
		"sys": map[string]any{"type": "Array"}, "total": len(all), "skip": skip, "limit": limit, "items": items,
	})
}

func (c *Contentful) get(w http.ResponseWriter, r *http.Request) {
	if !c.space(w, r) {
		return
	}
	c.mu.Lock()
	h, ok := c.hooks[r.PathValue("id")]
	var cp ContentfulWebhook
	if ok {
		cp = *h
	}
	c.mu.Unlock()
	if !ok {
		c.notFound(w, r.PathValue("id"))
		return
	}
	contentfulJSON(w, http.StatusOK, c.resource(cp))
}

func (c *Contentful) notFound(w http.ResponseWriter, id string) {
	c.errorAnswer(w, http.StatusNotFound, "NotFound", "The resource could not be found.",
		map[string]any{"type": "WebhookDefinition", "id": id})
}

type contentfulInput struct {
	Name    string             `json:"name"`
	URL     string             `json:"url"`
	Topics  []string           `json:"topics"`
	Filters json.RawMessage    `json:"filters"`
	Headers []ContentfulHeader `json:"headers"`
	Active  *bool              `json:"active"`
}

// decode reads and validates a definition; it answers 422 ValidationFailed
// naming the fields at fault.
func (c *Contentful) decode(w http.ResponseWriter, r *http.Request) (ContentfulWebhook, bool) {
	var in contentfulInput
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		c.errorAnswer(w, http.StatusBadRequest, "BadRequest", "The body you sent is not valid JSON.", nil)
		return ContentfulWebhook{}, false
	}
	var problems []map[string]any
	if strings.TrimSpace(in.Name) == "" {
		problems = append(problems, map[string]any{"name": "required", "path": []string{"name"}})
	}
	if u, err := url.Parse(in.URL); in.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		problems = append(problems, map[string]any{"name": "required", "path": []string{"url"}})
	}
	if len(in.Topics) == 0 {
		problems = append(problems, map[string]any{"name": "size", "min": 1, "path": []string{"topics"}})
	}
	for i, t := range in.Topics {
		if strings.Count(t, ".") != 1 {
			problems = append(problems, map[string]any{"name": "in", "path": []any{"topics", i}, "value": t})
		}
	}
	var filters []any
	if len(in.Filters) > 0 && json.Unmarshal(in.Filters, &filters) != nil {
		problems = append(problems, map[string]any{"name": "type", "type": "Array", "path": []string{"filters"}})
	}
	if len(problems) > 0 {
		c.errorAnswer(w, http.StatusUnprocessableEntity, "ValidationFailed", "Validation error", map[string]any{"errors": problems})
		return ContentfulWebhook{}, false
	}
	h := ContentfulWebhook{Name: in.Name, URL: in.URL, Topics: in.Topics, Filters: in.Filters, Headers: in.Headers, Active: true}
	if in.Active != nil {
		h.Active = *in.Active
	}
	return h, true
}

func (c *Contentful) create(w http.ResponseWriter, r *http.Request) {
	if !c.space(w, r) {
		return
	}
	h, ok := c.decode(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	cp := *c.addLocked(h)
	c.mu.Unlock()
	contentfulJSON(w, http.StatusCreated, c.resource(cp))
}

func (c *Contentful) put(w http.ResponseWriter, r *http.Request) {
	if !c.space(w, r) {
		return
	}
	id := r.PathValue("id")
	h, ok := c.decode(w, r)
	if !ok {
		return
	}
	version := r.Header.Get("X-Contentful-Version")
	c.mu.Lock()
	cur, exists := c.hooks[id]
	switch {
	case !exists && version == "":
		h.ID = id
		cp := *c.addLocked(h)
		c.mu.Unlock()
		contentfulJSON(w, http.StatusCreated, c.resource(cp))
	case !exists:
		c.mu.Unlock()
		c.notFound(w, id)
	case version != strconv.Itoa(cur.Version):
		c.mu.Unlock()
		c.errorAnswer(w, http.StatusConflict, "VersionMismatch", "", nil)
	default:
		cur.Name, cur.URL, cur.Topics, cur.Active = h.Name, h.URL, h.Topics, h.Active
		if len(h.Filters) > 0 {
			cur.Filters = h.Filters
		} else {
			cur.Filters = json.RawMessage("[]")
		}
		if h.Headers != nil {
			cur.Headers = h.Headers
		}
		cur.Version++
		cur.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		cp := *cur
		c.mu.Unlock()
		contentfulJSON(w, http.StatusOK, c.resource(cp))
	}
}

func (c *Contentful) delete(w http.ResponseWriter, r *http.Request) {
	if !c.space(w, r) {
		return
	}
	if !c.DeleteWebhook(r.PathValue("id")) {
		c.notFound(w, r.PathValue("id"))
		return
	}
	contentfulJSON(w, http.StatusNoContent, nil)
}
