package contentful

// The driver follows the Content Management API's webhook definitions
// (https://www.contentful.com/developers/docs/references/content-management-api/#/reference/webhooks):
// base https://api.contentful.com (settings.api_base for the EU host or a
// fake), Authorization: Bearer <CMA token>, Content-Type
// application/vnd.contentful.management.v1+json; GET/POST
// /spaces/{space_id}/webhook_definitions with skip/limit pagination over
// {total, skip, limit, items}; GET/PUT /spaces/{space_id}/webhook_definitions/{id},
// where an update PUT carries X-Contentful-Version (409 VersionMismatch
// when stale). Rate limits
// (https://www.contentful.com/developers/docs/references/content-management-api/#/introduction/api-rate-limits):
// X-Contentful-RateLimit-Second-Limit/-Remaining on answers, and on a 429
// X-Contentful-RateLimit-Reset, the seconds to wait.
//
// A definition's topics are a subscription's topics, its active flag the
// enabled state, and its filters (a JSON array) the filter: compact JSON,
// or the text of a declared integration filter that means the same JSON.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
)

// DefaultAPIBase is the CMA's host.
const DefaultAPIBase = "https://api.contentful.com"

const (
	mediaType    = "application/vnd.contentful.management.v1+json"
	listPageSize = 100
	listMaxPages = 100
)

// Options configure the driver.
type Options struct {
	API provider.APIClientOptions
	// ShareFor is how long one listing of a space serves every stack of
	// that space (default provider.DefaultShareFor; < 0: not kept, only
	// concurrent observations share one).
	ShareFor time.Duration
}

// Driver is the Contentful provider driver.
type Driver struct {
	api    *provider.APIClient
	shared *provider.Shared[[]definition]
}

var (
	_ provider.Driver   = (*Driver)(nil)
	_ provider.Destiner = (*Driver)(nil)
)

// New returns a Contentful driver.
func New(opts Options) *Driver {
	api := opts.API
	api.Provider = Name
	if api.RateLimit <= 0 {
		api.RateLimit = rate.Limit(7) // the CMA's default per-second limit
		api.Burst = 7
	}
	api.RetryAfter = rateLimitReset
	api.Throttle = secondRemaining
	api.ErrorMessage = cmaErrorMessage
	if opts.ShareFor == 0 {
		opts.ShareFor = provider.DefaultShareFor
	}
	return &Driver{api: provider.NewAPIClient(api), shared: provider.NewShared[[]definition](opts.ShareFor, api.Now)}
}

// account is the AccountKey of the binding's space: its rate limit and
// its shared listing.
func account(b provider.Binding) string {
	return provider.AccountKey(Name, b.Setting("space_id", ""), b.Token())
}

// definition is a webhook definition as the CMA answers it.
type definition struct {
	Sys struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	} `json:"sys"`
	Name    string          `json:"name"`
	URL     string          `json:"url"`
	Topics  []string        `json:"topics"`
	Filters json.RawMessage `json:"filters"`
	Active  bool            `json:"active"`
}

// Destination is where the binding's token goes: the CMA
// (settings.api_base, else DefaultAPIBase); "" without a space id.
func (d *Driver) Destination(b provider.Binding) string {
	u, err := definitionsURL(b)
	if err != nil {
		return ""
	}
	return u
}

func definitionsURL(b provider.Binding) (string, error) {
	space := b.Setting("space_id", "")
	if space == "" {
		return "", provider.ConfigError("contentful binding needs settings.space_id")
	}
	return b.APIBase(DefaultAPIBase) + "/spaces/" + url.PathEscape(space) + "/webhook_definitions", nil
}

func (d *Driver) do(ctx context.Context, b provider.Binding, method, u string, body []byte, version int) (*provider.Response, error) {
	tok := b.Token()
	if tok == "" {
		return nil, provider.ConfigError("contentful binding needs credentials.token (a CMA token)")
	}
	h := http.Header{"Authorization": {"Bearer " + tok}, "Accept": {mediaType}}
	if body != nil {
		h.Set("Content-Type", mediaType)
	}
	if version > 0 {
		h.Set("X-Contentful-Version", strconv.Itoa(version))
	}
	return d.api.Do(ctx, provider.Request{Method: method, URL: u, Header: h, Body: body, Account: account(b)})
}

