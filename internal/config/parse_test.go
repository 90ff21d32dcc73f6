package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// yml trims the leading newline of a raw string, so that line 1 is the
// first line written.
func yml(s string) string { return strings.TrimPrefix(s, "\n") }

// testEnv resolves ${TOKEN} and ${HOOK}; everything else is unset.
func testEnv(name string) (string, bool) {
	switch name {
	case "TOKEN":
		return "tok-secret-value", true
	case "HOOK":
		return "https://hooks.example/build-secret-value", true
	}
	return "", false
}

// errorStrings returns the Error() of each positioned error of err.
func errorStrings(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	var errs *Errors
	require.True(t, errors.As(err, &errs), "error %T is not an *Errors", err)
	out := make([]string, len(*errs))
	for i, e := range *errs {
		out[i] = e.Error()
	}
	return out
}

const okStack = `
apiVersion: blackwell.io/v1
kind: Stack
metadata:
  client_id: acme
  stack_id: web
  environment: prod
spec:
  providers:
    cms:
      name: sanity
      credentials:
        token: ${TOKEN}
    ssg:
      name: nextjs
      build:
        driver: hook
        url: ${HOOK}
  integrations:
    content:
      provider: cms
      topics: [publish]
  resources:
    site:
      probe: http
      url: https://www.acme.example/
`

func TestParseValid(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("ok.yaml", []byte(yml(okStack)), testEnv)
	require.NoError(t, err)
	require.Len(t, cfg.Stacks, 1)
	require.Equal(t, "tok-secret-value", cfg.Stacks[0].Spec.Providers[RoleCMS].Credentials["token"].Value())
	require.NotNil(t, cfg.Policies)
	require.NotNil(t, cfg.Channels)
}

// badConfig is a configuration with problems and the errors Parse reports.
type badConfig struct {
	name string
	yaml string
	want []string
}

