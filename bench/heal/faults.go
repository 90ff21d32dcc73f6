package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

const (
	defaultStacks  = 200
	faultsPerStack = 5
	// passInterval is the policy's scheduled pass interval; faults that
	// only a look at a provider or the site reveals wait for the next pass.
	passInterval = time.Second
	// maxStaleness is the policy's content.max_staleness.
	maxStaleness = time.Second
	// faultEvery paces the injections: one fault on a random stack
	// with no fault in flight every 100 ms (10 faults/s).
	faultEvery = 100 * time.Millisecond
	// hold is how long a fault that must not be healed is left in place
	// after its drift is confirmed (three intervals: three passes, each
	// deciding about it) before the benchmark mends it. It is timed, not
	// counted: counting passes would read the store every pollEvery for
	// every held fault, load on the server the benchmark measures.
	hold = 3 * passInterval
	// pollEvery is how often a fault's stack is read from the store while
	// the benchmark waits on it.
	pollEvery = 100 * time.Millisecond
	// Timeouts of a fault's phases.
	detectTimeout = 20 * time.Second
	healTimeout   = 30 * time.Second
	cleanTimeout  = 30 * time.Second
	// maxPerDrift bounds the faults of one stack on one drift id
	// (type and component), so that flapping (threshold 3 returns per
	// hour) never applies: the benchmark measures healing, not the
	// flapping brake.
	maxPerDrift = 2
)

// policyDoc is every client's policy in the benchmark. provider_missing
// is not in allowed_drift_types (alert only), and provider_unauthorized (a
// revoked token) is never healed whatever it says; provider_changed and
// resource_missing are allowed but need approval (cms_provider_change,
// resource_replacement), which the benchmark never gives.
const policyDoc = `---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: %s}
spec:
  schedule: {interval: %s}
  confirmation: {observations: 1}
  content: {max_staleness: %s}
  auto_heal:
    enabled: true
    max_attempts: 3
    backoff_strategy: linear
    backoff_base: 500ms
    backoff_cap: 5s
    allowed_drift_types: [provider_changed, webhook_broken, integration_mismatch, resource_unhealthy, resource_missing, content_stale, config_pending]
    require_approval: [cms_provider_change, resource_replacement]
    flapping: {threshold: 3, window: 1h}
`

// faultClass is what the policy and the sim make of a fault.
type faultClass string

const (
	// healable: the policy allows the heal and the sim answers it at
	// once; it must be healed.
	healable faultClass = "healable"
	// needsApproval: the heal needs a person's approval; it must not run.
	needsApproval faultClass = "needs approval"
	// alertOnly: the code is not in allowed_drift_types; alert only.
	alertOnly faultClass = "alert only"
	// unfixable: the policy allows the heal (resource_unhealthy:
	// rebuild) but the action cannot fix the cause (the site's server is
	// down, not its deployment); attempts run until the budget is spent.
	unfixable faultClass = "not fixable by its action"
)

// faultKind is one kind of fault: how it is injected and mended, and the
// drift it must cause.
type faultKind struct {
	name  string
	class faultClass
	// count is how many of the 1,000 faults (at 200 stacks) are this kind.
	count int
	code  drift.Code
	// component of the drift on a stack.
	component func(s *benchStack) string
	// also are further (code, component) drifts the fault may cause.
	also func(s *benchStack) []driftKey
	// inject breaks the stack; it returns when the fault became observable
	// for faults whose observability is not "the next pass" (zero time).
	inject func(r *bench, ctx context.Context, s *benchStack) (time.Time, error)
	// mend repairs the fault from outside (nil: the fault stays); it runs
	// for faults that must not be healed, and for healable ones that were
	// not healed in time.
	mend func(r *bench, ctx context.Context, s *benchStack) error
	// last: the fault stays (no mend), so it is the stack's last one.
	last bool
	// once: at most one fault of this kind per stack.
	once bool
	// staleness: observable at the first pass after the content's staleness
	// deadline (content_stale).
	staleness bool
}

type driftKey struct {
	code      drift.Code
	component string
}

// benchStack is one stack of the world and its faults.
type benchStack struct {
	world  *sim.StackWorld
	faults []*fault
	// quietSince: the stack was last seen clean (no open drift, no heal in
	// flight) at this time.
	quietSince time.Time
}

