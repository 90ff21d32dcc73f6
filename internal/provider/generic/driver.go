package generic

// The generic driver speaks the spec's Integration API (the "Integration
// API Gateway" of the State Reconciler Design Specification, whose heals
// call POST {integration_api}/providers/register and PUT
// {integration_api}/integrations/{name}). The spec gives those two calls;
// the shapes below complete them, and internal/sim.IntegrationAPI fakes
// exactly this:
//
//	POST {integration_api}/providers/register
//	  {"client_id","stack_id","provider_type","provider_name","address"}
//	  -> 2xx {"provider":{...the same, "registered_at"}}
//	GET  {integration_api}/integrations?client_id=C[&cursor=X][&limit=N]
//	  -> 200 {"items":[Integration...],"next_cursor":"X"|""}
//	PUT  {integration_api}/integrations/{name}
//	  {"client_id","stack_id","provider_name","configuration":{"address",
//	   "topics":[...],"filter","enabled":true,"secret":"whsec_..."}}
//	  -> 200 (replaced) or 201 (created) Integration
//	Integration = {"name","client_id","stack_id","provider_name",
//	  "configuration":{"address","topics","filter","enabled"},"updated_at"}
//
// Authorization: Bearer <credentials.token> when the binding has a token.
// Errors are {"error":{"code","message"}}; 401/403 reject the credentials,
// 429 carries Retry-After. settings.api_base, when set, overrides
// settings.integration_api. The configuration's secret is write-only: the
// provider signs its deliveries with it (Standard Webhooks).

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
)

const (
	listPageSize = 200
	listMaxPages = 100
)

// Options configure the driver.
type Options struct {
	API provider.APIClientOptions
	// ShareFor is how long one listing of a client's integrations serves
	// every stack of that client (default provider.DefaultShareFor; < 0:
	// not kept, only concurrent observations share one).
	ShareFor time.Duration
}

// Driver is the generic (Integration API) provider driver.
type Driver struct {
	api    *provider.APIClient
	shared *provider.Shared[[]IntegrationJSON]
}

var (
	_ provider.Driver            = (*Driver)(nil)
	_ provider.ProviderRegistrar = (*Driver)(nil)
	_ provider.Destiner          = (*Driver)(nil)
)

// New returns a generic driver.
func New(opts Options) *Driver {
	api := opts.API
	api.Provider = Name
	api.ErrorMessage = apiErrorMessage
	if opts.ShareFor == 0 {
		opts.ShareFor = provider.DefaultShareFor
	}
	return &Driver{api: provider.NewAPIClient(api), shared: provider.NewShared[[]IntegrationJSON](opts.ShareFor, api.Now)}
}

// account is the AccountKey of the binding's client at its Integration
// API: its rate limit and its shared listing (the listing is per client).
func account(b provider.Binding) string {
	base, _ := apiBase(b)
	return provider.AccountKey(Name, base+" "+b.ClientID, b.Token())
}

// IntegrationJSON is an integration on the wire.
type IntegrationJSON struct {
	Name          string        `json:"name,omitempty"`
	ClientID      string        `json:"client_id"`
	StackID       string        `json:"stack_id,omitempty"`
	ProviderName  string        `json:"provider_name,omitempty"`
	Configuration Configuration `json:"configuration"`
	UpdatedAt     string        `json:"updated_at,omitempty"`
}

// Configuration is an integration's subscription.
type Configuration struct {
	Address string   `json:"address"`
	Topics  []string `json:"topics"`
	Filter  string   `json:"filter"`
	Enabled *bool    `json:"enabled,omitempty"`
	Secret  string   `json:"secret,omitempty"`
}

// Destination is where the binding's token and webhook secret go: the
// Integration API (settings.api_base, else settings.integration_api).
func (d *Driver) Destination(b provider.Binding) string {
	u, err := apiBase(b)
	if err != nil {
		return ""
	}
	return u
}

func apiBase(b provider.Binding) (string, error) {
	base := b.APIBase(strings.TrimRight(b.Setting("integration_api", ""), "/"))
	if base == "" {
		return "", provider.ConfigError("generic binding needs settings.integration_api")
	}
	return base, nil
}

func (d *Driver) do(ctx context.Context, b provider.Binding, method, u string, body any) (*provider.Response, error) {
	h := http.Header{}
	if tok := b.Token(); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	r := provider.Request{Method: method, URL: u, Header: h, Account: account(b)}
	if body != nil {
		r.Body = provider.JSON(body)
	}
	return d.api.Do(ctx, r)
}