func (d *Driver) list(ctx context.Context, b provider.Binding) ([]definition, error) {
	base, err := definitionsURL(b)
	if err != nil {
		return nil, err
	}
	var out []definition
	for page, skip := 0, 0; ; page++ {
		if page == listMaxPages {
			return nil, fmt.Errorf("list contentful webhooks: %w: more than %d pages", provider.ErrInvalidAnswer, listMaxPages)
		}
		q := url.Values{"skip": {strconv.Itoa(skip)}, "limit": {strconv.Itoa(listPageSize)}}
		resp, err := d.do(ctx, b, http.MethodGet, base+"?"+q.Encode(), nil, 0)
		if page == 0 {
			err = provider.AccountListing(err)
		}
		if err != nil {
			return nil, fmt.Errorf("list contentful webhooks: %w", err)
		}
		var coll struct {
			Total *int         `json:"total"`
			Items []definition `json:"items"`
		}
		if err := resp.Decode(&coll); err != nil {
			return nil, fmt.Errorf("list contentful webhooks: %w", err)
		}
		if coll.Total == nil || coll.Items == nil {
			return nil, fmt.Errorf("list contentful webhooks: %w: not a collection (no total or items)", provider.ErrInvalidAnswer)
		}
		out = append(out, coll.Items...)
		skip += len(coll.Items)
		if skip >= *coll.Total {
			return out, nil
		}
		if len(coll.Items) == 0 {
			// The collection shrank while it was read, or the answer does
			// not add up: the list is not known whole.
			return nil, fmt.Errorf("list contentful webhooks: %w: an empty page at %d of %d", provider.ErrInvalidAnswer, skip, *coll.Total)
		}
	}
}

// Observe lists the space's webhook definitions, every page. The listing
// is the space's, the same for every stack of it, so stacks of one space
// and token share it (Options.ShareFor); each stack reads it with its own
// declared filters. A heal's (provider.ForHeal) is always fresh.
func (d *Driver) Observe(ctx context.Context, b provider.Binding) provider.Observation {
	var defs []definition
	var err error
	if provider.IsHeal(ctx) {
		defs, err = d.list(ctx, b)
	} else {
		defs, err = d.shared.Do(ctx, account(b), func(ctx context.Context) ([]definition, error) { return d.list(ctx, b) })
	}
	if err != nil {
		return provider.ObservationOf(b.Name, err)
	}
	declared := declaredFilters(b)
	subs := make([]drift.Subscription, 0, len(defs))
	for _, def := range defs {
		subs = append(subs, subscriptionOf(def, declared))
	}
	return provider.Listed(b.Name, subs)
}

func subscriptionOf(def definition, declared []string) drift.Subscription {
	topics := slices.Clone(def.Topics)
	slices.Sort(topics)
	return drift.Subscription{ID: def.Sys.ID, Address: def.URL, Topics: topics, Filter: filterText(def.Filters, declared), Enabled: def.Active}
}

