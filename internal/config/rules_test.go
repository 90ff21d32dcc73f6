package config

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientSecretPrefix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		template, client, want, err string
	}{
		{DefaultClientSecretPrefix, "acme-corp", "BLACKWELL_ACME_CORP__", ""},
		{DefaultClientSecretPrefix, "acme", "BLACKWELL_ACME__", ""},
		{DefaultClientSecretPrefix, "a..b--c_d", "BLACKWELL_A_B_C_D__", ""},
		{DefaultClientSecretPrefix, "acme-", "BLACKWELL_ACME__", ""},
		{DefaultClientSecretPrefix, "9lives", "BLACKWELL_9LIVES__", ""},
		{"{CLIENT}_", "acme", "ACME_", ""},
		{"{CLIENT}_", "9lives", "", "does not make a variable name"},
		{"BLACKWELL_", "acme", "", "must hold {CLIENT} once"},
		{"{CLIENT}{CLIENT}", "acme", "", "must hold {CLIENT} once"},
		{"X-{CLIENT}", "acme", "", "does not make a variable name"},
		{DefaultClientSecretPrefix, "---", "", "no letters or digits"},
	}
	for _, c := range cases {
		got, err := ClientSecretPrefix(c.template, c.client)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, "%s %s", c.template, c.client)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, c.want, got, "%s %s", c.template, c.client)
	}
}

// With the default template no client's set holds another's names: a
// prefix never starts a different client's prefix.
func TestClientSecretPrefixesDoNotNest(t *testing.T) {
	t.Parallel()
	ids := []string{"acme", "acme-corp", "acme-corp-eu", "acme1", "a", "ac", "acme.x", "acme--x", "acme-", "x-acme"}
	for _, a := range ids {
		pa, err := ClientSecretPrefix(DefaultClientSecretPrefix, a)
		require.NoError(t, err)
		for _, b := range ids {
			pb, err := ClientSecretPrefix(DefaultClientSecretPrefix, b)
			require.NoError(t, err)
			if pa != pb {
				require.False(t, strings.HasPrefix(pb, pa), "%s (%s) owns names of %s (%s)", a, pa, b, pb)
			}
		}
	}
}

func TestHostPatterns(t *testing.T) {
	t.Parallel()
	hp, err := ParseHostPatterns(" api.example.com, *.Proxy.example ,,")
	require.NoError(t, err)
	require.Equal(t, HostPatterns{"api.example.com", "*.proxy.example"}, hp)
	for host, want := range map[string]bool{
		"api.example.com": true, "API.example.com.": true, "x.api.example.com": false,
		"a.proxy.example": true, "a.b.proxy.example": true, "proxy.example": false, "evilproxy.example": false,
		"": false,
	} {
		require.Equal(t, want, hp.Match(host), host)
	}
	for _, bad := range []string{"*", "*.", "a*.example", "http://x.example", "x.example:443", "-bad.example", "*.*.example"} {
		_, err := ParseHostPatterns(bad)
		require.Error(t, err, bad)
	}
}

// doc is a Stack document of client acme-corp, stack web, with spec (YAML
// lines indented two spaces under spec:).
func doc(client, spec string) string {
	return "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: " + client + ", stack_id: web}\nspec:\n" + spec
}

// rulesEnv resolves every variable named in the tests.
func rulesEnv(name string) (string, bool) {
	switch name {
	case "HOOK":
		return "https://api.netlify.com/build_hooks/x", true
	case "HTTP_HOOK":
		return "http://hooks.example/x", true
	}
	return "value-of-" + name, true
}

