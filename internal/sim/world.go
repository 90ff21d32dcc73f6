package sim

import (
	"errors"
	"fmt"
	"strings"
)

// The integrations a StackWorld's config declares and Seed subscribes.
var (
	// ShopTopics are the topics of the shop-products integration.
	ShopTopics = []string{"products/create", "products/delete", "products/update"}
	// SanityFilter is the filter of a Sanity stack's cms-content integration.
	SanityFilter = `_type in ["page", "post"]`
	// ContentfulTopics are the topics of a Contentful stack's cms-entries
	// integration.
	ContentfulTopics = []string{"Entry.delete", "Entry.publish", "Entry.unpublish"}
)

// The CMS a StackWorld runs.
const (
	CMSSanity     = "sanity"
	CMSContentful = "contentful"
)

// WorldStack describes one stack of a world.
type WorldStack struct {
	ClientID, StackID, Environment string
	// CMS is CMSSanity or CMSContentful.
	CMS string
	// BuildFlavor of the stack's build hook (default netlify).
	BuildFlavor BuildHookFlavor
}

// StackWorld is the outside world of one client stack: a headless CMS
// (Sanity or Contentful), a Shopify shop, a build hook and the site, each a
// fake on 127.0.0.1.
type StackWorld struct {
	WorldStack
	Sanity     *Sanity
	Contentful *Contentful
	Shop       *Shopify
	Build      *BuildHook
	Site       *Site
}

// NewStackWorld starts the fakes of one stack.
func NewStackWorld(spec WorldStack) (_ *StackWorld, err error) {
	if spec.Environment == "" {
		spec.Environment = "prod"
	}
	if spec.CMS == "" {
		spec.CMS = CMSSanity
	}
	w := &StackWorld{WorldStack: spec}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	switch spec.CMS {
	case CMSSanity:
		if w.Sanity, err = NewSanity(SanityOptions{ProjectID: projectID(spec.ClientID)}); err != nil {
			return nil, err
		}
	case CMSContentful:
		if w.Contentful, err = NewContentful(ContentfulOptions{SpaceID: projectID(spec.ClientID),
			SigningSecret: strings.Repeat("s", 64), SecondLimit: 50}); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("world stack %s/%s: unknown CMS %q", spec.ClientID, spec.StackID, spec.CMS)
	}
	if w.Shop, err = NewShopify(ShopifyOptions{Shop: projectID(spec.ClientID) + ".myshopify.com"}); err != nil {
		return nil, err
	}
	if w.Build, err = NewBuildHook(BuildHookOptions{Flavor: spec.BuildFlavor}); err != nil {
		return nil, err
	}
	if w.Site, err = NewSite(SiteOptions{}); err != nil {
		return nil, err
	}
	// A build deploys the site again: a deployment that fails (503) or
	// is gone (404) is replaced; a server that is down or slow is not a
	// deployment's fault and stays as it is.
	w.Build.OnBuild(func(HookBuild) {
		if m := w.Site.Mode(); m == ModeFailing || m == ModeMissing {
			_ = w.Site.SetMode(ModeHealthy)
		}
	})
	return w, nil
}

func projectID(client string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(client) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "sim"
	}
	return b.String()
}

// Close stops every fake of the stack.
func (w *StackWorld) Close() {
	if w.Sanity != nil {
		w.Sanity.Close()
	}
	if w.Contentful != nil {
		w.Contentful.Close()
	}
	if w.Shop != nil {
		w.Shop.Close()
	}
	if w.Build != nil {
		w.Build.Close()
	}
	if w.Site != nil {
		w.Site.Close()
	}
}

// Receiver is our receiver address for a provider of this stack's client:
// {receiverPrefix}/{provider}/{client_id}.
func (w *StackWorld) Receiver(receiverPrefix, provider string) string {
	return strings.TrimRight(receiverPrefix, "/") + "/" + provider + "/" + w.ClientID
}

// Seed creates, at the fakes, the subscriptions the stack's config
// declares, pointing at the receivers under receiverPrefix (as a working
// stack has them). It returns the Shopify webhook ids by topic.
func (w *StackWorld) Seed(receiverPrefix string) map[string]int64 {
	ids := map[string]int64{}
	for _, t := range ShopTopics {
		ids[t] = w.Shop.AddWebhook(t, w.Receiver(receiverPrefix, "shopify"))
	}
	switch {
	case w.Sanity != nil:
		w.Sanity.AddHook(SanityHook{Name: "site content", URL: w.Receiver(receiverPrefix, "sanity"),
			Dataset: w.Sanity.Dataset(), Rule: SanityRule{Filter: SanityFilter}, Secret: w.secret("sanity")})
	case w.Contentful != nil:
		w.Contentful.AddWebhook(ContentfulWebhook{Name: "site entries", URL: w.Receiver(receiverPrefix, "contentful"),
			Topics: append([]string(nil), ContentfulTopics...), Active: true})
	}
	return ids
}

// CMSName is the provider name of the stack's CMS.
func (w *StackWorld) CMSName() string { return w.CMS }

// envPrefix names the stack's variables: ACME_CORP_SHOP_PROD_...
func (w *StackWorld) envPrefix() string {
	var b strings.Builder
	for _, r := range strings.ToUpper(w.ClientID + "_" + w.StackID) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	return b.String()
}

