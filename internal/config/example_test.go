package config

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// examplePath is the contract example, copied from the shared design.
func examplePath() string { return filepath.Join("..", "..", "examples", "blackwell.yaml") }

// exampleEnv is a fake environment holding every variable the example
// refers to.
func exampleEnv() map[string]string {
	return map[string]string{
		"SANITY_TOKEN":              "sk-sanity-token-value",
		"SANITY_WEBHOOK_SECRET":     "sanity-whsec-value",
		"SHOPIFY_ADMIN_TOKEN":       "shpat_admin_value",
		"SHOPIFY_WEBHOOK_SECRET":    "shopify-whsec-value",
		"NETLIFY_BUILD_HOOK":        "https://api.netlify.com/build_hooks/hook-value",
		"CONTENTFUL_CMA_TOKEN":      "cfpat-value",
		"CONTENTFUL_SIGNING_SECRET": "contentful-signing-value",
		"LEGACY_WHSEC":              "whsec_legacyvalue",
		"PAGERDUTY_ROUTING_KEY":     "pd-routing-key-value",
		"SLACK_WEBHOOK_URL":         "https://hooks.slack.com/services/slack-value",
		"DRIFT_WEBHOOK_SECRET":      "drift-webhook-secret-value",
		"SMTP_PASSWORD":             "smtp-password-value",
	}
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func loadExample(t *testing.T) *Config {
	t.Helper()
	cfg, err := Load(examplePath(), lookup(exampleEnv()))
	require.NoError(t, err)
	return cfg
}

func TestExample(t *testing.T) {
	t.Parallel()
	cfg := loadExample(t)

	require.Len(t, cfg.Stacks, 4)
	require.Len(t, cfg.Policies, 1)
	require.Len(t, cfg.Channels, 1)

	prod := cfg.Stacks[0]
	require.Equal(t, APIVersion, prod.APIVersion)
	require.Equal(t, KindStack, prod.Kind)
	require.Equal(t, StackMeta{ClientID: "acme-corp", StackID: "cms-ecom-prod", Environment: "prod"}, prod.Metadata)
	require.Len(t, prod.Spec.Providers, 3)

	cms := prod.Spec.Providers[RoleCMS]
	require.Equal(t, "sanity", cms.Name)
	require.Equal(t, map[string]string{
		"project_id": "abc123", "dataset": "production", "api_base": "https://abc123.api.sanity.io",
	}, cms.Settings)
	require.Equal(t, "${SANITY_TOKEN}", cms.Credentials["token"].Ref)
	require.Equal(t, "sk-sanity-token-value", cms.Credentials["token"].Value())
	require.Len(t, cms.WebhookSecret, 1)
	require.Equal(t, "${SANITY_WEBHOOK_SECRET}", cms.WebhookSecret[0].Ref)
	require.Equal(t, []string{"sanity-whsec-value"}, cms.WebhookSecret.Values())
	require.Nil(t, cms.Build)

	shop := prod.Spec.Providers[RoleEcommerce]
	require.Equal(t, "shopify", shop.Name)
	require.Equal(t, "2025-07", shop.Settings["api_version"])
	require.Equal(t, "acme.myshopify.com", shop.Settings["shop"])
	require.Equal(t, "shpat_admin_value", shop.Credentials["token"].Value())
	require.Equal(t, "shopify-whsec-value", shop.WebhookSecret[0].Value())

	ssg := prod.Spec.Providers[RoleSSG]
	require.Equal(t, "nextjs", ssg.Name)
	require.NotNil(t, ssg.Build)
	require.Equal(t, "hook", ssg.Build.Driver)
	require.Equal(t, "${NETLIFY_BUILD_HOOK}", ssg.Build.URL.Ref)
	require.Equal(t, "https://api.netlify.com/build_hooks/hook-value", ssg.Build.URL.Value())

	require.Equal(t, map[string]Integration{
		"shop-products": {Provider: RoleEcommerce, Topics: []string{"products/create", "products/update", "products/delete"}},
		"cms-content":   {Provider: RoleCMS, Filter: `_type in ["page", "post"]`},
	}, prod.Spec.Integrations)
	require.Equal(t, map[string]Resource{
		"site":      {Probe: ProbeHTTP, URL: "https://www.acme.example/", ExpectStatus: 200, Timeout: Duration(5 * time.Second)},
		"site-cert": {Probe: ProbeTLS, Address: "www.acme.example:443", MinDaysValid: 14},
	}, prod.Spec.Resources)
	require.Equal(t, []string{"product", "page", "post"}, prod.Spec.ContentTypes)

	blog := cfg.Stacks[1]
	require.Equal(t, StackMeta{ClientID: "acme-corp", StackID: "blog-staging", Environment: "staging"}, blog.Metadata)
	require.Equal(t, "contentful", blog.Spec.Providers[RoleCMS].Name)
	require.Equal(t, "cfpat-value", blog.Spec.Providers[RoleCMS].Credentials["token"].Value())
	require.Equal(t, &Build{Driver: "codebuild", ProjectName: "acme-blog", Region: "eu-west-1"}, blog.Spec.Providers[RoleSSG].Build)
	require.Equal(t, []string{"Entry.publish", "Entry.unpublish", "Entry.delete"}, blog.Spec.Integrations["cms-entries"].Topics)
	require.Equal(t, map[string]Resource{
		"api":      {Probe: ProbeTCP, Address: "api.acme.example:443", Timeout: Duration(2 * time.Second)},
		"site-dns": {Probe: ProbeDNS, Name: "blog.acme.example"},
	}, blog.Spec.Resources)
	require.Equal(t, []string{"post"}, blog.Spec.ContentTypes)

	legacy := cfg.Stacks[2]
	require.Equal(t, "legacy", legacy.Metadata.StackID)
	require.Equal(t, "generic", legacy.Spec.Providers[RoleCMS].Name)
	require.Equal(t, "https://integrations.acme.example", legacy.Spec.Providers[RoleCMS].Settings["integration_api"])
	require.Equal(t, "whsec_legacyvalue", legacy.Spec.Providers[RoleCMS].WebhookSecret[0].Value())

	status := cfg.Stacks[3]
	require.Equal(t, StackMeta{ClientID: "acme-corp", StackID: "status-page", Environment: "prod"}, status.Metadata)
	require.Empty(t, status.Spec.Providers)
	require.Equal(t, map[string]Resource{
		"page": {Probe: ProbeHTTP, URL: "https://status.acme.example/", ExpectStatus: 200, Timeout: Duration(3 * time.Second)},
	}, status.Spec.Resources)

	ch := cfg.Channels[0]
	require.Equal(t, KindNotificationChannel, ch.Kind)
	require.Equal(t, "ops-pagerduty", ch.Metadata.Name)
	require.Equal(t, "pagerduty", ch.Spec.Type)
	require.Equal(t, "critical", ch.Spec.SeverityThreshold)
	require.Equal(t, "${PAGERDUTY_ROUTING_KEY}", ch.Spec.RoutingKey.Ref)
	require.Equal(t, "pd-routing-key-value", ch.Spec.RoutingKey.Value())

	pol := cfg.Policies[0]
	require.Equal(t, KindReconciliationPolicy, pol.Kind)
	require.Equal(t, PolicyMeta{ClientID: "acme-corp", StackID: "cms-ecom-prod"}, pol.Metadata)
	spec := pol.Spec
	require.Equal(t, Schedule{Interval: Duration(5 * time.Minute), Timezone: "UTC"}, spec.Schedule)
	require.Equal(t, Confirmation{Observations: 2, GracePeriod: Duration(30 * time.Second), MaxUnknown: Duration(10 * time.Minute)}, spec.Confirmation)
	require.Equal(t, AutoHeal{
		Enabled:           true,
		Mode:              "enforce",
		MaxAttempts:       3,
		BackoffStrategy:   "exponential",
		AllowedDriftTypes: []string{"provider_missing", "webhook_broken", "resource_unhealthy"},
		RequireApproval:   []string{"cms_provider_change", "data_deletion", "resource_replacement"},
	}, spec.AutoHeal)
	require.Equal(t, Duration(15*time.Minute), spec.Content.MaxStaleness)
	require.Equal(t, Observability{MetricsRetention: Duration(30 * 24 * time.Hour), DetailedLogging: true, PerformanceTracking: true}, spec.Observability)

	chans := spec.Notifications.Channels
	require.Len(t, chans, 4)
	require.Equal(t, ChannelSpec{Ref: "ops-pagerduty"}, chans[0])
	require.Equal(t, "slack", chans[1].Type)
	require.Equal(t, "medium", chans[1].SeverityThreshold)
	require.Equal(t, "https://hooks.slack.com/services/slack-value", chans[1].WebhookURL.Value())
	require.Equal(t, "email", chans[2].Type)
	require.Equal(t, []string{"ops@acme.example"}, chans[2].Addresses)
	require.Equal(t, "high", chans[2].SeverityThreshold)
	require.Equal(t, "webhook", chans[3].Type)
	require.Equal(t, "https://hooks.acme.example/blackwell", chans[3].URL)
	require.Equal(t, "drift-webhook-secret-value", chans[3].Secret.Value())
	require.Equal(t, "low", chans[3].SeverityThreshold)

	// The policy of the prod stack is its own; the other stacks get the default.
	eff := cfg.PolicyFor("acme-corp", "cms-ecom-prod")
	require.True(t, eff.AutoHeal.Enabled)
	require.Equal(t, Duration(10*time.Second), eff.AutoHeal.BackoffBase)
	require.Equal(t, DefaultPolicy(), cfg.PolicyFor("acme-corp", "blog-staging"))
}