// originOfAPIBase is a Destinations stand-in: the origin of settings.api_base.
func originOfAPIBase(_, _, role string, spec StackSpec) []string {
	u, err := url.Parse(spec.Providers[role].Settings["api_base"])
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

func storedSpec(t *testing.T, spec string) func(string, string) (StackSpec, bool) {
	t.Helper()
	cfg, err := ParseWith("stored.yaml", []byte(doc("acme-corp", spec)), rulesEnv, Rules{CommandBuilds: true})
	require.NoError(t, err)
	return func(c, s string) (StackSpec, bool) {
		if c == "acme-corp" && s == "web" {
			return cfg.Stacks[0].Spec, true
		}
		return StackSpec{}, false
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	const commandBuild = "  providers:\n    ssg: {name: hugo, build: {driver: command, command: [npm, run, build]}}\n"
	const shop = "  providers:\n    ecommerce:\n      name: shopify\n      settings: {api_base: %q, shop: acme.myshopify.com}\n      credentials: {token: %q}\n"
	shopWith := func(apiBase, token string) string {
		return strings.Replace(strings.Replace(shop, "%q", `"`+apiBase+`"`, 1), "%q", `"`+token+`"`, 1)
	}
	tenant := func() *Tenant {
		return &Tenant{ClientID: "acme-corp", SecretPrefix: "BLACKWELL_ACME_CORP__", Destinations: originOfAPIBase}
	}
	cases := []struct {
		name   string
		client string
		spec   string
		rules  func(t *testing.T) Rules
		want   []string // substrings of the errors, in order; none: valid
	}{
		{name: "file: command build without the flag", spec: commandBuild,
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"x.yaml:6:39: spec.providers.ssg.build.driver: build driver command runs a program on the server and is disabled: allow it with serve --allow-command-builds (BLACKWELL_ALLOW_COMMAND_BUILDS)"}},
		{name: "file: command build with the flag", spec: commandBuild,
			rules: func(*testing.T) Rules { return Rules{CommandBuilds: true} }},
		{name: "file: build env only with driver command", spec: "  providers:\n    ssg: {name: hugo, build: {driver: hook, url: \"${HOOK}\", env: {A: b}}}\n",
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"spec.providers.ssg.build.env: not allowed with driver hook"}},
		{name: "file: build env names", spec: "  providers:\n    ssg: {name: hugo, build: {driver: command, command: [make], env: {NODE_ENV: production, 1X: y}}}\n",
			rules: func(*testing.T) Rules { return Rules{CommandBuilds: true} },
			want:  []string{`spec.providers.ssg.build.env.1X: "1X" is not a variable name`}},
		{name: "api: a new command build, whatever the flag", spec: commandBuild,
			rules: func(t *testing.T) Rules {
				return Rules{CommandBuilds: true, Stored: storedSpec(t, "  providers:\n    ssg: {name: hugo, build: {driver: hook, url: \"${HOOK}\"}}\n")}
			},
			want: []string{"spec.providers.ssg.build.driver: a command build cannot be set or changed through the API"}},
		{name: "api: a stack that is not stored yet", spec: commandBuild,
			rules: func(*testing.T) Rules {
				return Rules{Stored: func(string, string) (StackSpec, bool) { return StackSpec{}, false }}
			},
			want: []string{"a command build cannot be set or changed through the API"}},
		{name: "api: the stored command build, unchanged", spec: commandBuild,
			rules: func(t *testing.T) Rules { return Rules{Stored: storedSpec(t, commandBuild)} }},
		{name: "api: the stored command build, changed", spec: "  providers:\n    ssg: {name: hugo, build: {driver: command, command: [sh, -c, env]}}\n",
			rules: func(t *testing.T) Rules { return Rules{Stored: storedSpec(t, commandBuild)} },
			want:  []string{"a command build cannot be set or changed through the API"}},
		{name: "api: the stored command build, timeout changed", spec: "  providers:\n    ssg: {name: hugo, build: {driver: command, command: [npm, run, build], timeout: 1h}}\n",
			rules: func(t *testing.T) Rules { return Rules{Stored: storedSpec(t, commandBuild)} },
			want:  []string{"a command build cannot be set or changed through the API"}},
		{name: "api: a command build replaced by a hook", spec: "  providers:\n    ssg: {name: hugo, build: {driver: hook, url: \"${HOOK}\"}}\n",
			rules: func(t *testing.T) Rules { return Rules{Stored: storedSpec(t, commandBuild)} }},

		{name: "literal credential", spec: shopWith("https://acme.myshopify.com", "shpat_123"),
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"spec.providers.ecommerce.credentials.token: must be a ${VAR} reference, not the secret itself"}},
		{name: "literal webhook secret in a list", spec: "  providers:\n    cms: {name: sanity, webhook_secret: [\"${A}\", whsec_x]}\n",
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"spec.providers.cms.webhook_secret[1]: must be a ${VAR} reference"}},
		{name: "literal build hook", spec: "  providers:\n    ssg: {name: hugo, build: {driver: hook, url: \"https://api.netlify.com/build_hooks/x\"}}\n",
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"spec.providers.ssg.build.url: must be a ${VAR} reference"}},
		{name: "escaped $ is literal", spec: shopWith("https://a.example", "$${TOKEN}"),
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"credentials.token: must be a ${VAR} reference"}},

		{name: "plain http api_base", spec: shopWith("http://shop.example", "${T}"),
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"spec.providers.ecommerce.settings.api_base: must be an https URL: credentials are sent there"}},
		{name: "plain http integration_api", spec: "  providers:\n    cms: {name: generic, settings: {integration_api: \"http://i.example\"}}\n",
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"spec.providers.cms.settings.integration_api: must be an https URL"}},
		{name: "plain http build hook", spec: "  providers:\n    ssg: {name: hugo, build: {driver: hook, url: \"${HTTP_HOOK}\"}}\n",
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"spec.providers.ssg.build.url: must be an https URL"}},
		{name: "plain http codebuild endpoint", spec: "  providers:\n    ssg: {name: hugo, build: {driver: codebuild, project_name: p, endpoint: \"http://cb.example\"}}\n",
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{"spec.providers.ssg.build.endpoint: must be an https URL"}},
		{name: "codebuild region names a host", spec: "  providers:\n    ssg: {name: hugo, build: {driver: codebuild, project_name: p, region: \"evil.example/x\"}}\n",
			rules: func(*testing.T) Rules { return Rules{} },
			want:  []string{`spec.providers.ssg.build.region: "evil.example/x" is not an AWS region`}},
		{name: "plain http to loopback", spec: shopWith("http://127.0.0.1:8081", "${T}"),
			rules: func(*testing.T) Rules { return Rules{} }},
		{name: "plain http to localhost", spec: shopWith("http://localhost:8081/x", "${T}"),
			rules: func(*testing.T) Rules { return Rules{} }},
		{name: "plain http to an allowed host", spec: shopWith("http://proxy.corp.example", "${T}"),
			rules: func(*testing.T) Rules { return Rules{CredentialHosts: HostPatterns{"*.corp.example"}} }},

		{name: "tenant: another client's variable", client: "acme-corp", spec: shopWith("https://acme.myshopify.com", "${GLOBEX_SHOPIFY_TOKEN}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			},
			want: []string{"spec.providers.ecommerce.credentials.token: ${GLOBEX_SHOPIFY_TOKEN} is not a variable of client acme-corp (its own are named BLACKWELL_ACME_CORP__*)"}},
		{name: "tenant: a variable of a client whose id it starts", client: "acme-corp", spec: shopWith("https://acme.myshopify.com", "${BLACKWELL_ACME_CORP_EU__TOKEN}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			},
			want: []string{"${BLACKWELL_ACME_CORP_EU__TOKEN} is not a variable of client acme-corp"}},
		{name: "tenant: its own variable", client: "acme-corp", spec: shopWith("https://acme.myshopify.com", "Bearer ${BLACKWELL_ACME_CORP__SHOP}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			}},
		{name: "tenant: the variable its stored state holds there", client: "acme-corp", spec: shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			}},
		{name: "tenant: a stored variable moved to another field", client: "acme-corp",
			spec: shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}") + "    cms: {name: sanity, webhook_secret: \"${SHOPIFY_ADMIN_TOKEN}\"}\n",
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			},
			want: []string{"spec.providers.cms.webhook_secret: ${SHOPIFY_ADMIN_TOKEN} is not a variable of client acme-corp"}},
		{name: "tenant: no prefix configured", client: "acme-corp", spec: shopWith("https://acme.myshopify.com", "${BLACKWELL_ACME_CORP__SHOP}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: &Tenant{ClientID: "acme-corp"}, Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			},
			want: []string{"is not a variable of client acme-corp (it has no variables of its own)"}},
		{name: "tenant: another client's stack", client: "globex", spec: "  resources: {}\n",
			rules: func(*testing.T) Rules { return Rules{Tenant: tenant()} },
			want:  []string{"metadata.client_id: a token scoped to client acme-corp may only declare that client's stacks"}},
		{name: "tenant: credentials sent to a new destination", client: "acme-corp", spec: shopWith("https://evil.example/api", "${SHOPIFY_ADMIN_TOKEN}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			},
			want: []string{"spec.providers.ecommerce: a token scoped to a client cannot send this binding's credentials to a new destination (https://evil.example; the stored desired state sends them to https://acme.myshopify.com)"}},
		{name: "tenant: same destination, another path", client: "acme-corp", spec: shopWith("https://acme.myshopify.com/v2", "${SHOPIFY_ADMIN_TOKEN}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			}},
		{name: "tenant: a new binding", client: "acme-corp", spec: shopWith("https://acme.myshopify.com", "${BLACKWELL_ACME_CORP__T}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), Stored: storedSpec(t, "  resources: {}\n")}
			},
			want: []string{"new destination (https://acme.myshopify.com; the stored desired state sends them nowhere)"}},
		{name: "tenant: a new destination the operator allows", client: "acme-corp", spec: shopWith("https://acme-proxy.corp.example", "${SHOPIFY_ADMIN_TOKEN}"),
			rules: func(t *testing.T) Rules {
				return Rules{Tenant: tenant(), CredentialHosts: HostPatterns{"*.corp.example"},
					Stored: storedSpec(t, shopWith("https://acme.myshopify.com", "${SHOPIFY_ADMIN_TOKEN}"))}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			client := c.client
			if client == "" {
				client = "acme-corp"
			}
			_, err := ParseWith("x.yaml", []byte(doc(client, c.spec)), rulesEnv, c.rules(t))
			if len(c.want) == 0 {
				require.NoError(t, err)
				return
			}
			var errs *Errors
			require.True(t, errors.As(err, &errs), "%v", err)
			require.Len(t, *errs, len(c.want), "%v", err)
			for i, w := range c.want {
				require.Contains(t, (*errs)[i].Error(), w)
				require.Equal(t, "x.yaml", (*errs)[i].File)
				require.NotZero(t, (*errs)[i].Line)
				require.NotContains(t, (*errs)[i].Error(), "value-of-", "a secret value in an error")
			}
		})
	}
}

func TestSecretNames(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string][]string{
		"":                    nil,
		"plain":               nil,
		"$${A}":               nil,
		"${A}":                {"A"},
		"x-${A}-${B}-${A}-$$": {"A", "B"},
		"${1X}${ok}":          {"ok"},
		"${UNTERMINATED":      nil,
	} {
		require.Equal(t, want, NewSecret(ref).Names(), ref)
	}
}

// FuzzRulesFlags feeds the parsers of serve's --credential-hosts and
// --client-secret-prefix values: they never panic, a parsed pattern list
// matches its own names, and a prefix is always a variable name.
func FuzzRulesFlags(f *testing.F) {
	f.Add("api.example.com,*.proxy.example", DefaultClientSecretPrefix, "acme-corp")
	f.Add(" ,*.,x..y", "{CLIENT}", "a.b-c_d")
	f.Add("*.*", "X_{CLIENT}_{CLIENT}", "---")
	f.Fuzz(func(t *testing.T, hosts, template, client string) {
		hp, err := ParseHostPatterns(hosts)
		if err == nil {
			for _, p := range hp {
				if !strings.HasPrefix(p, "*.") && !hp.Match(p) {
					t.Fatalf("%q does not match itself", p)
				}
			}
		}
		p, err := ClientSecretPrefix(template, client)
		if err == nil && !validEnvName(p) {
			t.Fatalf("prefix %q is not a variable name", p)
		}
	})
}

// A document of the API without command builds, from an unscoped author,
// reads no stored state (POST /v1/config of many stacks).
func TestRulesReadStoredStateOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	reads := 0
	rules := Rules{Stored: func(string, string) (StackSpec, bool) { reads++; return StackSpec{}, false }}
	_, err := ParseWith("x.yaml", []byte(doc("acme-corp", "  resources: {}\n")), rulesEnv, rules)
	require.NoError(t, err)
	require.Zero(t, reads)
	rules.Tenant = &Tenant{ClientID: "acme-corp"}
	_, err = ParseWith("x.yaml", []byte(doc("acme-corp", "  resources: {}\n")), rulesEnv, rules)
	require.NoError(t, err)
	require.Equal(t, 1, reads)
}

// TestChannelSecretsAreReferences: a notification channel's secrets
// (Slack webhook_url, PagerDuty routing_key, webhook secret, SMTP
// password) are ${VAR} references, in NotificationChannel documents and in
// a policy's inline channels, like credentials; a literal is refused at
// its file:line:column.
func TestChannelSecretsAreReferences(t *testing.T) {
	t.Parallel()
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"S": "https://hooks.slack.example/T/B/x", "K": "routing-key", "P": "hunter2"}[name]
		return v, ok
	}
	const msg = "must be a ${VAR} reference, not the secret itself"
	channel := "apiVersion: blackwell.io/v1\nkind: NotificationChannel\nmetadata: {name: c}\nspec: "
	policy := "apiVersion: blackwell.io/v1\nkind: ReconciliationPolicy\nmetadata: {client_id: acme}\nspec:\n  notifications:\n    channels:\n      - "
	for _, c := range []struct {
		name, doc, at string // at: "" accepted, else "line:column: path"
	}{
		{"slack reference", channel + `{type: slack, webhook_url: "${S}"}`, ""},
		{"slack literal", channel + `{type: slack, webhook_url: "https://hooks.slack.com/services/T/B/x"}`, "4:34: spec.webhook_url"},
		{"pagerduty reference", channel + `{type: pagerduty, routing_key: "${K}"}`, ""},
		{"pagerduty literal", channel + `{type: pagerduty, routing_key: R0UT1NGKEY}`, "4:38: spec.routing_key"},
		{"webhook reference", channel + `{type: webhook, url: "https://h.example/x", secret: "${K}"}`, ""},
		{"webhook without a secret", channel + `{type: webhook, url: "https://h.example/x"}`, ""},
		{"webhook literal", channel + `{type: webhook, url: "https://h.example/x", secret: whsec_abc}`, "4:59: spec.secret"},
		{"smtp reference", channel + `{type: email, addresses: [a@b.example], smtp: {host: smtp.example, password: "${P}"}}`, ""},
		{"smtp literal", channel + `{type: email, addresses: [a@b.example], smtp: {host: smtp.example, password: hunter2}}`, "4:84: spec.smtp.password"},
		{"escaped $ is literal", channel + `{type: pagerduty, routing_key: "$${K}"}`, "4:38: spec.routing_key"},
		{"inline literal in a policy", policy + `{type: webhook, url: "https://h.example/x", secret: whsec_abc}`, "7:61: spec.notifications.channels[0].secret"},
		{"inline reference in a policy", policy + `{type: pagerduty, routing_key: "${K}"}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("c.yaml", []byte(c.doc+"\n"), env)
			if c.at == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "c.yaml:"+c.at+": "+msg)
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
}