func (s *benchStack) cmsIntegration() string {
	if s.world.Contentful != nil {
		return "cms-entries"
	}
	return "cms-content"
}

// fault is one injected fault and what the benchmark saw of it.
type fault struct {
	kind  *faultKind
	stack *benchStack
	// injectStart: just before the fault was injected; injected: after.
	injectStart, injected time.Time
	// quietSince: the stack was clean from then until injectStart. Heal
	// attempts and approvals are dated by the start of the pass that
	// decided them, which may precede the injection (a pass that started
	// just before it saw the fault), so they count from here.
	quietSince time.Time
	// eventAt: when the fault became observable, for faults that say so
	// (an event's commit, an apply); published is when content changed.
	eventAt time.Time
	// cleanAt: the stack was clean again (no open drift, no heal in
	// flight); zero when the fault was left in place.
	cleanAt time.Time
	// heldUntil: the end of the hold of a fault that must not be healed.
	heldUntil time.Time
	outcome   string
}

// bench is one run of the benchmark: the server's parts it reaches for,
// the world and its stacks.
type bench struct {
	store   store.Store
	state   *state.Service
	loop    *reconcile.Reconciler
	world   *sim.World
	builder *build.Builder
	getenv  func(string) (string, bool)
	prefix  string
	stacks  []*benchStack
}

func (r *bench) ssg(s *benchStack) provider.Binding {
	w := s.world
	return provider.Binding{ClientID: w.ClientID, StackID: w.StackID, Role: config.RoleSSG, Name: "nextjs",
		Build: &config.Build{Driver: build.DriverHook, URL: config.NewSecret(w.Build.URL())}}
}

// faultKinds is the fault mix: every drift code, and a site that is down
// (resource_unhealthy that a rebuild cannot fix), in this order.
func faultKinds() []*faultKind {
	return slices.Concat(webhookDeletedFaults(), subscriptionFaults(), siteAndContentFaults(), credentialFaults(), unhealableFaults())
}

// fixedComponent is a fault kind's component that is the same on every
// stack.
func fixedComponent(c string) func(*benchStack) string { return func(*benchStack) string { return c } }

// siteMode injects a site mode.
func siteMode(m sim.Mode) func(*bench, context.Context, *benchStack) (time.Time, error) {
	return func(_ *bench, _ context.Context, s *benchStack) (time.Time, error) {
		return time.Time{}, s.world.Site.SetMode(m)
	}
}

// siteHealthy mends a site.
func siteHealthy(_ *bench, _ context.Context, s *benchStack) error {
	return s.world.Site.SetMode(sim.ModeHealthy)
}

// webhookDeletedFaults: the Shopify and CMS webhooks our receivers
// depend on, deleted or deactivated.
func webhookDeletedFaults() []*faultKind {
	return []*faultKind{
		{name: "Shopify webhook deleted", class: healable, count: 100, code: drift.WebhookBroken, component: fixedComponent("shop-products"),
			inject: func(_ *bench, _ context.Context, s *benchStack) (time.Time, error) {
				for _, h := range s.world.Shop.Webhooks() {
					if h.Topic == "products/update" {
						s.world.Shop.DeleteWebhook(h.ID)
						return time.Time{}, nil
					}
				}
				return time.Time{}, fmt.Errorf("no products/update webhook")
			},
			mend: func(r *bench, _ context.Context, s *benchStack) error {
				for _, h := range s.world.Shop.Webhooks() {
					if h.Topic == "products/update" {
						return nil
					}
				}
				s.world.Shop.AddWebhook("products/update", s.world.Receiver(r.prefix, "shopify"))
				return nil
			}},
		{name: "CMS webhook deleted (Sanity) or deactivated (Contentful)", class: healable, count: 50, code: drift.WebhookBroken,
			component: (*benchStack).cmsIntegration,
			inject: func(_ *bench, _ context.Context, s *benchStack) (time.Time, error) {
				w := s.world
				n := 0
				if w.Sanity != nil {
					for _, h := range w.Sanity.Hooks() {
						if w.Sanity.DeleteHook(h.ID) {
							n++
						}
					}
				} else {
					for _, h := range w.Contentful.Webhooks() {
						if w.Contentful.SetWebhookActive(h.ID, false) {
							n++
						}
					}
				}
				if n == 0 {
					return time.Time{}, fmt.Errorf("no CMS webhook")
				}
				return time.Time{}, nil
			},
			mend: func(r *bench, _ context.Context, s *benchStack) error {
				w := s.world
				if w.Contentful != nil {
					for _, h := range w.Contentful.Webhooks() {
						w.Contentful.SetWebhookActive(h.ID, true)
					}
					return nil
				}
				if len(w.Sanity.Hooks()) == 0 {
					w.Sanity.AddHook(sim.SanityHook{Name: "site content", URL: w.Receiver(r.prefix, "sanity"),
						Dataset: w.Sanity.Dataset(), Rule: sim.SanityRule{Filter: sim.SanityFilter}, Secret: r.secret(s, "SANITY")})
				}
				return nil
			}},
	}
}

