package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStackTargets(t *testing.T) {
	t.Parallel()
	spec := StackSpec{
		Resources: map[string]Resource{
			"site":  {Probe: ProbeHTTP, URL: "https://user:pw@www.acme.example:8443/x?token=1"},
			"cert":  {Probe: ProbeTLS, Address: "www.acme.example:443"},
			"db":    {Probe: ProbeTCP, Address: "[::1]:5432"},
			"dns":   {Probe: ProbeDNS, Name: "blog.acme.example"},
			"empty": {Probe: ProbeHTTP},
		},
		Providers: map[string]ProviderBinding{
			"cms": {Name: "sanity", Settings: map[string]string{
				"project_id": "abc", "api_base": "http://169.254.169.254/latest", "dataset": "production",
			}},
			"ecommerce": {Name: "shopify", Settings: map[string]string{"shop": "acme"}},
			"ssg":       {Name: "nextjs", Build: &Build{Driver: "hook", URL: NewSecret("http://10.0.0.1/hook")}},
		},
	}
	require.Equal(t, []Target{
		{Field: "spec.resources.cert.address", Host: "www.acme.example"},
		{Field: "spec.resources.db.address", Host: "::1"},
		{Field: "spec.resources.dns.name", Host: "blog.acme.example"},
		{Field: "spec.resources.site.url", Host: "www.acme.example"},
		{Field: "spec.providers.cms.settings.api_base", Host: "169.254.169.254"},
		{Field: "spec.providers.ecommerce.settings.shop", Host: "acme.myshopify.com"},
		{Field: "spec.providers.ssg.build.url", Host: "10.0.0.1"},
	}, StackTargets(spec))

	// A build hook URL given as a ${VAR} reference is the operator's; a
	// CodeBuild endpoint is always the writer's.
	spec = StackSpec{Providers: map[string]ProviderBinding{
		"ssg":       {Name: "hugo", Build: &Build{Driver: "hook", URL: NewSecret("${HOOK}")}},
		"ecommerce": {Name: "shopify", Settings: map[string]string{"shop": "127.0.0.1:8443"}},
		"cms":       {Name: "x", Build: &Build{Driver: "codebuild", Endpoint: "http://localhost:4566"}},
	}}
	require.Equal(t, []Target{
		{Field: "spec.providers.cms.build.endpoint", Host: "localhost"},
		{Field: "spec.providers.ecommerce.settings.shop", Host: "127.0.0.1"},
	}, StackTargets(spec))
}

func TestPolicyTargets(t *testing.T) {
	t.Parallel()
	spec := PolicySpec{Notifications: Notifications{Channels: []ChannelSpec{
		{Ref: "ops-pagerduty"},
		{Type: "webhook", URL: "https://hooks.example.com/x"},
		{Type: "slack", WebhookURL: NewSecret("http://127.0.0.1:9/services/x")},
		{Type: "slack", WebhookURL: NewSecret("${SLACK_URL}")},
		{Type: "email", SMTP: &SMTP{Host: "10.0.0.25"}},
		{Type: "nats", URL: "nats://localhost:4222"},
		{Type: "sns", TopicARN: "arn:aws:sns:eu-west-1:1:t", Endpoint: "http://169.254.169.254:4100"},
	}}}
	require.Equal(t, []Target{
		{Field: "notifications.channels[1].url", Host: "hooks.example.com"},
		{Field: "notifications.channels[2].webhook_url", Host: "127.0.0.1"},
		{Field: "notifications.channels[4].smtp.host", Host: "10.0.0.25"},
		{Field: "notifications.channels[5].url", Host: "localhost"},
		{Field: "notifications.channels[6].endpoint", Host: "169.254.169.254"},
	}, PolicyTargets(spec))
}