// secret is the webhook secret the stack's config declares for a provider.
func (w *StackWorld) secret(provider string) string {
	switch provider {
	case "shopify":
		return w.Shop.ClientSecret()
	case "contentful":
		return strings.Repeat("s", 64)
	default:
		return "sim-" + provider + "-secret-" + projectID(w.ClientID+w.StackID)
	}
}

// Env is the environment the stack's config refers to with ${VAR}: the
// fakes' tokens, webhook secrets and the build hook URL.
func (w *StackWorld) Env() map[string]string {
	p := w.envPrefix()
	env := map[string]string{
		p + "_SHOPIFY_TOKEN":          w.Shop.Token(),
		p + "_SHOPIFY_WEBHOOK_SECRET": w.secret("shopify"),
		p + "_BUILD_HOOK":             w.Build.URL(),
	}
	if w.Sanity != nil {
		env[p+"_SANITY_TOKEN"] = w.Sanity.Token()
		env[p+"_SANITY_WEBHOOK_SECRET"] = w.secret("sanity")
	}
	if w.Contentful != nil {
		env[p+"_CONTENTFUL_TOKEN"] = w.Contentful.Token()
		env[p+"_CONTENTFUL_WEBHOOK_SECRET"] = w.secret("contentful")
	}
	return env
}

// StackConfig is the stack's document of blackwell.yaml: every binding's
// api_base points at its fake, secrets are ${VAR} references to Env, and
// extraIntegrations (YAML lines, indented four spaces) are appended to the
// integrations.
func (w *StackWorld) StackConfig(extraIntegrations ...string) string {
	p := w.envPrefix()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: %s, stack_id: %s, environment: %s}\nspec:\n  providers:\n",
		w.ClientID, w.StackID, w.Environment)
	switch {
	case w.Sanity != nil:
		fmt.Fprintf(&b, "    cms:\n      name: sanity\n      settings: {api_base: %q, project_id: %s, dataset: %s}\n"+
			"      credentials: {token: \"${%s_SANITY_TOKEN}\"}\n      webhook_secret: \"${%s_SANITY_WEBHOOK_SECRET}\"\n",
			w.Sanity.URL(), w.Sanity.ProjectID(), w.Sanity.Dataset(), p, p)
	case w.Contentful != nil:
		fmt.Fprintf(&b, "    cms:\n      name: contentful\n      settings: {api_base: %q, space_id: %s, environment: master}\n"+
			"      credentials: {token: \"${%s_CONTENTFUL_TOKEN}\"}\n      webhook_secret: \"${%s_CONTENTFUL_WEBHOOK_SECRET}\"\n",
			w.Contentful.URL(), w.Contentful.SpaceID(), p, p)
	}
	fmt.Fprintf(&b, "    ecommerce:\n      name: shopify\n      settings: {api_base: %q, shop: %s, api_version: \"%s\"}\n"+
		"      credentials: {token: \"${%s_SHOPIFY_TOKEN}\"}\n      webhook_secret: \"${%s_SHOPIFY_WEBHOOK_SECRET}\"\n",
		w.Shop.URL(), w.Shop.Shop(), DefaultShopifyAPIVersion, p, p)
	fmt.Fprintf(&b, "    ssg:\n      name: nextjs\n      build: {driver: hook, url: \"${%s_BUILD_HOOK}\"}\n", p)
	fmt.Fprintf(&b, "  integrations:\n    shop-products: {provider: ecommerce, topics: [%s]}\n", strings.Join(ShopTopics, ", "))
	switch {
	case w.Sanity != nil:
		fmt.Fprintf(&b, "    cms-content: {provider: cms, filter: '%s'}\n", SanityFilter)
	case w.Contentful != nil:
		fmt.Fprintf(&b, "    cms-entries: {provider: cms, topics: [%s]}\n", strings.Join(ContentfulTopics, ", "))
	}
	for _, extra := range extraIntegrations {
		b.WriteString("    " + strings.TrimSpace(extra) + "\n")
	}
	fmt.Fprintf(&b, "  resources:\n    site: {probe: http, url: %q, expect_status: 200, timeout: 2s}\n", w.Site.URL()+"/")
	b.WriteString("  content_types: [post, page, product]\n")
	return b.String()
}

// World is several stacks' worlds.
type World struct {
	Stacks []*StackWorld
}

// NewWorld starts the fakes of every stack.
func NewWorld(stacks []WorldStack) (*World, error) {
	w := &World{}
	for _, s := range stacks {
		sw, err := NewStackWorld(s)
		if err != nil {
			w.Close()
			return nil, err
		}
		w.Stacks = append(w.Stacks, sw)
	}
	if len(w.Stacks) == 0 {
		return nil, errors.New("world: no stacks")
	}
	return w, nil
}

// Env is every stack's environment together.
func (w *World) Env() map[string]string {
	env := map[string]string{}
	for _, s := range w.Stacks {
		for k, v := range s.Env() {
			env[k] = v
		}
	}
	return env
}

// Seed seeds every stack's subscriptions.
func (w *World) Seed(receiverPrefix string) {
	for _, s := range w.Stacks {
		s.Seed(receiverPrefix)
	}
}

// Close stops every fake.
func (w *World) Close() {
	for _, s := range w.Stacks {
		s.Close()
	}
}
