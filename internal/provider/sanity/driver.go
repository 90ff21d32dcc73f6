package sanity

// The driver follows Sanity's webhook management API
// (https://www.sanity.io/docs/http-webhooks,
// https://www.sanity.io/docs/http-reference/webhooks): base
// https://{projectId}.api.sanity.io/{apiVersion}, Authorization: Bearer
// <token>, GET/POST /hooks/projects/{projectId} (the list is a bare array,
// without pagination), PATCH/DELETE /hooks/projects/{projectId}/{hookId}.
// A hook's rule.on (create, update, delete) is a subscription's topics and
// rule.filter (GROQ) its filter; isDisabled / isDisabledByUser make it
// disabled, and a hook with deletedAt set is gone.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
)

// DefaultAPIVersion is used when settings.api_version is unset.
const DefaultAPIVersion = "v2021-10-04"

// hookAPIVersion is the GROQ API version new hooks evaluate filters with.
const hookAPIVersion = "v2021-03-25"

// operations are the mutations a hook's rule.on can name.
var operations = []string{"create", "update", "delete"}

// Options configure the driver.
type Options struct {
	API provider.APIClientOptions
	// ShareFor is how long one listing of a project serves every stack of
	// that project (default provider.DefaultShareFor; < 0: not kept, only
	// concurrent observations share one).
	ShareFor time.Duration
}

// Driver is the Sanity provider driver.
type Driver struct {
	api    *provider.APIClient
	shared *provider.Shared[[]hookResource]
}

var (
	_ provider.Driver   = (*Driver)(nil)
	_ provider.Destiner = (*Driver)(nil)
)

// New returns a Sanity driver.
func New(opts Options) *Driver {
	api := opts.API
	api.Provider = Name
	api.ErrorMessage = hookErrorMessage
	if opts.ShareFor == 0 {
		opts.ShareFor = provider.DefaultShareFor
	}
	return &Driver{api: provider.NewAPIClient(api), shared: provider.NewShared[[]hookResource](opts.ShareFor, api.Now)}
}

// account is the AccountKey of the binding's project: its rate limit and
// its shared listing.
func account(b provider.Binding) string {
	return provider.AccountKey(Name, b.Setting("project_id", ""), b.Token())
}

// hookResource is a webhook as the API answers it.
type hookResource struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	Dataset          string     `json:"dataset"`
	URL              string     `json:"url"`
	Type             string     `json:"type"`
	Rule             hookRule   `json:"rule"`
	IsDisabled       bool       `json:"isDisabled"`
	IsDisabledByUser bool       `json:"isDisabledByUser"`
	DeletedAt        *time.Time `json:"deletedAt"`
}

type hookRule struct {
	On         []string `json:"on"`
	Filter     string   `json:"filter,omitempty"`
	Projection string   `json:"projection,omitempty"`
}

// hooksURL is {base}/{version}/hooks/projects/{projectId}.
// Destination is where the binding's token goes: the project's API
// (settings.api_base, else https://{project_id}.api.sanity.io); "" without
// a project id.
func (d *Driver) Destination(b provider.Binding) string {
	u, err := hooksURL(b)
	if err != nil {
		return ""
	}
	return u
}

func hooksURL(b provider.Binding) (string, error) {
	project := b.Setting("project_id", "")
	if project == "" {
		return "", provider.ConfigError("sanity binding needs settings.project_id")
	}
	base := b.APIBase("https://" + project + ".api.sanity.io")
	return base + "/" + url.PathEscape(b.Setting("api_version", DefaultAPIVersion)) + "/hooks/projects/" + url.PathEscape(project), nil
}

func (d *Driver) do(ctx context.Context, b provider.Binding, method, u string, body any) (*provider.Response, error) {
	tok := b.Token()
	if tok == "" {
		return nil, provider.ConfigError("sanity binding needs credentials.token")
	}
	r := provider.Request{Method: method, URL: u, Header: http.Header{"Authorization": {"Bearer " + tok}}, Account: account(b)}
	if body != nil {
		r.Body = provider.JSON(body)
	}
	return d.api.Do(ctx, r)
}

func (d *Driver) list(ctx context.Context, b provider.Binding) ([]hookResource, error) {
	u, err := hooksURL(b)
	if err != nil {
		return nil, err
	}
	resp, err := d.do(ctx, b, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("list sanity webhooks: %w", provider.AccountListing(err))
	}
	var hooks []hookResource
	if err := resp.Decode(&hooks); err != nil {
		return nil, fmt.Errorf("list sanity webhooks: %w", err)
	}
	if hooks == nil {
		return nil, fmt.Errorf("list sanity webhooks: %w: null instead of the array of hooks", provider.ErrInvalidAnswer)
	}
	live := hooks[:0]
	for _, h := range hooks {
		if h.DeletedAt == nil {
			live = append(live, h)
		}
	}
	return live, nil
}