func (d *Driver) list(ctx context.Context, b provider.Binding) ([]IntegrationJSON, error) {
	base, err := apiBase(b)
	if err != nil {
		return nil, err
	}
	var out []IntegrationJSON
	cursor := ""
	for page := 0; ; page++ {
		if page == listMaxPages {
			return nil, fmt.Errorf("list integrations: %w: more than %d pages", provider.ErrInvalidAnswer, listMaxPages)
		}
		q := url.Values{"client_id": {b.ClientID}, "limit": {strconv.Itoa(listPageSize)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		resp, err := d.do(ctx, b, http.MethodGet, base+"/integrations?"+q.Encode(), nil)
		if page == 0 {
			err = provider.AccountListing(err)
		}
		if err != nil {
			return nil, fmt.Errorf("list integrations: %w", err)
		}
		var body struct {
			Items      []IntegrationJSON `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := resp.Decode(&body); err != nil {
			return nil, fmt.Errorf("list integrations: %w", err)
		}
		if body.Items == nil {
			return nil, fmt.Errorf("list integrations: %w: no \"items\" in the answer", provider.ErrInvalidAnswer)
		}
		out = append(out, body.Items...)
		if body.NextCursor == "" {
			return out, nil
		}
		if len(body.Items) == 0 || body.NextCursor == cursor {
			return nil, fmt.Errorf("list integrations: %w: page %d is empty or repeats its cursor", provider.ErrInvalidAnswer, page+1)
		}
		cursor = body.NextCursor
	}
}

func subscriptionOf(in IntegrationJSON) drift.Subscription {
	topics := slices.Clone(in.Configuration.Topics)
	slices.Sort(topics)
	return drift.Subscription{
		ID: in.Name, Address: in.Configuration.Address, Topics: topics, Filter: in.Configuration.Filter,
		Enabled: in.Configuration.Enabled == nil || *in.Configuration.Enabled,
	}
}

// Observe lists the client's integrations of this stack (and those not
// bound to a stack). The listing is the client's, so the stacks of one
// client at one Integration API share it (Options.ShareFor), each keeping
// its own; a heal's (provider.ForHeal) is always fresh.
func (d *Driver) Observe(ctx context.Context, b provider.Binding) provider.Observation {
	var items []IntegrationJSON
	var err error
	if provider.IsHeal(ctx) {
		items, err = d.list(ctx, b)
	} else {
		items, err = d.shared.Do(ctx, account(b), func(ctx context.Context) ([]IntegrationJSON, error) { return d.list(ctx, b) })
	}
	if err != nil {
		return provider.ObservationOf(b.Name, err)
	}
	subs := []drift.Subscription{}
	for _, in := range items {
		if in.StackID == "" || in.StackID == b.StackID {
			subs = append(subs, subscriptionOf(in))
		}
	}
	return provider.Listed(b.Name, subs)
}

// put creates or replaces the integration ig.Name.
func (d *Driver) put(ctx context.Context, b provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	base, err := apiBase(b)
	if err != nil {
		return drift.Subscription{}, err
	}
	enabled := true
	topics := []string{}
	for _, t := range ig.Topics {
		if t = strings.TrimSpace(t); t != "" {
			topics = append(topics, t)
		}
	}
	body := IntegrationJSON{
		ClientID: b.ClientID, StackID: b.StackID, ProviderName: b.Name,
		Configuration: Configuration{Address: address, Topics: topics, Filter: strings.TrimSpace(ig.Filter),
			Enabled: &enabled, Secret: b.WebhookSecret()},
	}
	resp, err := d.do(ctx, b, http.MethodPut, base+"/integrations/"+url.PathEscape(ig.Name), body)
	if err != nil {
		return drift.Subscription{}, fmt.Errorf("put integration %q: %w", ig.Name, err)
	}
	var out IntegrationJSON
	if err := resp.Decode(&out); err != nil {
		return drift.Subscription{}, fmt.Errorf("put integration %q: %w", ig.Name, err)
	}
	if out.Name == "" {
		out.Name = ig.Name
	}
	return subscriptionOf(out), nil
}

// Register creates (or replaces: PUT is idempotent) the integration.
func (d *Driver) Register(ctx context.Context, b provider.Binding, ig provider.Integration, address string) (drift.Subscription, error) {
	return d.put(ctx, b, ig, address)
}

// Update replaces the integration sub.ID (its name) with ig at address.
func (d *Driver) Update(ctx context.Context, b provider.Binding, sub drift.Subscription, ig provider.Integration, address string) error {
	if sub.ID != "" && sub.ID != ig.Name {
		ig.Name = sub.ID
	}
	_, err := d.put(ctx, b, ig, address)
	return err
}

// RegisterProvider registers the binding's provider for the client (the
// heal of provider_missing in the spec).
func (d *Driver) RegisterProvider(ctx context.Context, b provider.Binding, address string) error {
	ctx = provider.ForHeal(ctx)
	defer d.shared.Forget(account(b))
	base, err := apiBase(b)
	if err != nil {
		return err
	}
	body := map[string]string{
		"client_id": b.ClientID, "stack_id": b.StackID, "provider_type": b.Role,
		"provider_name": b.Name, "address": address,
	}
	if _, err := d.do(ctx, b, http.MethodPost, base+"/providers/register", body); err != nil {
		return fmt.Errorf("register provider %s for %s: %w", b.Name, b.ClientID, err)
	}
	return nil
}

// apiErrorMessage reads {"error":{"code","message"}}.
func apiErrorMessage(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if (&provider.Response{Body: body}).Decode(&e) == nil && (e.Error.Code != "" || e.Error.Message != "") {
		return provider.Truncate(strings.TrimSpace(e.Error.Code+": "+e.Error.Message), 300)
	}
	return provider.Truncate(strings.TrimSpace(string(body)), 300)
}
