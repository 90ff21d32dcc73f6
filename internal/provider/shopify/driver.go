package shopify

// The driver follows Shopify's REST Admin API for webhook subscriptions:
//   - resource and endpoints: https://shopify.dev/docs/api/admin-rest/latest/resources/webhook
//     (GET/POST /admin/api/{version}/webhooks.json, GET/PUT/DELETE
//     /admin/api/{version}/webhooks/{id}.json, header X-Shopify-Access-Token);
//   - pagination: https://shopify.dev/docs/api/admin-rest/usage/pagination
//     (cursor in the Link header, rel="next");
//   - rate limits: https://shopify.dev/docs/api/admin-rest/usage/rate-limits
//     (leaky bucket reported in X-Shopify-Shop-Api-Call-Limit "used/size",
//     2 requests/s leak on standard plans, 429 with Retry-After in seconds).
// A REST subscription holds one topic; filters exist only in the GraphQL
// Admin API (https://shopify.dev/changelog/webhook-subscriptions-now-support-filters).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
)

// Defaults of the driver.
const (
	// DefaultAPIVersion is used when settings.api_version is unset.
	DefaultAPIVersion = "2025-07"
	// DefaultLeakRate is the bucket's leak on standard plans (requests/s).
	DefaultLeakRate = 2.0
	// listPageLimit is the page size asked for (the documented maximum).
	listPageLimit = 250
	// listMaxPages bounds one listing.
	listMaxPages = 100
)

// Options configure the driver.
type Options struct {
	// API tunes the HTTP client (timeouts, retries, breaker).
	API provider.APIClientOptions
	// LeakRate is how many requests per second the shop's bucket drains;
	// it sets the client-side rate and the pause taken when the
	// X-Shopify-Shop-Api-Call-Limit bucket runs nearly full. The bucket
	// is kept per shop and token, whatever host serves them.
	LeakRate float64
	// ShareFor is how long one listing of a shop serves every stack of
	// that shop (default provider.DefaultShareFor; < 0: not kept, only
	// concurrent observations share one).
	ShareFor time.Duration
}

// Driver is the Shopify provider driver.
type Driver struct {
	api    *provider.APIClient
	leak   float64
	shared *provider.Shared[[]restWebhook]
}

var (
	_ provider.Driver   = (*Driver)(nil)
	_ provider.Destiner = (*Driver)(nil)
)

// New returns a Shopify driver.
func New(opts Options) *Driver {
	if opts.LeakRate <= 0 {
		opts.LeakRate = DefaultLeakRate
	}
	api := opts.API
	api.Provider = Name
	if api.RateLimit <= 0 {
		api.RateLimit = rate.Limit(opts.LeakRate)
		api.Burst = 40 // the standard bucket: the first calls go at once
	}
	leak := opts.LeakRate
	api.Throttle = func(r *provider.Response) time.Duration { return callLimitPause(r.Header, leak) }
	api.ErrorMessage = adminErrorMessage
	if opts.ShareFor == 0 {
		opts.ShareFor = provider.DefaultShareFor
	}
	return &Driver{api: provider.NewAPIClient(api), leak: opts.LeakRate, shared: provider.NewShared[[]restWebhook](opts.ShareFor, api.Now)}
}

// account is the AccountKey of the binding's shop: its rate-limit bucket
// and its shared listing.
func account(b provider.Binding) string {
	shop := strings.ToLower(b.Setting("shop", ""))
	if shop != "" && !strings.Contains(shop, ".") {
		shop += ".myshopify.com"
	}
	if shop == "" {
		shop = b.APIBase("")
	}
	return provider.AccountKey(Name, shop, b.Token())
}

// restWebhook is the REST Webhook resource.
type restWebhook struct {
	ID                  int64    `json:"id,omitempty"`
	Address             string   `json:"address,omitempty"`
	Topic               string   `json:"topic,omitempty"`
	Format              string   `json:"format,omitempty"`
	Fields              []string `json:"fields,omitempty"`
	MetafieldNamespaces []string `json:"metafield_namespaces,omitempty"`
	APIVersion          string   `json:"api_version,omitempty"`
	CreatedAt           string   `json:"created_at,omitempty"`
	UpdatedAt           string   `json:"updated_at,omitempty"`
}

// adminBase is {api base}/admin/api/{version}.
// Destination is where the binding's token goes: the shop's Admin API
// (settings.api_base, else https://{shop}); "" without either.
func (d *Driver) Destination(b provider.Binding) string {
	u, err := adminBase(b)
	if err != nil {
		return ""
	}
	return u
}