// subscriptionFaults: webhook subscriptions that no longer match the
// desired state.
func subscriptionFaults() []*faultKind {
	return []*faultKind{
		{name: "Shopify: undeclared topic at our receiver", class: healable, count: 75, code: drift.IntegrationMismatch,
			component: fixedComponent("shop-products"),
			inject: func(r *bench, _ context.Context, s *benchStack) (time.Time, error) {
				s.world.Shop.AddWebhook("orders/create", s.world.Receiver(r.prefix, "shopify"))
				return time.Time{}, nil
			},
			mend: func(_ *bench, _ context.Context, s *benchStack) error {
				for _, h := range s.world.Shop.Webhooks() {
					if h.Topic == "orders/create" {
						s.world.Shop.DeleteWebhook(h.ID)
					}
				}
				return nil
			}},
		{name: "CMS subscription changed (Sanity filter, Contentful topics)", class: healable, count: 75, code: drift.IntegrationMismatch,
			component: (*benchStack).cmsIntegration,
			inject: func(_ *bench, _ context.Context, s *benchStack) (time.Time, error) {
				w := s.world
				n := 0
				if w.Sanity != nil {
					for _, h := range w.Sanity.Hooks() {
						if w.Sanity.SetHookFilter(h.ID, `_type == "post"`) {
							n++
						}
					}
				} else {
					for _, h := range w.Contentful.Webhooks() {
						if w.Contentful.SetWebhookTopics(h.ID, append(slices.Clone(sim.ContentfulTopics), "Asset.publish")...) {
							n++
						}
					}
				}
				if n == 0 {
					return time.Time{}, fmt.Errorf("no CMS webhook")
				}
				return time.Time{}, nil
			},
			mend: func(_ *bench, _ context.Context, s *benchStack) error {
				w := s.world
				if w.Sanity != nil {
					for _, h := range w.Sanity.Hooks() {
						w.Sanity.SetHookFilter(h.ID, sim.SanityFilter)
					}
				} else {
					for _, h := range w.Contentful.Webhooks() {
						w.Contentful.SetWebhookTopics(h.ID, sim.ContentfulTopics...)
					}
				}
				return nil
			}},
	}
}

// siteAndContentFaults: a failing site, stale content and a desired
// state the providers do not have yet.
func siteAndContentFaults() []*faultKind {
	return []*faultKind{
		{name: "site answers 503", class: healable, count: 150, code: drift.ResourceUnhealthy, component: fixedComponent("site"),
			inject: siteMode(sim.ModeFailing), mend: siteHealthy},
		{name: "post published, site not rebuilt", class: healable, count: 125, code: drift.ContentStale, component: fixedComponent("post"),
			staleness: true, inject: (*bench).publish,
			mend: func(r *bench, ctx context.Context, s *benchStack) error {
				_, err := r.builder.Trigger(ctx, r.ssg(s))
				return err
			}},
		{name: "desired state that needs a new subscription", class: healable, count: 100, code: drift.ConfigPending,
			component: fixedComponent("desired_state"), once: true,
			also:   func(*benchStack) []driftKey { return []driftKey{{drift.WebhookBroken, "shop-customers"}} },
			inject: (*bench).applyNewVersion},
	}
}

