package drift_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

const (
	prefix   = "https://bw.example/v1/webhooks"
	client   = "acme"
	stack    = "web"
	postOnly = `_type == "post"`
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// setup returns the input of a stack that has no drift: every declared
// provider reachable, every integration's subscriptions in place, every
// resource healthy, content built, desired state applied.
func setup(t *testing.T) drift.Input {
	t.Helper()
	lastBuild := testNow.Add(-2 * time.Hour)
	return drift.Input{
		ClientID: client,
		StackID:  stack,
		Desired: config.StackSpec{
			Providers: map[string]config.ProviderBinding{
				"cms":       {Name: "sanity"},
				"ecommerce": {Name: "shopify"},
				"ssg":       {Name: "netlify"},
			},
			Integrations: map[string]config.Integration{
				"products": {Provider: "ecommerce", Topics: []string{"products/update", "products/create"}},
				"content":  {Provider: "cms", Filter: postOnly},
			},
			Resources: map[string]config.Resource{
				"site": {Probe: config.ProbeHTTP, URL: "https://acme.example"},
				"cert": {Probe: config.ProbeTLS, Address: "acme.example:443"},
			},
			ContentTypes: []string{"post", "product"},
		},
		Observed: drift.Observed{
			Providers: map[string]drift.ProviderObservation{
				"cms": {
					Name: "sanity", Reachability: drift.Reachable, SubscriptionsKnown: true,
					Subscriptions: []drift.Subscription{
						{ID: "s1", Address: prefix + "/sanity/acme", Filter: postOnly, Enabled: true},
					},
				},
				"ecommerce": {
					Name: "shopify", Reachability: drift.Reachable, SubscriptionsKnown: true,
					Subscriptions: []drift.Subscription{
						{ID: "w1", Address: prefix + "/shopify/acme", Topics: []string{"products/create"}, Enabled: true},
						{ID: "w2", Address: prefix + "/shopify/acme/web", Topics: []string{"products/update"}, Enabled: true},
						{ID: "w9", Address: prefix + "/shopify/globex", Topics: []string{"orders/create"}, Enabled: true},
					},
				},
			},
			EventProviders: []drift.ProviderActivity{
				{Name: "sanity", Count: 3, Last: testNow.Add(-time.Minute)},
				{Name: "shopify", Count: 1, Last: testNow.Add(-time.Minute)},
				{Name: "generic", Count: 7, Last: testNow.Add(-time.Minute)},
			},
			Resources: map[string]drift.ResourceObservation{
				"site": {Status: drift.StatusHealthy},
				"cert": {Status: drift.StatusHealthy},
			},
			ContentUpdated: map[string]time.Time{
				"post":    testNow.Add(-3 * time.Hour),    // before the build
				"product": testNow.Add(-30 * time.Minute), // after it, but within MaxStaleness
			},
			LastBuild:   &lastBuild,
			DesiredHash: "h2",
			AppliedHash: "h2",
		},
		ReceiverPrefix: prefix,
		MaxStaleness:   time.Hour,
		Now:            testNow,
	}
}

// want builds the expected drift; type and severity are written out, not
// taken from Classify, so the test pins the taxonomy's defaults.
func want(code drift.Code, typ drift.Type, sev drift.Severity, component string, expected, observed any, cause string) drift.Drift {
	return drift.Drift{
		ID:         drift.ID(client, stack, typ, component),
		ClientID:   client,
		StackID:    stack,
		Code:       code,
		Type:       typ,
		Component:  component,
		Expected:   expected,
		Observed:   observed,
		Severity:   sev,
		Cause:      cause,
		DetectedAt: testNow,
	}
}

func sub(in *drift.Input, role string, i int) *drift.Subscription {
	return &in.Observed.Providers[role].Subscriptions[i]
}

func setProvider(in *drift.Input, role string, f func(*drift.ProviderObservation)) {
	p := in.Observed.Providers[role]
	f(&p)
	in.Observed.Providers[role] = p
}

func TestCompare(t *testing.T) {
	t.Parallel()

	missing := func(role, name string, r drift.Reachability) drift.Drift {
		d := want(drift.ProviderMissing, drift.TypeProvider, drift.SeverityCritical, role, name, string(r), "")
		d.Authoritative = true
		return d
	}
	unauthorized := func(role, observed string) drift.Drift {
		d := want(drift.ProviderUnauthorized, drift.TypeProvider, drift.SeverityHigh, role, "credentials accepted", observed, "")
		d.Authoritative = true
		return d
	}
	authoritative := func(d drift.Drift) drift.Drift { d.Authoritative = true; return d }
	changed := func(role string, expected any, observed string) drift.Drift {
		return want(drift.ProviderChanged, drift.TypeProvider, drift.SeverityCritical, role, expected, observed, "")
	}
	broken := func(name string, expected, observed any) drift.Drift {
		return authoritative(want(drift.WebhookBroken, drift.TypeIntegration, drift.SeverityHigh, name, expected, observed, ""))
	}
	mismatch := func(name string, expected, observed any) drift.Drift {
		return authoritative(want(drift.IntegrationMismatch, drift.TypeIntegration, drift.SeverityMedium, name, expected, observed, ""))
	}
	unhealthy := func(name, observed, cause string) drift.Drift {
		return want(drift.ResourceUnhealthy, drift.TypeResource, drift.SeverityHigh, name, "healthy", observed, cause)
	}
	gone := func(name, observed, cause string) drift.Drift {
		return authoritative(want(drift.ResourceMissing, drift.TypeResource, drift.SeverityHigh, name, "present", observed, cause))
	}
	stale := func(typ string, updated time.Time, cause string) drift.Drift {
		return want(drift.ContentStale, drift.TypeContent, drift.SeverityMedium, typ,
			"built after "+updated.Format(time.RFC3339),
			"last build "+testNow.Add(-2*time.Hour).Format(time.RFC3339), cause)
	}
	pending := func(observed string) drift.Drift {
		return want(drift.ConfigPending, drift.TypeConfiguration, drift.SeverityLow, "desired_state", "h2", observed, "")
	}
	productTopics := []string{"products/create", "products/update"}

	tests := []struct {
		name   string
		mutate func(in *drift.Input)
		want   []drift.Drift
	}{
		{
			name:   "no drift",
			mutate: func(*drift.Input) {},
		},

		// provider_missing, provider_unauthorized, provider_unreachable
		{
			name: "provider unreachable is unknown, not drift",
			mutate: func(in *drift.Input) {
				setProvider(in, "cms", func(p *drift.ProviderObservation) {
					p.Reachability, p.Reason, p.SubscriptionsKnown = drift.Unreachable, drift.ReasonUnreachable, false
				})
			},
		},
		{
			name: "every reason of an unknown api is not drift",
			mutate: func(in *drift.Input) {
				for role, r := range map[string]drift.Reason{"cms": drift.ReasonTimeout, "ecommerce": drift.ReasonBreakerOpen} {
					setProvider(in, role, func(p *drift.ProviderObservation) {
						p.Reachability, p.Reason, p.SubscriptionsKnown, p.Subscriptions = drift.Unknown, r, false, nil
					})
				}
			},
		},
		{
			name: "unknown within max_unknown is not drift",
			mutate: func(in *drift.Input) {
				setProvider(in, "cms", func(p *drift.ProviderObservation) {
					p.Reachability, p.Reason, p.SubscriptionsKnown = drift.Unreachable, drift.ReasonThrottled, false
				})
				in.MaxUnknown = 10 * time.Minute
				in.LastKnown = drift.Remember(drift.LastKnown{}, in.Desired, in.Observed, testNow.Add(-9*time.Minute))
			},
		},
		{
			name: "unknown beyond max_unknown is provider_unreachable",
			mutate: func(in *drift.Input) {
				seen := testNow.Add(-time.Hour)
				in.LastKnown = drift.LastKnown{Providers: map[string]drift.Sighting{
					"cms": {Value: "ok", SeenAt: &seen, Reason: drift.ReasonTimeout, UnknownSince: ptr(testNow.Add(-11 * time.Minute))},
				}}
				in.MaxUnknown = 10 * time.Minute
				setProvider(in, "cms", func(p *drift.ProviderObservation) {
					p.Reachability, p.Reason, p.Detail, p.SubscriptionsKnown = drift.Unreachable, drift.ReasonTimeout, "no answer within 10s", false
				})
			},
			want: []drift.Drift{want(drift.ProviderUnreachable, drift.TypeProvider, drift.SeverityMedium, "cms", "reachable",
				map[string]any{"reason": "timeout", "detail": "no answer within 10s", "unknown_since": "2025-06-01T11:49:00Z",
					"unknown_for": "11m0s", "last_seen": "2025-06-01T11:00:00Z"}, "")},
		},
		{
			name: "max_unknown 0 never reports",
			mutate: func(in *drift.Input) {
				in.LastKnown = drift.LastKnown{Providers: map[string]drift.Sighting{
					"cms": {UnknownSince: ptr(testNow.Add(-24 * time.Hour))},
				}}
				setProvider(in, "cms", func(p *drift.ProviderObservation) { p.Reachability = drift.Unreachable })
			},
		},
		{
			name: "provider unauthorized",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) {
					p.Reachability, p.Reason, p.SubscriptionsKnown = drift.Unauthorized, drift.ReasonUnauthorized, false
				})
			},
			want: []drift.Drift{unauthorized("ecommerce", "unauthorized")},
		},
		{
			name: "credentials rejected reported as a reason",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) {
					p.Reachability, p.Reason, p.Detail, p.SubscriptionsKnown = drift.Unknown, drift.ReasonUnauthorized, "403 from shopify", false
				})
			},
			want: []drift.Drift{unauthorized("ecommerce", "unauthorized: 403 from shopify")},
		},
		{
			name: "provider unauthorized with the driver's detail",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) {
					p.Reachability, p.Detail = drift.Unauthorized, "401 from shopify"
				})
			},
			want: []drift.Drift{unauthorized("ecommerce", "unauthorized: 401 from shopify")},
		},
		{
			name: "account not found is provider_missing, authoritative",
			mutate: func(in *drift.Input) {
				setProvider(in, "cms", func(p *drift.ProviderObservation) {
					p.Reachability, p.SubscriptionsKnown = drift.NotFound, false
				})
			},
			want: []drift.Drift{missing("cms", "sanity", drift.NotFound)},
		},
		{
			name: "subscriptions not listed: integrations unknown, not drift",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) {
					p.Reason, p.SubscriptionsKnown, p.Subscriptions = drift.ReasonInvalidAnswer, false, nil
				})
			},
		},
		{
			name: "provider reachability unknown is not drift",
			mutate: func(in *drift.Input) {
				setProvider(in, "cms", func(p *drift.ProviderObservation) { p.Reachability = drift.Unknown })
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) { p.Reachability = "" })
			},
		},
		{
			name: "provider not observed is not drift",
			mutate: func(in *drift.Input) {
				delete(in.Observed.Providers, "cms")
				delete(in.Observed.Providers, "ecommerce")
			},
		},
		{
			name: "observation of an undeclared role is ignored",
			mutate: func(in *drift.Input) {
				in.Observed.Providers["search"] = drift.ProviderObservation{Name: "algolia", Reachability: drift.Unreachable}
			},
		},

		// provider_changed
		{
			name: "events from another cms",
			mutate: func(in *drift.Input) {
				in.Observed.EventProviders = append(in.Observed.EventProviders, drift.ProviderActivity{Name: "contentful", Count: 2})
			},
			want: []drift.Drift{changed("cms", "sanity", "contentful")},
		},
		{
			name: "several other providers of one role are sorted and joined",
			mutate: func(in *drift.Input) {
				in.Observed.EventProviders = append(in.Observed.EventProviders,
					drift.ProviderActivity{Name: "storyblok", Count: 1},
					drift.ProviderActivity{Name: "Contentful", Count: 1},
					drift.ProviderActivity{Name: "contentful", Count: 1},
					drift.ProviderActivity{Name: "saleor", Count: 1})
			},
			want: []drift.Drift{
				changed("cms", "sanity", "contentful,storyblok"),
				changed("ecommerce", "shopify", "saleor"),
			},
		},
		{
			name: "events for an undeclared role",
			mutate: func(in *drift.Input) {
				delete(in.Desired.Providers, "ecommerce")
			},
			want: []drift.Drift{changed("ecommerce", nil, "shopify")},
		},
		{
			name: "provider_changed replaces provider_missing of the same role",
			mutate: func(in *drift.Input) {
				setProvider(in, "cms", func(p *drift.ProviderObservation) { p.Reachability = drift.Unauthorized })
				in.Observed.EventProviders = append(in.Observed.EventProviders, drift.ProviderActivity{Name: "prismic", Count: 1})
			},
			want: []drift.Drift{changed("cms", "sanity", "prismic")},
		},
		{
			name: "generic and unknown providers have no role",
			mutate: func(in *drift.Input) {
				in.Observed.EventProviders = []drift.ProviderActivity{
					{Name: "generic", Count: 1}, {Name: "acme-internal", Count: 1}, {Name: "netlify", Count: 1},
				}
			},
		},
		{
			name: "events from the declared provider, any case",
			mutate: func(in *drift.Input) {
				in.Observed.EventProviders = []drift.ProviderActivity{{Name: "Sanity", Count: 1}, {Name: "SHOPIFY", Count: 1}}
			},
		},

		// webhook_broken
		{
			name: "topic without subscription",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) { p.Subscriptions = p.Subscriptions[:1] })
			},
			want: []drift.Drift{broken("products", productTopics,
				map[string]any{"missing": []string{"products/update"}, "disabled": []string{}})},
		},
		{
			name:   "topic with only a disabled subscription",
			mutate: func(in *drift.Input) { sub(in, "ecommerce", 1).Enabled = false },
			want: []drift.Drift{broken("products", productTopics,
				map[string]any{"missing": []string{}, "disabled": []string{"products/update"}})},
		},
		{
			name: "a disabled subscription next to an enabled one is fine",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) {
					p.Subscriptions = append(p.Subscriptions, drift.Subscription{
						ID: "w3", Address: prefix + "/shopify/acme", Topics: []string{"products/update"}, Enabled: false,
					})
				})
			},
		},
		{
			name: "other clients' and other stacks' subscriptions are not ours",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) {
					p.Subscriptions = []drift.Subscription{
						{ID: "a", Address: prefix + "/shopify/acme-eu", Topics: productTopics, Enabled: true},
						{ID: "b", Address: prefix + "/shopify/globex/web", Topics: productTopics, Enabled: true},
						{ID: "c", Address: prefix + "/shopify/acme/blog", Topics: productTopics, Enabled: true},
						{ID: "d", Address: prefix + "/sanity/acme", Topics: productTopics, Enabled: true},
						{ID: "e", Address: "https://elsewhere.example/v1/webhooks/shopify/acme", Topics: productTopics, Enabled: true},
						{ID: "f", Address: prefix + "/shopify/acme/web/", Topics: []string{"products/create"}, Enabled: true},
					}
				})
			},
			want: []drift.Drift{broken("products", productTopics,
				map[string]any{"missing": []string{"products/update"}, "disabled": []string{}})},
		},
		{
			name: "a query string on our address is ignored",
			mutate: func(in *drift.Input) {
				sub(in, "ecommerce", 0).Address = prefix + "/shopify/acme?x=1"
				sub(in, "ecommerce", 1).Address = prefix + "/shopify/acme/web/"
			},
		},
		{
			name: "subscriptions not known is not drift",
			mutate: func(in *drift.Input) {
				setProvider(in, "ecommerce", func(p *drift.ProviderObservation) { p.SubscriptionsKnown = false; p.Subscriptions = nil })
			},
		},
		{
			name: "provider not observed: integrations are not compared",
			mutate: func(in *drift.Input) {
				delete(in.Observed.Providers, "ecommerce")
			},
		},
		{
			name: "without a receiver prefix nothing is ours: integrations are not compared",
			mutate: func(in *drift.Input) {
				in.ReceiverPrefix = ""
				setProvider(in, "cms", func(p *drift.ProviderObservation) { p.Subscriptions = nil })
			},
		},
		{
			name: "filter-based integration without subscription",
			mutate: func(in *drift.Input) {
				setProvider(in, "cms", func(p *drift.ProviderObservation) { p.Subscriptions = nil })
			},
			want: []drift.Drift{broken("content", map[string]any{"filter": postOnly},
				map[string]any{"disabled": []string{}})},
		},
		{
			name:   "filter-based integration with a disabled subscription",
			mutate: func(in *drift.Input) { sub(in, "cms", 0).Enabled = false },
			want: []drift.Drift{broken("content", map[string]any{"filter": postOnly},
				map[string]any{"disabled": []string{"s1"}})},
		},
		{
			name: "two filter-based integrations on one provider: the unmatched one is broken",
			mutate: func(in *drift.Input) {
				in.Desired.Integrations["pages"] = config.Integration{Provider: "cms", Filter: `_type == "page"`}
			},
			want: []drift.Drift{broken("pages", map[string]any{"filter": `_type == "page"`},
				map[string]any{"disabled": []string{}})},
		},
		{
			name: "filter-based integration without a declared filter takes any subscription of ours",
			mutate: func(in *drift.Input) {
				in.Desired.Integrations["content"] = config.Integration{Provider: "cms"}
			},
		},
		{
			name: "a subscription serving a topic-based integration is not a filter-based one's",
			mutate: func(in *drift.Input) {
				in.Desired.Integrations["assets"] = config.Integration{Provider: "cms", Topics: []string{"asset.create"}}
				setProvider(in, "cms", func(p *drift.ProviderObservation) {
					p.Subscriptions = []drift.Subscription{
						{ID: "a1", Address: prefix + "/sanity/acme/web", Topics: []string{"asset.create"}, Filter: "x", Enabled: true},
					}
				})
			},
			want: []drift.Drift{broken("content", map[string]any{"filter": postOnly},
				map[string]any{"disabled": []string{}})},
		},
		{
			name: "wildcard topics cover declared topics",
			mutate: func(in *drift.Input) {
				in.Desired.Integrations["content"] = config.Integration{Provider: "cms", Topics: []string{"Entry.publish", "Asset.*"}}
				setProvider(in, "cms", func(p *drift.ProviderObservation) {
					p.Subscriptions = []drift.Subscription{
						{ID: "s1", Address: prefix + "/sanity/acme", Topics: []string{"Entry.publish", "Asset.*"}, Enabled: true},
						{ID: "s2", Address: prefix + "/sanity/acme", Topics: []string{"Asset.archive"}, Enabled: true},
					}
				})
			},
			want: []drift.Drift{},
		},

		// integration_mismatch
		{
			name:   "filter differs",
			mutate: func(in *drift.Input) { sub(in, "cms", 0).Filter = `_type == "page"` },
			want: []drift.Drift{mismatch("content",
				map[string]any{"topics": []string{}, "filter": postOnly},
				map[string]any{"topics": []string{}, "filter": `_type == "page"`, "subscriptions": []string{"s1"}})},
		},
		{
			name: "subscription carries an undeclared topic",
			mutate: func(in *drift.Input) {
				sub(in, "ecommerce", 0).Topics = []string{"products/create", "customers/create"}
			},
			want: []drift.Drift{mismatch("products",
				map[string]any{"topics": productTopics, "filter": ""},
				map[string]any{
					"topics":        []string{"customers/create", "products/create", "products/update"},
					"filter":        "",
					"subscriptions": []string{"w1", "w2"},
				})},
		},
		{
			name: "a wildcard subscription is broader than declared",
			mutate: func(in *drift.Input) {
				in.Desired.Integrations["content"] = config.Integration{Provider: "cms", Topics: []string{"Entry.publish"}}
				sub(in, "cms", 0).Topics = []string{"*.*"}
				sub(in, "cms", 0).Filter = ""
			},
			want: []drift.Drift{mismatch("content",
				map[string]any{"topics": []string{"Entry.publish"}, "filter": ""},
				map[string]any{"topics": []string{"*.*"}, "filter": "", "subscriptions": []string{"s1"}})},
		},
		{
			name: "topic-based integration with a declared filter",
			mutate: func(in *drift.Input) {
				ig := in.Desired.Integrations["products"]
				ig.Filter = "vendor:acme"
				in.Desired.Integrations["products"] = ig
				sub(in, "ecommerce", 0).Filter = "vendor:acme"
			},
			want: []drift.Drift{mismatch("products",
				map[string]any{"topics": productTopics, "filter": "vendor:acme"},
				map[string]any{"topics": productTopics, "filter": []string{"", "vendor:acme"}, "subscriptions": []string{"w1", "w2"}})},
		},
		{
			name: "topics of a sibling integration on the same provider are declared",
			mutate: func(in *drift.Input) {
				in.Desired.Integrations["orders"] = config.Integration{Provider: "ecommerce", Topics: []string{"orders/create"}}
				sub(in, "ecommerce", 0).Topics = []string{"products/create", "orders/create"}
			},
		},

		// resource_unhealthy, resource_missing
		{
			name: "resource unhealthy",
			mutate: func(in *drift.Input) {
				in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusUnhealthy, Detail: "HTTP 503"}
				in.Observed.Resources["cert"] = drift.ResourceObservation{Status: drift.StatusUnhealthy}
			},
			want: []drift.Drift{unhealthy("cert", "unhealthy", ""), unhealthy("site", "HTTP 503", "")},
		},
		{
			name: "resource missing",
			mutate: func(in *drift.Input) {
				in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusMissing}
				in.Observed.Resources["cert"] = drift.ResourceObservation{Status: drift.StatusMissing, Detail: "no such host"}
			},
			want: []drift.Drift{gone("cert", "no such host", ""), gone("site", "missing", "")},
		},
		{
			name: "unknown, absent or undeclared probe results are not drift",
			mutate: func(in *drift.Input) {
				in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusUnknown}
				delete(in.Observed.Resources, "cert")
				in.Observed.Resources["old"] = drift.ResourceObservation{Status: drift.StatusMissing}
			},
		},
		{
			name: "a failed build causes resource drift",
			mutate: func(in *drift.Input) {
				in.Observed.LastBuildFailed = true
				in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusUnhealthy}
				in.Observed.Resources["cert"] = drift.ResourceObservation{Status: drift.StatusMissing}
			},
			want: []drift.Drift{unhealthy("site", "unhealthy", "ssg"), gone("cert", "missing", "ssg")},
		},
		{
			name: "a failed build is no cause without an ssg provider",
			mutate: func(in *drift.Input) {
				delete(in.Desired.Providers, "ssg")
				in.Observed.LastBuildFailed = true
				in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusUnhealthy}
			},
			want: []drift.Drift{unhealthy("site", "unhealthy", "")},
		},

		// content_stale
		{
			name: "content changed after the build, longer ago than allowed",
			mutate: func(in *drift.Input) {
				in.Observed.ContentUpdated["product"] = testNow.Add(-90 * time.Minute)
			},
			want: []drift.Drift{stale("product", testNow.Add(-90*time.Minute), "")},
		},
		{
			name: "content stale exactly at MaxStaleness is not drift",
			mutate: func(in *drift.Input) {
				in.Observed.ContentUpdated["product"] = testNow.Add(-time.Hour)
			},
		},
		{
			name: "no known build: content not compared",
			mutate: func(in *drift.Input) {
				in.Observed.ContentUpdated["product"] = testNow.Add(-90 * time.Minute)
				in.Observed.LastBuild = nil
			},
		},
		{
			name: "MaxStaleness 0: content not compared",
			mutate: func(in *drift.Input) {
				in.Observed.ContentUpdated["product"] = testNow.Add(-90 * time.Minute)
				in.MaxStaleness = 0
			},
		},
		{
			name: "untracked content types are not compared",
			mutate: func(in *drift.Input) {
				in.Observed.ContentUpdated["page"] = testNow.Add(-90 * time.Minute)
			},
		},
		{
			name: "a broken webhook causes stale content",
			mutate: func(in *drift.Input) {
				in.Observed.ContentUpdated["product"] = testNow.Add(-90 * time.Minute)
				sub(in, "ecommerce", 1).Enabled = false
			},
			want: []drift.Drift{
				broken("products", productTopics, map[string]any{"missing": []string{}, "disabled": []string{"products/update"}}),
				stale("product", testNow.Add(-90*time.Minute), "products"),
			},
		},
		{
			name: "a failed build causes stale content, before a broken webhook",
			mutate: func(in *drift.Input) {
				in.Observed.ContentUpdated["product"] = testNow.Add(-90 * time.Minute)
				in.Observed.LastBuildFailed = true
				sub(in, "ecommerce", 1).Enabled = false
			},
			want: []drift.Drift{
				broken("products", productTopics, map[string]any{"missing": []string{}, "disabled": []string{"products/update"}}),
				stale("product", testNow.Add(-90*time.Minute), "ssg"),
			},
		},

		// config_pending
		{
			name: "desired state not applied, with other drift",
			mutate: func(in *drift.Input) {
				in.Observed.AppliedHash = "h1"
				in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusUnhealthy}
			},
			want: []drift.Drift{unhealthy("site", "unhealthy", ""), pending("h1")},
		},
		{
			name: "desired state never applied: a new stack reconciling, not config_pending",
			mutate: func(in *drift.Input) {
				in.Observed.AppliedHash = ""
				in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusUnhealthy}
			},
			want: []drift.Drift{unhealthy("site", "unhealthy", "")},
		},
		{
			name: "desired state not applied, nothing else: converged, no drift",
			mutate: func(in *drift.Input) {
				in.Observed.AppliedHash = "h1"
			},
		},

		// order
		{
			name: "every code at once, in taxonomy order",
			mutate: func(in *drift.Input) {
				in.Observed.AppliedHash = "h1"
				in.Observed.ContentUpdated["product"] = testNow.Add(-90 * time.Minute)
				in.Observed.Resources["site"] = drift.ResourceObservation{Status: drift.StatusMissing}
				in.Observed.Resources["cert"] = drift.ResourceObservation{Status: drift.StatusUnhealthy}
				sub(in, "cms", 0).Filter = "x"
				sub(in, "ecommerce", 1).Enabled = false
				in.Observed.EventProviders = append(in.Observed.EventProviders, drift.ProviderActivity{Name: "commercetools"})
				in.Desired.Providers["search"] = config.ProviderBinding{Name: "algolia"}
				in.Observed.Providers["search"] = drift.ProviderObservation{Reachability: drift.NotFound}
			},
			want: []drift.Drift{
				missing("search", "algolia", drift.NotFound),
				changed("ecommerce", "shopify", "commercetools"),
				broken("products", productTopics, map[string]any{"missing": []string{}, "disabled": []string{"products/update"}}),
				mismatch("content",
					map[string]any{"topics": []string{}, "filter": postOnly},
					map[string]any{"topics": []string{}, "filter": "x", "subscriptions": []string{"s1"}}),
				unhealthy("cert", "unhealthy", ""),
				gone("site", "missing", ""),
				stale("product", testNow.Add(-90*time.Minute), "products"),
				pending("h1"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := setup(t)
			tt.mutate(&in)
			got := drift.Compare(in)
			if len(tt.want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCompareEveryCodeHasItsClass(t *testing.T) {
	t.Parallel()
	defaults := map[drift.Code]struct {
		typ drift.Type
		sev drift.Severity
	}{
		drift.ProviderMissing:       {drift.TypeProvider, drift.SeverityCritical},
		drift.ProviderChanged:       {drift.TypeProvider, drift.SeverityCritical},
		drift.WebhookBroken:         {drift.TypeIntegration, drift.SeverityHigh},
		drift.IntegrationMismatch:   {drift.TypeIntegration, drift.SeverityMedium},
		drift.ResourceUnhealthy:     {drift.TypeResource, drift.SeverityHigh},
		drift.ResourceMissing:       {drift.TypeResource, drift.SeverityHigh},
		drift.ContentStale:          {drift.TypeContent, drift.SeverityMedium},
		drift.ConfigPending:         {drift.TypeConfiguration, drift.SeverityLow},
		drift.ProviderUnauthorized:  {drift.TypeProvider, drift.SeverityHigh},
		drift.ProviderUnreachable:   {drift.TypeProvider, drift.SeverityMedium},
		drift.EnvironmentDivergence: {drift.TypeConfiguration, drift.SeverityLow},
	}
	require.Len(t, defaults, len(drift.Codes))
	for _, code := range drift.Codes {
		cl, ok := drift.Classify(code)
		require.True(t, ok, code)
		require.Equal(t, defaults[code].typ, cl.Type, code)
		require.Equal(t, defaults[code].sev, cl.Severity, code)
	}
}

func TestCompareIsDeterministic(t *testing.T) {
	t.Parallel()
	in := setup(t)
	in.Observed.AppliedHash = "h1"
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		in.Desired.Resources[name] = config.Resource{Probe: config.ProbeTCP}
		in.Observed.Resources[name] = drift.ResourceObservation{Status: drift.StatusUnhealthy}
		in.Desired.Integrations["i-"+name] = config.Integration{Provider: "ecommerce", Topics: []string{name + "/create"}}
		in.Desired.ContentTypes = append(in.Desired.ContentTypes, name)
		in.Observed.ContentUpdated[name] = testNow.Add(-90 * time.Minute)
	}
	first := drift.Compare(in)
	require.Len(t, first, 8+8+8+1)
	for range 20 {
		require.Equal(t, first, drift.Compare(in))
	}
	for i := 1; i < len(first); i++ {
		a, b := first[i-1], first[i]
		if a.Code == b.Code {
			require.Less(t, a.Component, b.Component)
		}
	}
}

func TestCompareDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	in := setup(t)
	in.Desired.ContentTypes = []string{"product", "post", "product"}
	in.Observed.ContentUpdated["product"] = testNow.Add(-90 * time.Minute)
	got := drift.Compare(in)
	require.Len(t, got, 1)
	require.Equal(t, []string{"product", "post", "product"}, in.Desired.ContentTypes)
	require.Equal(t, []string{"products/update", "products/create"}, in.Desired.Integrations["products"].Topics)
}

func TestRoleOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		provider string
		role     string
		ok       bool
	}{
		{"sanity", "cms", true},
		{"contentful", "cms", true},
		{"strapi", "cms", true},
		{"prismic", "cms", true},
		{"storyblok", "cms", true},
		{"datocms", "cms", true},
		{"hygraph", "cms", true},
		{"Sanity", "cms", true},
		{"shopify", "ecommerce", true},
		{"bigcommerce", "ecommerce", true},
		{"commercetools", "ecommerce", true},
		{"saleor", "ecommerce", true},
		{"medusa", "ecommerce", true},
		{"generic", "", false},
		{"netlify", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		role, ok := drift.RoleOf(tt.provider)
		require.Equal(t, tt.role, role, tt.provider)
		require.Equal(t, tt.ok, ok, tt.provider)
	}
}

func ptr[T any](v T) *T { return &v }