func adminBase(b provider.Binding) (string, error) {
	def := ""
	if shop := b.Setting("shop", ""); shop != "" {
		if !strings.Contains(shop, ".") {
			shop += ".myshopify.com"
		}
		def = "https://" + shop
	}
	base := b.APIBase(def)
	if base == "" {
		return "", provider.ConfigError("shopify binding needs settings.shop (or settings.api_base)")
	}
	return base + "/admin/api/" + url.PathEscape(b.Setting("api_version", DefaultAPIVersion)), nil
}

func (d *Driver) do(ctx context.Context, b provider.Binding, method, u string, body any) (*provider.Response, error) {
	tok := b.Token()
	if tok == "" {
		return nil, provider.ConfigError("shopify binding needs credentials.token (an Admin API access token)")
	}
	r := provider.Request{Method: method, URL: u, Header: http.Header{"X-Shopify-Access-Token": {tok}}, Account: account(b)}
	if body != nil {
		r.Body = provider.JSON(body)
	}
	return d.api.Do(ctx, r)
}

// list returns the shop's webhooks, following the Link header; address
// filters by address when set.
func (d *Driver) list(ctx context.Context, b provider.Binding, address string) ([]restWebhook, error) {
	base, err := adminBase(b)
	if err != nil {
		return nil, err
	}
	q := url.Values{"limit": {strconv.Itoa(listPageLimit)}}
	if address != "" {
		q.Set("address", address)
	}
	next := base + "/webhooks.json?" + q.Encode()
	var out []restWebhook
	for page := 0; next != ""; page++ {
		if page == listMaxPages {
			return nil, fmt.Errorf("list shopify webhooks: %w: more than %d pages", provider.ErrInvalidAnswer, listMaxPages)
		}
		resp, err := d.do(ctx, b, http.MethodGet, next, nil)
		if page == 0 {
			err = provider.AccountListing(err)
		}
		if err != nil {
			return nil, fmt.Errorf("list shopify webhooks: %w", err)
		}
		var body struct {
			Webhooks *[]restWebhook `json:"webhooks"`
		}
		if err := resp.Decode(&body); err != nil {
			return nil, fmt.Errorf("list shopify webhooks: %w", err)
		}
		if body.Webhooks == nil {
			return nil, fmt.Errorf("list shopify webhooks: %w: no \"webhooks\" in the answer", provider.ErrInvalidAnswer)
		}
		out = append(out, *body.Webhooks...)
		next, err = nextLink(resp.Header.Values("Link"), base)
		if err != nil {
			return nil, fmt.Errorf("list shopify webhooks: %w: %w", provider.ErrInvalidAnswer, err)
		}
	}
	return out, nil
}

// Observe lists the shop's webhooks, every page. Subscriptions at one
// address are reported as one subscription whose topics are theirs
// together and whose ID is their ids, comma-separated: that is the
// subscription the reconciler compares against an integration's topics
// (REST subscriptions carry one topic each, and are always enabled). The
// listing is the shop's, the same for every stack of it, so stacks of one
// shop and token share it (Options.ShareFor); a heal's (provider.ForHeal)
// is always fresh.
func (d *Driver) Observe(ctx context.Context, b provider.Binding) provider.Observation {
	var hooks []restWebhook
	var err error
	if provider.IsHeal(ctx) {
		hooks, err = d.list(ctx, b, "")
	} else {
		hooks, err = d.shared.Do(ctx, account(b), func(ctx context.Context) ([]restWebhook, error) { return d.list(ctx, b, "") })
	}
	if err != nil {
		return provider.ObservationOf(b.Name, err)
	}
	return provider.Listed(b.Name, groupByAddress(hooks))
}

func groupByAddress(hooks []restWebhook) []drift.Subscription {
	byAddr := map[string]*drift.Subscription{}
	var addrs []string
	ids := map[string][]int64{}
	for _, h := range hooks {
		s := byAddr[h.Address]
		if s == nil {
			s = &drift.Subscription{Address: h.Address, Enabled: true, APIVersion: h.APIVersion}
			byAddr[h.Address] = s
			addrs = append(addrs, h.Address)
		}
		if !slices.Contains(s.Topics, h.Topic) {
			s.Topics = append(s.Topics, h.Topic)
		}
		ids[h.Address] = append(ids[h.Address], h.ID)
	}
	slices.Sort(addrs)
	out := make([]drift.Subscription, 0, len(addrs))
	for _, a := range addrs {
		s := byAddr[a]
		slices.Sort(s.Topics)
		s.ID = joinIDs(ids[a])
		out = append(out, *s)
	}
	return out
}