// credentialFaults: revoked provider tokens: alert only.
func credentialFaults() []*faultKind {
	return []*faultKind{
		{name: "Shopify token revoked", class: alertOnly, count: 50, code: drift.ProviderUnauthorized, component: fixedComponent("ecommerce"),
			inject: func(_ *bench, _ context.Context, s *benchStack) (time.Time, error) {
				s.world.Shop.RevokeToken()
				return time.Time{}, nil
			},
			mend: func(_ *bench, _ context.Context, s *benchStack) error { s.world.Shop.RestoreToken(); return nil }},
		{name: "CMS token revoked", class: alertOnly, count: 50, code: drift.ProviderUnauthorized, component: fixedComponent("cms"),
			inject: func(_ *bench, _ context.Context, s *benchStack) (time.Time, error) {
				if s.world.Sanity != nil {
					s.world.Sanity.RevokeToken()
				} else {
					s.world.Contentful.RevokeToken()
				}
				return time.Time{}, nil
			},
			mend: func(_ *bench, _ context.Context, s *benchStack) error {
				if s.world.Sanity != nil {
					s.world.Sanity.RestoreToken()
				} else {
					s.world.Contentful.RestoreToken()
				}
				return nil
			}},
	}
}

// unhealableFaults: drift that needs approval, and a site that is down
// (resource_unhealthy that a rebuild cannot fix).
func unhealableFaults() []*faultKind {
	return []*faultKind{
		{name: "events from another CMS", class: needsApproval, count: 75, code: drift.ProviderChanged, component: fixedComponent("cms"),
			last: true, once: true, inject: (*bench).foreignEvent},
		{name: "site answers 404", class: needsApproval, count: 75, code: drift.ResourceMissing, component: fixedComponent("site"),
			inject: siteMode(sim.ModeMissing), mend: siteHealthy},
		{name: "site is down (connection refused)", class: unfixable, count: 75, code: drift.ResourceUnhealthy, component: fixedComponent("site"),
			inject: siteMode(sim.ModeDown), mend: siteHealthy},
	}
}

// secret is a stack's environment value by suffix (SANITY -> the Sanity
// webhook secret).
func (r *bench) secret(s *benchStack, what string) string {
	for k, v := range s.world.Env() {
		if strings.HasSuffix(k, "_"+what+"_WEBHOOK_SECRET") {
			return v
		}
	}
	return ""
}

// publish has the stack's CMS deliver a signed webhook for a changed post
// to our receiver; no build follows, so the content goes stale.
func (r *bench) publish(ctx context.Context, s *benchStack) (time.Time, error) {
	w := s.world
	now := time.Now().UTC()
	id := "post-" + uuid.NewString()[:8]
	var results []sim.DeliveryResult
	if w.Sanity != nil {
		doc, _ := json.Marshal(map[string]any{"_id": id, "_type": "post", "_rev": uuid.NewString()[:12],
			"_updatedAt": now.Format(time.RFC3339Nano), "title": "Spring sale"})
		results = w.Sanity.Deliver(ctx, "update", doc)
	} else {
		doc, _ := json.Marshal(map[string]any{"sys": map[string]any{"id": id, "type": "Entry", "version": 2,
			"contentType": map[string]any{"sys": map[string]any{"type": "Link", "linkType": "ContentType", "id": "post"}},
			"environment": map[string]any{"sys": map[string]any{"id": "master", "type": "Link", "linkType": "Environment"}},
			"updatedAt":   now.Format(time.RFC3339Nano)}, "fields": map[string]any{"title": map[string]any{"en-US": "Spring sale"}}})
		results = w.Contentful.Deliver(ctx, "Entry.publish", doc)
	}
	acked := time.Now()
	for _, res := range results {
		if res.OK() {
			// The content's time is at most the acknowledgement's.
			return acked, nil
		}
	}
	return time.Time{}, fmt.Errorf("delivery not acknowledged: %+v", results)
}

// foreignEvent records content of an untracked type from the CMS the stack
// does not bind, as the webhook gateway would, and asks for a pass as it
// would. (The type is untracked so that the event is only provider
// evidence, not also stale content.)
func (r *bench) foreignEvent(ctx context.Context, s *benchStack) (time.Time, error) {
	w := s.world
	other := sim.CMSContentful
	if w.Contentful != nil {
		other = sim.CMSSanity
	}
	now := time.Now()
	_, err := r.store.InsertEvents(ctx, []store.Event{{
		EventID: uuid.NewString(), ClientID: w.ClientID, StackID: w.StackID, ProviderName: other,
		EventType: "content.updated", ContentID: "author-1", ContentType: "author", Timestamp: now,
		Environment: w.Environment, Payload: json.RawMessage(`{}`), ReceivedAt: now, TTLTimestamp: now.Add(time.Hour).Unix(),
	}})
	if err != nil {
		return time.Time{}, err
	}
	committed := time.Now()
	r.loop.Trigger(w.ClientID, w.StackID, reconcile.TriggerEvent)
	return committed, nil
}