// badConfigs covers every rule; FuzzParse seeds from them too.
func badConfigs() []badConfig {
	return []badConfig{
		{
			name: "syntax error",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web
`,
			want: []string{
				"bad.yaml:3:11: invalid YAML: could not find flow mapping end token '}'",
			},
		},
		{
			name: "duplicate key",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
kind: Stack
metadata: {client_id: acme, stack_id: web}
`,
			want: []string{
				"bad.yaml:3:1: duplicate key \"kind\"",
			},
		},
		{
			name: "document is not a mapping",
			yaml: `
- apiVersion: blackwell.io/v1
`,
			want: []string{
				"bad.yaml:1:1: a document must be a mapping with apiVersion, kind, metadata and spec, not a list",
			},
		},
		{
			name: "missing apiVersion and kind",
			yaml: `
metadata: {client_id: acme, stack_id: web}
`,
			want: []string{
				"bad.yaml:1:1: apiVersion: is required (blackwell.io/v1)",
				"bad.yaml:1:1: kind: is required (Stack, ReconciliationPolicy, NotificationChannel, OrganizationPolicy or Pipeline)",
			},
		},
		{
			name: "wrong apiVersion",
			yaml: `
apiVersion: blackwell.io/v2
kind: Stack
metadata: {client_id: acme, stack_id: web}
`,
			want: []string{
				"bad.yaml:1:13: apiVersion: unsupported apiVersion \"blackwell.io/v2\" (want blackwell.io/v1)",
			},
		},
		{
			name: "unknown kind",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stak
metadata: {client_id: acme, stack_id: web}
`,
			want: []string{
				"bad.yaml:2:7: kind: unknown kind \"Stak\" (want Stack, ReconciliationPolicy, NotificationChannel, OrganizationPolicy or Pipeline)",
			},
		},
		{
			name: "unknown fields",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  resources:
    site:
      probe: http
      urll: https://www.acme.example/
  color: blue
status: {}
`,
			want: []string{
				"bad.yaml:6:5: spec.resources.site.url: is required for probe http",
				"bad.yaml:8:7: spec.resources.site: unknown field \"urll\" (did you mean \"url\"?)",
				"bad.yaml:9:3: spec: unknown field \"color\" (known fields: providers, integrations, resources, content_types, overrides)",
				"bad.yaml:10:1: unknown field \"status\" (known fields: apiVersion, kind, metadata, spec)",
			},
		},
		{
			name: "wrong types",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: [web]}
spec:
  providers:
    cms: sanity
  integrations:
    content: {provider: cms, topics: publish}
  resources:
    site: {probe: http, url: "https://a.example/", expect_status: "200"}
  content_types: {post: true}
`,
			want: []string{
				"bad.yaml:3:39: metadata.stack_id: expected a string, got a list",
				"bad.yaml:6:10: spec.providers.cms: expected a mapping, got a string",
				"bad.yaml:8:38: spec.integrations.content.topics: expected a list, got a string",
				"bad.yaml:10:67: spec.resources.site.expect_status: expected an integer, got a string",
				"bad.yaml:11:19: spec.content_types: expected a list, got a mapping",
			},
		},
		{
			name: "ids",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: Acme, stack_id: -web}
spec:
  resources:
    Site: {probe: dns, name: a.example}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata:
  client_id: acme
  stack_id: a-name-that-is-much-too-long-to-be-an-id-because-it-has-64-chars
`,
			want: []string{
				"bad.yaml:3:23: metadata.client_id: \"Acme\" is not a valid name (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters)",
				"bad.yaml:3:39: metadata.stack_id: \"-web\" is not a valid name (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters)",
				"bad.yaml:6:5: spec.resources.Site: \"Site\" is not a valid name (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters)",
				"bad.yaml:12:13: metadata.stack_id: \"a-name-that-is-much-too-long-to-be-an-id-because-it-has-64-chars\" is not a valid name (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters)",
			},
		},
		{
			name: "missing ids and bad environment",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata:
  environment: production
`,
			want: []string{
				"bad.yaml:3:1: metadata.client_id: is required",
				"bad.yaml:3:1: metadata.stack_id: is required",
				"bad.yaml:4:16: metadata.environment: unknown value \"production\" (want dev, staging or prod)",
			},
		},
		{
			name: "roles and integrations",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  providers:
    search: {name: algolia}
    cms: {}
  integrations:
    products: {provider: ecommerce}
    content: {provider: headless}
    other: {topics: [a, a, ""]}
`,
			want: []string{
				"bad.yaml:6:5: spec.providers.search: unknown role \"search\" (want cms, ecommerce or ssg)",
				"bad.yaml:7:5: spec.providers.cms.name: is required",
				"bad.yaml:9:26: spec.integrations.products.provider: role \"ecommerce\" is not declared in providers",
				"bad.yaml:10:25: spec.integrations.content.provider: unknown role \"headless\" (want cms, ecommerce or ssg)",
				"bad.yaml:11:5: spec.integrations.other.provider: is required (a role from providers: cms, ecommerce or ssg)",
				"bad.yaml:11:25: spec.integrations.other.topics[1]: \"a\" is listed twice",
				"bad.yaml:11:28: spec.integrations.other.topics[2]: must not be empty",
			},
		},
		{
			name: "token expiry setting",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  providers:
    cms: {name: contentful, settings: {space_id: s, token_expires_at: "next tuesday"}}
    ecommerce: {name: shopify, settings: {shop: x.myshopify.com, token_expires_at: "2027-03-01"}}
    ssg: {name: hugo, settings: {token_expires_at: "2027-03-01T12:00:00Z"}}
`,
			want: []string{
				"bad.yaml:6:71: spec.providers.cms.settings.token_expires_at: \"next tuesday\" is not an RFC 3339 time or a date (YYYY-MM-DD)",
			},
		},
		{
			name: "probes",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  resources:
    a: {probe: http}
    b: {probe: http, url: "ftp://files.example/", expect_status: 700}
    c: {probe: tls, address: www.example, min_days_valid: -1}
    d: {probe: tcp}
    e: {probe: tcp, address: "db.example:99999", url: "https://db.example/"}
    f: {probe: dns}
    g: {probe: dns, name: "bad name"}
    h: {probe: icmp}
    i: {url: "https://a.example/"}
`,
			want: []string{
				"bad.yaml:6:5: spec.resources.a.url: is required for probe http",
				"bad.yaml:7:27: spec.resources.b.url: \"ftp://files.example/\" is not an http or https URL",
				"bad.yaml:7:66: spec.resources.b.expect_status: must be an HTTP status between 100 and 599",
				"bad.yaml:8:30: spec.resources.c.address: \"www.example\" is not host:port",
				"bad.yaml:8:59: spec.resources.c.min_days_valid: must be >= 0",
				"bad.yaml:9:5: spec.resources.d.address: is required (host:port)",
				"bad.yaml:10:30: spec.resources.e.address: \"db.example:99999\" has no valid port (want 1-65535)",
				"bad.yaml:10:50: spec.resources.e.url: not allowed for probe tcp",
				"bad.yaml:11:5: spec.resources.f.name: is required for probe dns",
				"bad.yaml:12:27: spec.resources.g.name: \"bad name\" is not a valid host name",
				"bad.yaml:13:16: spec.resources.h.probe: unknown value \"icmp\" (want http, tls, tcp or dns)",
				"bad.yaml:14:5: spec.resources.i.probe: is required (one of http, tls, tcp or dns)",
			},
		},
		{
			name: "durations",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  resources:
    a: {probe: http, url: "https://a.example/", timeout: 5 seconds}
    b: {probe: http, url: "https://a.example/", timeout: -5s}
    c: {probe: http, url: "https://a.example/", timeout: 5}
    d: {probe: http, url: "https://a.example/", max_latency: 1h30m, timeout: 0}
`,
			want: []string{
				"bad.yaml:6:58: spec.resources.a.timeout: invalid duration \"5 seconds\" (want a number and a unit, one of ns, us, ms, s, m, h, d, w; for example 30s, 5m, 1h30m, 30d)",
				"bad.yaml:7:58: spec.resources.b.timeout: duration \"-5s\" must not be negative",
				"bad.yaml:8:58: spec.resources.c.timeout: expected a duration such as 30s, 5m or 30d, got an integer",
			},
		},
		{
			name: "build drivers",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  providers:
    cms:
      name: sanity
      build: {driver: hook, url: "${HOOK}"}
    ssg:
      name: hugo
      build: {driver: make}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: hook}
spec:
  providers:
    ssg: {name: hugo, build: {driver: hook, project_name: p}}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: command}
spec:
  providers:
    ssg: {name: hugo, build: {driver: command, timeout: 10m}}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: codebuild}
spec:
  providers:
    ssg: {name: hugo, build: {driver: codebuild, region: eu-west-1, url: "${HOOK}"}}
`,
			want: []string{
				"bad.yaml:8:7: spec.providers.cms.build: only the ssg role builds (build is not allowed for cms)",
				"bad.yaml:11:23: spec.providers.ssg.build.driver: unknown value \"make\" (want hook, command or codebuild)",
				"bad.yaml:18:23: spec.providers.ssg.build.url: is required for driver hook",
				"bad.yaml:18:45: spec.providers.ssg.build.project_name: not allowed with driver hook",
				"bad.yaml:25:23: spec.providers.ssg.build.command: is required for driver command (a list: program and arguments)",
				"bad.yaml:25:39: spec.providers.ssg.build.driver: build driver command runs a program on the server and is disabled: allow it with serve --allow-command-builds (BLACKWELL_ALLOW_COMMAND_BUILDS), for the server's own config file only",
				"bad.yaml:32:23: spec.providers.ssg.build.project_name: is required for driver codebuild",
				"bad.yaml:32:69: spec.providers.ssg.build.url: not allowed with driver codebuild",
			},
		},
		{
			name: "build deploy API",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  providers:
    ssg:
      name: next
      build:
        driver: hook
        url: "${HOOK}"
        deploy: {host: heroku, token: "literal-token"}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: cf}
spec:
  providers:
    ssg: {name: next, build: {driver: hook, url: "${HOOK}", deploy: {host: cloudflare, site: s, token: "${CF}", api_base: "ftp://x"}}}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: cb}