func joinIDs(ids []int64) string {
	slices.Sort(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// Register creates a webhook at address for each topic of ig that has none
// there yet, and returns the subscription at address as Observe reports it.
func (d *Driver) Register(ctx context.Context, b provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	if err := checkRESTIntegration(ig); err != nil {
		return drift.Subscription{}, err
	}
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	have, err := d.list(ctx, b, address)
	if err != nil {
		return drift.Subscription{}, fmt.Errorf("register shopify integration %q: %w", ig.Name, err)
	}
	created, raced, err := d.createMissing(ctx, b, ig, address, have)
	if err != nil {
		return drift.Subscription{}, err
	}
	hooks := append(have, created...)
	if raced {
		// Another caller created some meanwhile ("already been taken"):
		// they are in neither list, so list again.
		if hooks, err = d.list(ctx, b, address); err != nil {
			return drift.Subscription{}, fmt.Errorf("register shopify integration %q: %w", ig.Name, err)
		}
	}
	if s, ok := atAddress(hooks, address); ok {
		return s, nil
	}
	return drift.Subscription{}, fmt.Errorf("register shopify integration %q: no webhook at the address after creating them", ig.Name)
}

// Reregister deletes the webhooks of ig's topics at address and creates
// them again (provider.Reregistrar): Shopify deletes a subscription
// created through the Admin API after its deliveries keep failing, and
// counts the failures per subscription, so a fresh one starts from zero.
// Deliveries between the delete and the create are lost; the reconcile
// pass reads the provider, not only its events.
func (d *Driver) Reregister(ctx context.Context, b provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	if err := checkRESTIntegration(ig); err != nil {
		return drift.Subscription{}, err
	}
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	base, err := adminBase(b)
	if err != nil {
		return drift.Subscription{}, err
	}
	have, err := d.list(ctx, b, address)
	if err != nil {
		return drift.Subscription{}, fmt.Errorf("re-register shopify integration %q: %w", ig.Name, err)
	}
	want := trimTopics(ig.Topics)
	for _, h := range have {
		if !slices.Contains(want, h.Topic) {
			continue
		}
		u := fmt.Sprintf("%s/webhooks/%d.json", base, h.ID)
		if _, err := d.do(ctx, b, http.MethodDelete, u, nil); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return drift.Subscription{}, fmt.Errorf("delete shopify webhook %d to re-register it: %w", h.ID, err)
		}
	}
	return d.Register(ctx, b, ig, address)
}

// atAddress is the subscription of the webhooks at address.
func atAddress(hooks []restWebhook, address string) (drift.Subscription, bool) {
	for _, s := range groupByAddress(hooks) {
		if s.Address == address {
			return s, true
		}
	}
	return drift.Subscription{}, false
}

func checkRESTIntegration(ig provider.Integration) error {
	if strings.TrimSpace(ig.Filter) != "" {
		return provider.ConfigError("integration %q: shopify REST webhooks take no filter (filters are GraphQL-only)", ig.Name)
	}
	if len(ig.Topics) == 0 {
		return provider.ConfigError("integration %q: shopify webhooks need topics", ig.Name)
	}
	return nil
}

// createMissing POSTs a webhook for each topic of ig that have lacks at
// address; raced says that some had been created meanwhile by another
// caller.
func (d *Driver) createMissing(ctx context.Context, b provider.Binding, ig provider.Integration, address string, have []restWebhook) (created []restWebhook, raced bool, err error) {
	base, err := adminBase(b)
	if err != nil {
		return nil, false, err
	}
	for _, topic := range ig.Topics {
		topic = strings.TrimSpace(topic)
		if slices.ContainsFunc(have, func(h restWebhook) bool { return h.Address == address && h.Topic == topic }) {
			continue
		}
		body := map[string]restWebhook{"webhook": {Topic: topic, Address: address, Format: "json"}}
		resp, err := d.do(ctx, b, http.MethodPost, base+"/webhooks.json", body)
		var serr *provider.StatusError
		if errors.As(err, &serr) && serr.Status == http.StatusUnprocessableEntity && strings.Contains(serr.Message, "already been taken") {
			raced = true // created meanwhile: what we wanted
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("create shopify webhook %q: %w", topic, err)
		}
		var out struct {
			Webhook restWebhook `json:"webhook"`
		}
		if err := resp.Decode(&out); err != nil {
			return nil, false, fmt.Errorf("create shopify webhook %q: %w", topic, err)
		}
		created = append(created, out.Webhook)
	}
	return created, raced, nil
}

// Update makes the webhooks of sub (its comma-separated ids) match ig at
// address: webhooks of ig's topics are pointed at address (PUT), webhooks
// of topics no integration of the binding declares are deleted, those of
// sibling integrations are left, and topics of ig that lack a webhook get
// one.
func (d *Driver) Update(ctx context.Context, b provider.Binding, sub drift.Subscription, ig provider.Integration, address string) error {
	if err := checkRESTIntegration(ig); err != nil {
		return err
	}
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	base, err := adminBase(b)
	if err != nil {
		return err
	}
	all, err := d.list(ctx, b, "")
	if err != nil {
		return fmt.Errorf("update shopify integration %q: %w", ig.Name, err)
	}
	want := trimTopics(ig.Topics)
	var siblings []string
	for name, other := range b.Integrations {
		if name != ig.Name {
			siblings = append(siblings, trimTopics(other.Topics)...)
		}
	}
	ids := strings.Split(sub.ID, ",")
	var kept []restWebhook
	for _, h := range all {
		if !slices.Contains(ids, strconv.FormatInt(h.ID, 10)) {
			kept = append(kept, h)
			continue
		}
		u := fmt.Sprintf("%s/webhooks/%d.json", base, h.ID)
		switch {
		case slices.Contains(want, h.Topic):
			if h.Address != address {
				body := map[string]restWebhook{"webhook": {ID: h.ID, Address: address}}
				if _, err := d.do(ctx, b, http.MethodPut, u, body); err != nil {
					return fmt.Errorf("update shopify webhook %d: %w", h.ID, err)
				}
				h.Address = address
			}
			kept = append(kept, h)
		case slices.Contains(siblings, h.Topic):
			kept = append(kept, h)
		default:
			if _, err := d.do(ctx, b, http.MethodDelete, u, nil); err != nil && !errors.Is(err, provider.ErrNotFound) {
				return fmt.Errorf("delete shopify webhook %d (topic %q not declared): %w", h.ID, h.Topic, err)
			}
		}
	}
	if _, _, err := d.createMissing(ctx, b, ig, address, kept); err != nil {
		return err
	}
	return nil
}

func trimTopics(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// nextLink returns the rel="next" URL of Link headers, "" when there is
// none. The URL must be on the API's own host: a Link elsewhere is refused
// (the token would follow it).
func nextLink(links []string, base string) (string, error) {
	for _, header := range links {
		for _, part := range strings.Split(header, ",") {
			part = strings.TrimSpace(part)
			target, params, ok := strings.Cut(part, ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			isNext := false
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slices.Contains(strings.Fields(strings.Trim(v, `"`)), "next") {
					isNext = true
				}
			}
			if !isNext {
				continue
			}
			next, err := url.Parse(strings.Trim(target, "<>"))
			if err != nil {
				return "", fmt.Errorf("bad Link header: %w", err)
			}
			bu, _ := url.Parse(base)
			if !next.IsAbs() {
				next = bu.ResolveReference(next)
			}
			if next.Scheme != bu.Scheme || next.Host != bu.Host {
				return "", fmt.Errorf("Link header points at another host (%s)", next.Host)
			}
			return next.String(), nil
		}
	}
	return "", nil
}

// callLimitPause reads X-Shopify-Shop-Api-Call-Limit ("used/size") and,
// when fewer than 4 calls are left in the bucket, returns how long the
// bucket needs to drain back to 4 free calls at leak requests/s.
func callLimitPause(h http.Header, leak float64) time.Duration {
	v := h.Get("X-Shopify-Shop-Api-Call-Limit")
	usedS, sizeS, ok := strings.Cut(v, "/")
	if !ok {
		return 0
	}
	used, err1 := strconv.Atoi(strings.TrimSpace(usedS))
	size, err2 := strconv.Atoi(strings.TrimSpace(sizeS))
	if err1 != nil || err2 != nil || size <= 0 {
		return 0
	}
	over := used - (size - 4)
	if over <= 0 {
		return 0
	}
	return time.Duration(float64(over) / leak * float64(time.Second))
}

// adminErrorMessage reads Shopify's error body: {"errors": "text"} or
// {"errors": {"field": ["message", ...]}}.
func adminErrorMessage(body []byte) string {
	var e struct {
		Errors any `json:"errors"`
	}
	r := &provider.Response{Body: body}
	if r.Decode(&e) != nil || e.Errors == nil {
		return provider.Truncate(strings.TrimSpace(string(body)), 300)
	}
	switch v := e.Errors.(type) {
	case string:
		return provider.Truncate(v, 300)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %v", k, v[k]))
		}
		return provider.Truncate(strings.Join(parts, "; "), 300)
	}
	return provider.Truncate(fmt.Sprint(e.Errors), 300)
}