func subscriptionOf(h hookResource) drift.Subscription {
	on := slices.Clone(h.Rule.On)
	slices.Sort(on)
	return drift.Subscription{
		ID: h.ID, Address: h.URL, Topics: on, Filter: h.Rule.Filter,
		Enabled: !h.IsDisabled && !h.IsDisabledByUser,
	}
}

// Observe lists the project's webhooks. The listing is the project's, the
// same for every stack of it, so stacks of one project and token share it
// (Options.ShareFor); a heal's (provider.ForHeal) is always fresh.
func (d *Driver) Observe(ctx context.Context, b provider.Binding) provider.Observation {
	var hooks []hookResource
	var err error
	if provider.IsHeal(ctx) {
		hooks, err = d.list(ctx, b)
	} else {
		hooks, err = d.shared.Do(ctx, account(b), func(ctx context.Context) ([]hookResource, error) { return d.list(ctx, b) })
	}
	if err != nil {
		return provider.ObservationOf(b.Name, err)
	}
	subs := make([]drift.Subscription, 0, len(hooks))
	for _, h := range hooks {
		subs = append(subs, subscriptionOf(h))
	}
	return provider.Listed(b.Name, subs)
}

// ruleOf is the rule a hook of ig must have: ig's topics as operations
// (every operation when it declares none) and ig's filter.
func ruleOf(ig provider.Integration) (hookRule, error) {
	on := []string{}
	for _, t := range ig.Topics {
		t = strings.TrimSpace(strings.ToLower(t))
		if !slices.Contains(operations, t) {
			return hookRule{}, provider.ConfigError("integration %q: sanity topics are operations (create, update, delete), not %q", ig.Name, t)
		}
		if !slices.Contains(on, t) {
			on = append(on, t)
		}
	}
	if len(on) == 0 {
		on = slices.Clone(operations)
	}
	return hookRule{On: on, Filter: strings.TrimSpace(ig.Filter)}, nil
}

// Register creates a webhook for ig at address, signed with the binding's
// first webhook secret, unless an enabled one with the same rule is there.
func (d *Driver) Register(ctx context.Context, b provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	rule, err := ruleOf(ig)
	if err != nil {
		return drift.Subscription{}, err
	}
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	hooks, err := d.list(ctx, b)
	if err != nil {
		return drift.Subscription{}, fmt.Errorf("register sanity integration %q: %w", ig.Name, err)
	}
	for _, h := range hooks {
		s := subscriptionOf(h)
		if s.Address == address && s.Enabled && s.Filter == rule.Filter && sameSet(s.Topics, rule.On) {
			return s, nil
		}
	}
	u, _ := hooksURL(b)
	body := map[string]any{
		"type": "document", "name": hookName(b, ig), "url": address,
		"dataset":     b.Setting("dataset", "*"),
		"description": "Managed by blackwell: integration " + ig.Name + " of " + b.ClientID + "/" + b.StackID,
		"rule":        rule, "apiVersion": hookAPIVersion, "httpMethod": http.MethodPost,
		"includeDrafts": false, "headers": map[string]string{}, "isDisabledByUser": false,
	}
	if secret := b.WebhookSecret(); secret != "" {
		body["secret"] = secret
	}
	resp, err := d.do(ctx, b, http.MethodPost, u, body)
	if err != nil {
		return drift.Subscription{}, fmt.Errorf("create sanity webhook for %q: %w", ig.Name, err)
	}
	var h hookResource
	if err := resp.Decode(&h); err != nil {
		return drift.Subscription{}, fmt.Errorf("create sanity webhook for %q: %w", ig.Name, err)
	}
	return subscriptionOf(h), nil
}

// Update points the webhook at address, gives it ig's rule, enables it and
// sets the binding's first webhook secret.
func (d *Driver) Update(ctx context.Context, b provider.Binding, sub drift.Subscription, ig provider.Integration, address string) error {
	rule, err := ruleOf(ig)
	if err != nil {
		return err
	}
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	u, err := hooksURL(b)
	if err != nil {
		return err
	}
	body := map[string]any{"url": address, "rule": rule, "isDisabledByUser": false}
	if secret := b.WebhookSecret(); secret != "" {
		body["secret"] = secret
	}
	if _, err := d.do(ctx, b, http.MethodPatch, u+"/"+url.PathEscape(sub.ID), body); err != nil {
		return fmt.Errorf("update sanity webhook %s for %q: %w", sub.ID, ig.Name, err)
	}
	return nil
}

func hookName(b provider.Binding, ig provider.Integration) string {
	return provider.Truncate("blackwell "+b.ClientID+"/"+b.StackID+" "+ig.Name, 120)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// hookErrorMessage reads Sanity's {"statusCode","error","message"} body.
func hookErrorMessage(body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if (&provider.Response{Body: body}).Decode(&e) == nil && (e.Message != "" || e.Error != "") {
		if e.Message == "" {
			return provider.Truncate(e.Error, 300)
		}
		return provider.Truncate(e.Message, 300)
	}
	return provider.Truncate(strings.TrimSpace(string(body)), 300)
}