spec:
  providers:
    ssg: {name: next, build: {driver: codebuild, project_name: p, deploy: {host: netlify, site: s, token: "${T}"}}}
`,
			want: []string{
				"bad.yaml:11:9: spec.providers.ssg.build.deploy.site: is required (the Netlify site id, Vercel project id or Cloudflare Pages project name)",
				"bad.yaml:11:24: spec.providers.ssg.build.deploy.host: unknown value \"heroku\" (want cloudflare, netlify or vercel)",
				"bad.yaml:11:39: spec.providers.ssg.build.deploy.token: must be a ${VAR} reference, not the secret itself (a literal secret would be stored and shown to every reader of the config); set the value in the server's environment and write ${NAME}",
				"bad.yaml:18:61: spec.providers.ssg.build.deploy.account: is required for host cloudflare",
				"bad.yaml:18:104: spec.providers.ssg.build.deploy.token: ${CF} is not set",
				"bad.yaml:18:123: spec.providers.ssg.build.deploy.api_base: \"ftp://x\" is not an http or https URL",
				"bad.yaml:25:67: spec.providers.ssg.build.deploy: not allowed with driver codebuild",
				"bad.yaml:25:107: spec.providers.ssg.build.deploy.token: ${T} is not set",
			},
		},
		{
			name: "secrets",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  providers:
    cms:
      name: sanity
      credentials:
        token: ${SANITY_TOKEN}
        other: "pre-${TOKEN}-${ALSO_MISSING}"
        bad: "${TOKEN"
        empty: ""
      webhook_secret: ["${TOKEN}", "${OLD_SECRET}"]
    ssg:
      name: hugo
      build: {driver: hook, url: "${TOKEN}"}
`,
			want: []string{
				"bad.yaml:9:16: spec.providers.cms.credentials.token: ${SANITY_TOKEN} is not set",
				"bad.yaml:10:16: spec.providers.cms.credentials.other: ${ALSO_MISSING} is not set",
				"bad.yaml:11:14: spec.providers.cms.credentials.bad: unterminated ${ (write $$ for a literal $)",
				"bad.yaml:12:16: spec.providers.cms.credentials.empty: must not be empty",
				"bad.yaml:13:36: spec.providers.cms.webhook_secret[1]: ${OLD_SECRET} is not set",
				"bad.yaml:16:34: spec.providers.ssg.build.url: must be an http or https URL",
			},
		},
		{
			name: "policy rules",
			yaml: `
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 500ms, timezone: Mars/Olympus}
  confirmation: {observations: -2, grace_period: 30x}
  auto_heal:
    enabled: "yes"
    mode: force
    max_attempts: -1
    backoff_strategy: fibonacci
    backoff_base: 1m
    backoff_cap: 10s
    allowed_drift_types: [provider_missing, provider_gone, provider_missing]
    require_approval: [cms_provider_change, search_provider_change, data_loss]
  content: {max_staleness: soon}
  observability: {metrics_retention: 30d, detailed_logging: 1, history_retention: 59m}
  events: {payload: everything, retention: 10m}
  predict: {enabled: true, notify_lead: 400d, preempt: [rebuild, renew_certificate, rebuild]}
`,
			want: []string{
				"bad.yaml:5:24: spec.schedule.interval: must be at least 1s",
				"bad.yaml:5:41: spec.schedule.timezone: unknown time zone \"Mars/Olympus\" (want an IANA name such as UTC or Europe/Berlin)",
				"bad.yaml:6:32: spec.confirmation.observations: must be >= 0",
				"bad.yaml:6:50: spec.confirmation.grace_period: invalid duration \"30x\" (want a number and a unit, one of ns, us, ms, s, m, h, d, w; for example 30s, 5m, 1h30m, 30d)",
				"bad.yaml:8:14: spec.auto_heal.enabled: expected true or false, got a string",
				"bad.yaml:9:11: spec.auto_heal.mode: unknown value \"force\" (want enforce or dry_run)",
				"bad.yaml:10:19: spec.auto_heal.max_attempts: must be >= 0",
				"bad.yaml:11:23: spec.auto_heal.backoff_strategy: unknown value \"fibonacci\" (want linear or exponential)",
				"bad.yaml:13:18: spec.auto_heal.backoff_cap: must not be less than backoff_base",
				"bad.yaml:14:45: spec.auto_heal.allowed_drift_types[1]: unknown value \"provider_gone\" (want provider_missing, provider_changed, webhook_broken, integration_mismatch, resource_unhealthy, resource_missing, content_stale, config_pending, provider_unauthorized, provider_unreachable or environment_divergence)",
				"bad.yaml:14:60: spec.auto_heal.allowed_drift_types[2]: \"provider_missing\" is listed twice",
				"bad.yaml:15:45: spec.auto_heal.require_approval[1]: unknown value \"search_provider_change\" (want data_deletion, resource_replacement, cms_provider_change, ecommerce_provider_change, ssg_provider_change or preempt)",
				"bad.yaml:15:69: spec.auto_heal.require_approval[2]: unknown value \"data_loss\" (want data_deletion, resource_replacement, cms_provider_change, ecommerce_provider_change, ssg_provider_change or preempt)",
				"bad.yaml:16:28: spec.content.max_staleness: invalid duration \"soon\" (want a number and a unit, one of ns, us, ms, s, m, h, d, w; for example 30s, 5m, 1h30m, 30d)",
				"bad.yaml:17:61: spec.observability.detailed_logging: expected true or false, got an integer",
				"bad.yaml:17:83: spec.observability.history_retention: must be at least 1h (or unset: the server's --history-retention)",
				"bad.yaml:18:21: spec.events.payload: unknown value \"everything\" (want minimal, full or none)",
				"bad.yaml:18:44: spec.events.retention: must be at least 1h (or unset: the server's --event-retention)",
				"bad.yaml:19:41: spec.predict.notify_lead: must be between 0 and 365d (unset: 72h)",
				"bad.yaml:19:66: spec.predict.preempt[1]: unknown value \"renew_certificate\" (want reregister_subscription or rebuild)",
				"bad.yaml:19:85: spec.predict.preempt[2]: \"rebuild\" is listed twice",
			},
		},
		{
			name: "policy flapping and maintenance windows",
			yaml: `
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  auto_heal:
    flapping: {threshold: -1, window: 1h}
    maintenance_windows:
      - {days: [sat, sun], start: "02:00", duration: 2h}
      - {days: [someday], start: "25:00", duration: 0s}
      - {days: [], start: "01:00", duration: 8d}
`,
			want: []string{
				"bad.yaml:6:27: spec.auto_heal.flapping.threshold: must be >= 0",
				"bad.yaml:9:17: spec.auto_heal.maintenance_windows[1].days[0]: unknown value \"someday\" (want mon, tue, wed, thu, fri, sat or sun)",
				"bad.yaml:9:34: spec.auto_heal.maintenance_windows[1].start: must be a time of day HH:MM",
				"bad.yaml:9:53: spec.auto_heal.maintenance_windows[1].duration: must be more than 0 and at most 7d",
				"bad.yaml:10:16: spec.auto_heal.maintenance_windows[2].days: must name at least one day (mon..sun)",
				"bad.yaml:10:46: spec.auto_heal.maintenance_windows[2].duration: must be more than 0 and at most 7d",
			},
		},
		{
			name: "policy channels",
			yaml: `
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  notifications:
    channels:
      - ref: nowhere
      - ref: ops
        type: slack
      - severity_threshold: urgent
      - type: sms
      - {type: slack, addresses: [a@b.example]}
      - {type: email, addresses: [not-an-address]}
      - {type: email}
      - {type: pagerduty}
      - {type: webhook, url: "mailto:x@y.example"}
      - {type: nats}
      - {type: email, addresses: [a@b.example], smtp: {port: 70000, from: nobody}}
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: ops}
spec: {type: slack, webhook_url: "https://hooks.slack.example/x"}
`,
			want: []string{
				"bad.yaml:7:14: spec.notifications.channels[0].ref: no NotificationChannel named \"nowhere\" is declared",
				"bad.yaml:9:9: spec.notifications.channels[1].type: not allowed with ref (the named NotificationChannel declares the channel)",
				"bad.yaml:10:9: spec.notifications.channels[2].type: is required (one of slack, email, pagerduty, webhook, nats or sns)",
				"bad.yaml:10:29: spec.notifications.channels[2].severity_threshold: unknown value \"urgent\" (want low, medium, high or critical)",
				"bad.yaml:11:15: spec.notifications.channels[3].type: unknown value \"sms\" (want slack, email, pagerduty, webhook, nats or sns)",
				"bad.yaml:12:10: spec.notifications.channels[4].webhook_url: is required for type slack",
				"bad.yaml:12:23: spec.notifications.channels[4].addresses: not allowed for type slack",
				"bad.yaml:13:10: spec.notifications.channels[5].smtp: is required for type email: the server to send through (host, port, username, password)",
				"bad.yaml:13:35: spec.notifications.channels[5].addresses[0]: \"not-an-address\" is not an email address",
				"bad.yaml:14:10: spec.notifications.channels[6].addresses: is required for type email (a list of addresses)",
				"bad.yaml:14:10: spec.notifications.channels[6].smtp: is required for type email: the server to send through (host, port, username, password)",
				"bad.yaml:15:10: spec.notifications.channels[7].routing_key: is required for type pagerduty",
				"bad.yaml:16:30: spec.notifications.channels[8].url: \"mailto:x@y.example\" is not an http or https URL",
				"bad.yaml:17:10: spec.notifications.channels[9].subject: is required for type nats",
				"bad.yaml:18:49: spec.notifications.channels[10].smtp.host: is required",
				"bad.yaml:18:62: spec.notifications.channels[10].smtp.port: must be between 0 and 65535",
				"bad.yaml:18:75: spec.notifications.channels[10].smtp.from: \"nobody\" is not an email address",
				// Channel secrets are references, like credentials.
				"bad.yaml:23:34: spec.webhook_url: must be a ${VAR} reference, not the secret itself (a literal secret would be stored and shown to every reader of the config); set the value in the server's environment and write ${NAME}",
			},
		},
		{
			name: "named channels",
			yaml: `
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: ops}
spec: {type: pagerduty, routing_key: "${TOKEN}"}
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: ops}
spec: {type: pagerduty, routing_key: "${TOKEN}"}
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: "Ops Team"}
spec: {ref: ops}
`,
			want: []string{
				"bad.yaml:8:18: metadata.name: NotificationChannel \"ops\" is already declared at bad.yaml:3:18",
				"bad.yaml:13:18: metadata.name: \"Ops Team\" is not a valid name (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters)",
				"bad.yaml:14:1: spec.type: is required (one of slack, email, pagerduty, webhook, nats or sns)",
				"bad.yaml:14:8: spec.ref: not allowed in a NotificationChannel (ref names one from a policy)",
			},
		},
		{
			name: "sns channels",
			yaml: `
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  notifications:
    channels:
      - {type: sns}
      - {type: sns, topic_arn: blackwell-drift-events}
      - {type: sns, topic_arn: "arn:aws:sns:::blackwell-drift-events"}
      - {type: sns, topic_arn: "arn:aws:sns:eu-west-1:123456789012:t", region: Ireland, endpoint: "ftp://x"}
      - {type: sns, topic_arn: "arn:aws:sns:eu-west-1:123456789012:t", access_key_id: "${TOKEN}"}
      - {type: sns, topic_arn: "arn:aws:sns:eu-west-1:123456789012:t", access_key_id: AKIDLITERAL, secret_access_key: "${TOKEN}"}
      - {type: sns, topic_arn: "arn:aws:sns:eu-west-1:123456789012:t", session_token: "${TOKEN}", url: "http://x"}
      - {type: sns, topic_arn: "arn:aws:sns:::t", region: eu-west-1, endpoint: "http://127.0.0.1:4100", access_key_id: "${TOKEN}", secret_access_key: "${TOKEN}"}
`,
			want: []string{
				"bad.yaml:7:10: spec.notifications.channels[0].topic_arn: is required for type sns (arn:aws:sns:REGION:ACCOUNT:NAME)",
				"bad.yaml:8:32: spec.notifications.channels[1].topic_arn: \"blackwell-drift-events\" is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
				"bad.yaml:9:10: spec.notifications.channels[2].region: is required when topic_arn names no region",
				"bad.yaml:10:80: spec.notifications.channels[3].region: \"Ireland\" is not an AWS region (like eu-west-1)",
				"bad.yaml:10:99: spec.notifications.channels[3].endpoint: \"ftp://x\" is not an http or https URL",
				"bad.yaml:11:87: spec.notifications.channels[4].access_key_id: access_key_id and secret_access_key go together (or leave both out for the AWS SDK's default credential chain)",
				"bad.yaml:12:87: spec.notifications.channels[5].access_key_id: must be a ${VAR} reference, not the secret itself (a literal secret would be stored and shown to every reader of the config); set the value in the server's environment and write ${NAME}",
				"bad.yaml:13:87: spec.notifications.channels[6].session_token: needs access_key_id and secret_access_key",
				"bad.yaml:13:99: spec.notifications.channels[6].url: not allowed for type sns",
			},
		},
		{
			name: "duplicates across documents",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme, stack_id: web}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme, stack_id: web}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme, stack_id: shop}
