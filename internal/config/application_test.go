package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// appConfig is an application of two environments and its pipeline.
const appConfig = `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop-staging, environment: staging}
spec:
  overrides: [providers.ecommerce.settings.shop, resources.site.url]
  resources:
    site: {probe: http, url: "https://staging.acme.example/"}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: storefront, environment: prod, app: shop}
spec:
  resources:
    site: {probe: http, url: "https://acme.example/"}
---
apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: acme, app: shop}
spec:
  stages:
    - environment: staging
      soak: 2h
    - environment: prod
      auto_promote: true
`

// badAppConfig breaks every rule of applications and pipelines.
const badAppConfig = `
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop-prod, environment: prod}
spec:
  overrides: [spec.resources.site.url, resources.site.url, resources.site.url]
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: storefront, environment: prod, app: shop}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: lonely, app: Lonely}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop-dev, environment: dev}
---
apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: acme, app: shop}
spec:
  stages:
    - {environment: staging, auto_promote: true, soak: 1h}
    - {environment: prod, approval: maybe}
    - {environment: prod}
---
apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: acme, app: shop}
spec:
  stages: []
`

func TestAppOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		stack, env, app, want string
	}{
		{"shop-prod", "prod", "", "shop"},
		{"shop-staging", "staging", "", "shop"},
		{"shop-dev", "dev", "", "shop"},
		{"shop", "prod", "", "shop"},
		{"shop-staging", "prod", "", "shop-staging"},
		{"prod", "prod", "", "prod"},
		{"-prod", "prod", "", "-prod"},
		{"shop_prod", "prod", "", "shop_prod"},
		{"shop-prod", "", "", "shop-prod"},
		{"web-eu-prod", "prod", "", "web-eu"},
		{"shop-prod", "prod", "store", "store"},
		{"anything", "", "store", "store"},
	} {
		require.Equal(t, tt.want, AppOf(tt.stack, tt.env, tt.app), "%s in %q app %q", tt.stack, tt.env, tt.app)
	}
}

func TestCheckOverridePath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		{"providers.ecommerce.settings.shop", true},
		{"resources.site.url", true},
		{"resources.site", true},
		{"content_types", true},
		{"integrations.products.topics", true},
		{"providers.ecommerce.settings.shop.extra", false},
		{"spec.resources.site.url", false},
		{"metadata.stack_id", false},
		{"resources..url", false},
		{"resources.site.", false},
		{"resources.si te", false},
		{"", false},
	} {
		msg := CheckOverridePath(tt.path)
		require.Equal(t, tt.ok, msg == "", "%q: %s", tt.path, msg)
	}
}

func TestOverridden(t *testing.T) {
	t.Parallel()
	o := []string{"providers.ecommerce.settings.shop", "resources.site"}
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"providers.ecommerce.settings.shop", true},
		{"providers.ecommerce.settings.shopx", false},
		{"providers.ecommerce.settings", false},
		{"resources.site.url", true},
		{"resources.site", true},
		{"resources.sites.url", false},
	} {
		require.Equal(t, tt.want, Overridden(tt.path, o), tt.path)
	}
}

func TestStageNeedsApproval(t *testing.T) {
	t.Parallel()
	require.True(t, Stage{Environment: "prod"}.NeedsApproval())
	require.False(t, Stage{Environment: "staging"}.NeedsApproval())
	require.False(t, Stage{Environment: "prod", Approval: ApprovalNone}.NeedsApproval())
	require.True(t, Stage{Environment: "dev", Approval: ApprovalRequired}.NeedsApproval())
}

func TestParseApplication(t *testing.T) {
	t.Parallel()
	src := yml(appConfig)
	cfg, err := Parse("app.yaml", []byte(src), testEnv)
	require.NoError(t, err)
	require.Len(t, cfg.Pipelines, 1)
	st := cfg.Pipelines[0].Spec.Stages
	require.Equal(t, 2*time.Hour, st[0].Soak.D())
	require.True(t, st[1].AutoPromote)
	require.True(t, st[1].NeedsApproval())
	require.Equal(t, "shop", cfg.Stacks[1].Spec.App, "metadata.app goes into the stored document")
	require.Empty(t, cfg.Stacks[0].Spec.App)
	require.Equal(t, []string{"providers.ecommerce.settings.shop", "resources.site.url"}, cfg.Stacks[0].Spec.Overrides)

	// metadata.app is part of the desired state: the document names it.
	doc, _, err := Hash(cfg.Stacks[1].Spec)
	require.NoError(t, err)
	require.Contains(t, string(doc), `"app":"shop"`)
}

func TestParseApplicationErrors(t *testing.T) {
	t.Parallel()
	src := yml(badAppConfig)
	_, err := Parse("app.yaml", []byte(src), testEnv)
	require.Equal(t, []string{
		`app.yaml:5:15: spec.overrides[0]: "spec.resources.site.url" must start with providers, integrations, resources or content_types`,
		`app.yaml:5:60: spec.overrides[2]: "resources.site.url" is listed twice`,
		`app.yaml:9:64: metadata.environment: application acme/shop already has its prod stack at app.yaml:3:39`,
		`app.yaml:13:52: metadata.app: "Lonely" is not a valid name (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters)`,
		`app.yaml:13:52: metadata.app: a stack of an application needs metadata.environment`,
		`app.yaml:17:62: metadata.environment: the Pipeline of acme/shop (app.yaml:21:34) has no stage "dev"`,
		`app.yaml:24:44: spec.stages[0].auto_promote: the first stage has no stage before it to promote from`,
		`app.yaml:25:37: spec.stages[1].approval: unknown value "maybe" (want required or none)`,
		`app.yaml:26:21: spec.stages[2].environment: environment "prod" is already stage 1`,
		`app.yaml:30:34: metadata.app: a Pipeline for acme/shop is already declared at app.yaml:21:34`,
		`app.yaml:32:11: spec.stages: must list at least one stage`,
	}, errorStrings(t, err))
}