// applyNewVersion applies a new desired version of the stack that declares
// one more Shopify subscription (customers/create), as `blackwell apply`
// of a changed file does; the provider holds none, so the new version is
// pending until the subscription exists.
func (r *bench) applyNewVersion(ctx context.Context, s *benchStack) (time.Time, error) {
	w := s.world
	doc := w.StackConfig("shop-customers: {provider: ecommerce, topics: [customers/create]}") +
		fmt.Sprintf(policyDoc, w.ClientID, passInterval, maxStaleness)
	cfg, err := config.Parse("bench.yaml", []byte(doc), r.getenv)
	if err != nil {
		return time.Time{}, err
	}
	if _, err := r.state.Apply(ctx, cfg, "bench"); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// assignFaults deals the fault mix out to the stacks: faultsPerStack
// each, at most maxPerDrift on one drift id of a stack, kinds marked
// once at most once, and a fault that stays (last) as the stack's last.
func assignFaults(rng *rand.Rand, kinds []*faultKind, stacks []*benchStack) error {
	total := len(stacks) * faultsPerStack
	counts := make([]int, len(kinds))
	sum := 0
	for i, k := range kinds {
		counts[i] = k.count * total / 1000
		sum += counts[i]
	}
	for i := 0; sum < total; i = (i + 1) % len(kinds) {
		counts[i]++
		sum++
	}
	// The most constrained kinds first: those that stay, those once per
	// stack, then by how many faults share their drift id.
	demand := map[string]int{}
	for i, k := range kinds {
		demand[driftIDOf(k.code, k.component(stacks[0]))] += counts[i]
	}
	order := make([]int, len(kinds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		score := func(k *faultKind) int {
			switch {
			case k.last:
				return 0
			case k.once:
				return 1
			}
			return 2
		}
		ka, kb := kinds[a], kinds[b]
		return cmp.Or(cmp.Compare(score(ka), score(kb)),
			-cmp.Compare(demand[driftIDOf(ka.code, ka.component(stacks[0]))], demand[driftIDOf(kb.code, kb.component(stacks[0]))]))
	})
	perDrift := make([]map[string]int, len(stacks))
	for i := range perDrift {
		perDrift[i] = map[string]int{}
	}
	for _, ki := range order {
		k := kinds[ki]
		for range counts[ki] {
			var best []int
			bestN := math.MaxInt
			for si, s := range stacks {
				n := len(s.faults)
				id := driftIDOf(k.code, k.component(s))
				switch {
				case n >= faultsPerStack, perDrift[si][id] >= maxPerDrift:
					continue
				case (k.once || k.last) && slices.ContainsFunc(s.faults, func(f *fault) bool { return f.kind == k }):
					continue
				}
				// Fewest faults, then fewest on this drift id.
				score := n*(maxPerDrift+1) + perDrift[si][id]
				if score < bestN {
					best, bestN = nil, score
				}
				if score == bestN {
					best = append(best, si)
				}
			}
			if len(best) == 0 {
				return fmt.Errorf("cannot place fault %q", k.name)
			}
			si := best[rng.IntN(len(best))]
			s := stacks[si]
			perDrift[si][driftIDOf(k.code, k.component(s))]++
			s.faults = append(s.faults, &fault{kind: k, stack: s})
		}
	}
	for _, s := range stacks {
		rng.Shuffle(len(s.faults), func(i, j int) { s.faults[i], s.faults[j] = s.faults[j], s.faults[i] })
		slices.SortStableFunc(s.faults, func(a, b *fault) int {
			return cmp.Compare(boolInt(a.kind.last), boolInt(b.kind.last))
		})
	}
	return nil
}

// driftIDOf keys drifts as drift.ID does (type and component), per stack.
func driftIDOf(code drift.Code, component string) string {
	cl, _ := drift.Classify(code)
	return string(cl.Type) + "/" + component
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