`,
			want: []string{
				"bad.yaml:7:39: metadata.stack_id: Stack acme/web is already declared at bad.yaml:3:39",
				"bad.yaml:15:23: metadata.client_id: a ReconciliationPolicy for client acme is already declared at bad.yaml:11:23",
				"bad.yaml:23:39: metadata.stack_id: a ReconciliationPolicy for stack acme/web is already declared at bad.yaml:19:39",
				"bad.yaml:27:39: metadata.stack_id: no Stack acme/shop is declared in this file",
			},
		},
		{
			name: "empty documents do not hide the next",
			yaml: `
---
# nothing here
---
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme}
...
`,
			want: []string{
				"bad.yaml:7:1: metadata.stack_id: is required",
			},
		},
		{
			name: "aliases and merge keys",
			yaml: `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  resources:
    a: &probe {probe: http, url: "https://a.example/", timeout: 5s}
    b:
      <<: *probe
      url: "https://b.example/"
      colour: red
    c: *nothing
    d: !custom {probe: http}
`,
			want: []string{
				"bad.yaml:10:7: spec.resources.b: unknown field \"colour\" (known fields: probe, url, expect_status, body_match, max_latency, address, min_days_valid, name, timeout)",
				"bad.yaml:11:8: spec.resources.c: alias *nothing names no anchor before it",
				"bad.yaml:12:8: spec.resources.d: unsupported tag \"!custom\"",
			},
		},
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range badConfigs() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse("bad.yaml", []byte(yml(tt.yaml)), testEnv)
			require.Nil(t, cfg)
			got := errorStrings(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseReportsEveryDocument(t *testing.T) {
	t.Parallel()
	src := yml(`
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  resources:
    site: {probe: http, url: "https://a.example/", timeout: 5x}
    cert: {probe: tls, address: nope}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: broken
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  auto_heal: {max_attempts: -3, mode: yolo}
  notifications:
    channels: [{ref: missing}]
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: pager}
spec: {type: pagerduty, routing_key: "${PD_KEY}"}
`)
	_, err := Parse("multi.yaml", []byte(src), testEnv)
	require.Equal(t, []string{
		`multi.yaml:6:61: spec.resources.site.timeout: invalid duration "5x" (want a number and a unit, one of ns, us, ms, s, m, h, d, w; for example 30s, 5m, 1h30m, 30d)`,
		`multi.yaml:7:33: spec.resources.cert.address: "nope" is not host:port`,
		`multi.yaml:11:11: invalid YAML: could not find flow mapping end token '}'`,
		`multi.yaml:17:29: spec.auto_heal.max_attempts: must be >= 0`,
		`multi.yaml:17:39: spec.auto_heal.mode: unknown value "yolo" (want enforce or dry_run)`,
		`multi.yaml:19:22: spec.notifications.channels[0].ref: no NotificationChannel named "missing" is declared`,
		`multi.yaml:24:38: spec.routing_key: ${PD_KEY} is not set`,
	}, errorStrings(t, err))

	var one Error
	require.True(t, errors.As(err, &one), "errors.As finds a single Error too")
	require.Equal(t, Error{File: "multi.yaml", Line: 6, Column: 61, Message: one.Message}, one)
}

func TestParseMissingSecret(t *testing.T) {
	t.Parallel()
	src := strings.Replace(yml(okStack), "${TOKEN}", "${SANITY_TOKEN}", 1)
	_, err := Parse("stack.yaml", []byte(src), testEnv)
	var errs *Errors
	require.ErrorAs(t, err, &errs)
	require.Equal(t, Errors{{
		File: "stack.yaml", Line: 12, Column: 16,
		Message: "spec.providers.cms.credentials.token: ${SANITY_TOKEN} is not set",
	}}, *errs)
}

func TestParseSecretSyntax(t *testing.T) {
	t.Parallel()
	env := func(name string) (string, bool) {
		return map[string]string{"A": "alpha", "B": "beta", "HOOK": "https://h.example/"}[name], name == "A" || name == "B" || name == "HOOK"
	}
	src := yml(`
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web}
spec:
  providers:
    cms:
      name: sanity
      credentials:
        mixed: "x-${A}-${B}-$$-$"
        empty_var: "${A}${A}"
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: plain}
spec: {type: pagerduty, routing_key: "${A}-literal-$-value"}
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: escaped}
spec: {type: pagerduty, routing_key: "${B}$${A}"}
`)
	cfg, err := Parse("s.yaml", []byte(src), env)
	require.NoError(t, err)
	creds := cfg.Stacks[0].Spec.Providers[RoleCMS].Credentials
	require.Equal(t, "alpha-literal-$-value", cfg.Channels[0].Spec.RoutingKey.Value())
	require.Equal(t, "beta${A}", cfg.Channels[1].Spec.RoutingKey.Value())
	require.Equal(t, "${B}$${A}", cfg.Channels[1].Spec.RoutingKey.Ref)
	require.Equal(t, "x-alpha-beta-$-$", creds["mixed"].Value())
	require.Equal(t, "alphaalpha", creds["empty_var"].Value())
}

func TestParseNilGetenvLeavesSecretsUnresolved(t *testing.T) {
	t.Parallel()
	cfg, err := Load(examplePath(), nil)
	require.NoError(t, err)
	spec := cfg.Stacks[0].Spec
	token := spec.Providers[RoleCMS].Credentials["token"]
	require.False(t, token.Resolved())
	require.Empty(t, token.Value())

	require.NoError(t, spec.ResolveSecrets(lookup(exampleEnv())))
	require.Equal(t, "sk-sanity-token-value", spec.Providers[RoleCMS].Credentials["token"].Value())
	require.False(t, cfg.Stacks[0].Spec.Providers[RoleCMS].Credentials["token"].Resolved(),
		"resolving a copy leaves the parsed config as it was")
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), testEnv)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLoadNamesTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "blackwell.yaml")
	require.NoError(t, os.WriteFile(path, []byte("apiVersion: blackwell.io/v1\nkind: Nope\n"), 0o600))
	_, err := Load(path, testEnv)
	require.Equal(t, []string{path + `:2:7: kind: unknown kind "Nope" (want Stack, ReconciliationPolicy, NotificationChannel, OrganizationPolicy or Pipeline)`}, errorStrings(t, err))
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "f.yaml", Line: 3, Column: 7, Message: "m"}, "f.yaml:3:7: m"},
		{Error{Line: 3, Column: 7, Message: "m"}, "3:7: m"},
		{Error{File: "f.yaml", Message: "m"}, "f.yaml: m"},
		{Error{Message: "m"}, "m"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.err.Error())
	}
	errs := Errors{{File: "a", Line: 1, Column: 2, Message: "x"}, {File: "a", Line: 3, Column: 4, Message: "y"}}
	require.Equal(t, "a:1:2: x\na:3:4: y", errs.Error())
}

// TestSecretsNeverPrinted checks that resolved values appear in no error,
// no %v of a Config and no JSON of one.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	env := exampleEnv()
	cfg := loadExample(t)

	var texts []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		texts = append(texts, fmt.Sprintf(format, cfg), fmt.Sprintf(format, *cfg))
		for _, s := range cfg.Stacks {
			texts = append(texts, fmt.Sprintf(format, s), fmt.Sprintf(format, s.Spec.Providers[RoleCMS]))
			if b := s.Spec.Providers[RoleSSG].Build; b != nil {
				texts = append(texts, fmt.Sprintf(format, b), fmt.Sprintf(format, *b))
			}
		}
		texts = append(texts, fmt.Sprintf(format, cfg.Policies[0].Spec.Notifications.Channels))
	}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	texts = append(texts, string(b))
	canonical, _, err := Hash(cfg.Stacks[0].Spec)
	require.NoError(t, err)
	texts = append(texts, string(canonical))

	// Errors: every secret resolves to something invalid for its field, and
	// the file has other errors besides.
	data, err := os.ReadFile(examplePath())
	require.NoError(t, err)
	bad := strings.ReplaceAll(string(data), "max_attempts: 3", "max_attempts: -3")
	badEnv := map[string]string{}
	for k, v := range env {
		badEnv[k] = "not a url " + v
	}
	delete(badEnv, "SANITY_TOKEN")
	_, err = Parse("blackwell.yaml", []byte(bad), lookup(badEnv))
	require.Error(t, err)
	texts = append(texts, err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	require.Contains(t, err.Error(), "must be an http or https URL")
	require.Contains(t, err.Error(), "${SANITY_TOKEN} is not set")

	for _, text := range texts {
		for name, v := range env {
			require.NotContains(t, text, v, "value of %s leaked", name)
		}
	}
}

func TestParseCRLF(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(examplePath())
	require.NoError(t, err)
	crlf := strings.ReplaceAll(string(data), "\n", "\r\n")
	got, err := Parse("crlf.yaml", []byte(crlf), lookup(exampleEnv()))
	require.NoError(t, err)
	want := loadExample(t)
	// The same places, in another file's name.
	for k, p := range want.Places {
		p.File = "crlf.yaml"
		want.Places[k] = p
	}
	require.Equal(t, want, got)

	_, err = Parse("crlf.yaml", []byte(strings.ReplaceAll(yml(okStack), "\n", "\r\n")+"---\r\napiVersion: blackwell.io/v1\r\nkind: Nope\r\n"), testEnv)
	require.Equal(t, []string{`crlf.yaml:28:7: kind: unknown kind "Nope" (want Stack, ReconciliationPolicy, NotificationChannel, OrganizationPolicy or Pipeline)`}, errorStrings(t, err))
}

// TestParseHostileDocuments: aliases and merge keys that would expand to
// billions of nodes, and deep nesting, are refused cheaply.
func TestParseHostileDocuments(t *testing.T) {
	t.Parallel()
	head := "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: a, stack_id: b}\nspec:\n"
	laughs := head + "  content_types: [&x0 [a, a, a, a, a, a, a, a, a, a]"
	merges := head + "  resources:\n    m0: &m0 {probe: dns, name: a.example}\n"
	for i := 1; i <= 9; i++ {
		laughs += fmt.Sprintf(", &x%d [%s]", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*x%d, ", i-1), 10), ", "))
		merges += fmt.Sprintf("    m%d: &m%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", "))
	}
	laughs += "]\n"
	deep := head + "  content_types: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n"
	tests := []struct{ name, src, want string }{
		// The config types are not recursive, so expanding aliases stops at
		// the first list that should have been a string.
		{"laughs", laughs, "spec.content_types[0]: expected a string, got a list"},
		// Deep nesting is refused before the YAML parser builds it.
		{"deep", deep, "deep.yaml:5:80: invalid YAML: the document is nested deeper than 64 levels"},
		// Merge keys expand within one mapping: that takes the node budget.
		{"merges", merges, "document is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.name+".yaml", []byte(tt.src), testEnv)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