// declaredFilters are the filters of the binding's integrations.
func declaredFilters(b provider.Binding) []string {
	var out []string
	for _, ig := range b.Integrations {
		if f := strings.TrimSpace(ig.Filter); f != "" {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// filterText is the filter of a definition: "" for no filters, else the
// declared filter text that means the same JSON, else compact JSON.
func filterText(raw json.RawMessage, declared []string) string {
	var have []any
	if len(raw) == 0 || json.Unmarshal(raw, &have) != nil || len(have) == 0 {
		return ""
	}
	for _, d := range declared {
		var want []any
		if json.Unmarshal([]byte(d), &want) == nil && reflect.DeepEqual(have, want) {
			return d
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// filtersOf parses an integration's filter: a JSON array of Contentful
// webhook filters, or "" for none.
func filtersOf(ig provider.Integration) (json.RawMessage, error) {
	f := strings.TrimSpace(ig.Filter)
	if f == "" {
		return json.RawMessage("[]"), nil
	}
	var v []any
	if err := json.Unmarshal([]byte(f), &v); err != nil {
		return nil, provider.ConfigError("integration %q: a contentful filter is a JSON array of webhook filters: %v", ig.Name, err)
	}
	return json.RawMessage(f), nil
}

func topicsOf(ig provider.Integration) ([]string, error) {
	var out []string
	for _, t := range ig.Topics {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, provider.ConfigError("integration %q: contentful webhooks need topics (Entry.publish, *.*, ...)", ig.Name)
	}
	return out, nil
}

// Register creates a definition for ig at address unless an active one
// with its topics and filter is there.
func (d *Driver) Register(ctx context.Context, b provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	topics, err := topicsOf(ig)
	if err != nil {
		return drift.Subscription{}, err
	}
	filters, err := filtersOf(ig)
	if err != nil {
		return drift.Subscription{}, err
	}
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	defs, err := d.list(ctx, b)
	if err != nil {
		return drift.Subscription{}, fmt.Errorf("register contentful integration %q: %w", ig.Name, err)
	}
	declared := declaredFilters(b)
	if f := strings.TrimSpace(ig.Filter); f != "" && !slices.Contains(declared, f) {
		declared = append(declared, f)
	}
	want := drift.Subscription{Address: address, Topics: sortedCopy(topics), Filter: filterText(filters, declared), Enabled: true}
	for _, def := range defs {
		s := subscriptionOf(def, declared)
		if s.Address == want.Address && s.Enabled && s.Filter == want.Filter && slices.Equal(s.Topics, want.Topics) {
			return s, nil
		}
	}
	base, _ := definitionsURL(b)
	body := provider.JSON(map[string]any{
		"name": definitionName(b, ig), "url": address, "topics": topics, "filters": filters,
		"headers": []any{}, "active": true,
	})
	resp, err := d.do(ctx, b, http.MethodPost, base, body, 0)
	if err != nil {
		return drift.Subscription{}, fmt.Errorf("create contentful webhook for %q: %w", ig.Name, err)
	}
	var def definition
	if err := resp.Decode(&def); err != nil {
		return drift.Subscription{}, fmt.Errorf("create contentful webhook for %q: %w", ig.Name, err)
	}
	return subscriptionOf(def, declared), nil
}

// Update reads the definition, then PUTs it back with ig's topics and
// filter, address as url and active, at the version read; on a
// VersionMismatch (someone changed it meanwhile) it reads and tries once
// more. Its name, headers and other fields are kept.
func (d *Driver) Update(ctx context.Context, b provider.Binding, sub drift.Subscription, ig provider.Integration, address string) error {
	topics, err := topicsOf(ig)
	if err != nil {
		return err
	}
	filters, err := filtersOf(ig)
	if err != nil {
		return err
	}
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	base, err := definitionsURL(b)
	if err != nil {
		return err
	}
	u := base + "/" + url.PathEscape(sub.ID)
	for attempt := 0; ; attempt++ {
		resp, err := d.do(ctx, b, http.MethodGet, u, nil, 0)
		if err != nil {
			return fmt.Errorf("read contentful webhook %s: %w", sub.ID, err)
		}
		var def map[string]json.RawMessage
		var meta definition
		if err := resp.Decode(&def); err != nil {
			return fmt.Errorf("read contentful webhook %s: %w", sub.ID, err)
		}
		if err := resp.Decode(&meta); err != nil {
			return fmt.Errorf("read contentful webhook %s: %w", sub.ID, err)
		}
		delete(def, "sys")
		def["url"] = provider.JSON(address)
		def["topics"] = provider.JSON(topics)
		def["filters"] = filters
		def["active"] = json.RawMessage("true")
		_, err = d.do(ctx, b, http.MethodPut, u, provider.JSON(def), meta.Sys.Version)
		var serr *provider.StatusError
		if errors.As(err, &serr) && serr.Status == http.StatusConflict && attempt == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("update contentful webhook %s for %q: %w", sub.ID, ig.Name, err)
		}
		return nil
	}
}

func definitionName(b provider.Binding, ig provider.Integration) string {
	return provider.Truncate("blackwell "+b.ClientID+"/"+b.StackID+" "+ig.Name, 120)
}

func sortedCopy(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

// rateLimitReset reads X-Contentful-RateLimit-Reset (seconds), as
// contentful-sdk-core does, falling back to Retry-After.
func rateLimitReset(r *provider.Response) (time.Duration, bool) {
	if v := strings.TrimSpace(r.Header.Get("X-Contentful-RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return provider.Seconds(n)
		}
	}
	return provider.RetryAfterHeader(r)
}

// secondRemaining pauses until the next second when the answer says no
// request is left in this one.
func secondRemaining(r *provider.Response) time.Duration {
	if v := r.Header.Get("X-Contentful-RateLimit-Second-Remaining"); strings.TrimSpace(v) == "0" {
		now := time.Now()
		return now.Truncate(time.Second).Add(time.Second).Sub(now)
	}
	return 0
}

// cmaErrorMessage reads the CMA's {sys:{id}, message} error body.
func cmaErrorMessage(body []byte) string {
	var e struct {
		Sys struct {
			ID string `json:"id"`
		} `json:"sys"`
		Message string `json:"message"`
	}
	if (&provider.Response{Body: body}).Decode(&e) == nil && e.Sys.ID != "" {
		return provider.Truncate(strings.TrimSpace(e.Sys.ID+" "+e.Message), 300)
	}
	return provider.Truncate(strings.TrimSpace(string(body)), 300)
}
