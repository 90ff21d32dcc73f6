package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// BenchmarkHealKPIs measures the spec's healing KPIs (issue 4): one
// in-process blackwell serve (SQLite) over the sim worlds of 200 stacks,
// into which 1,000 faults of every drift code are injected, one at a time
// per stack, at a steady pace. Each fault is followed until it is healed
// (or, for one that must not be healed, held for a while and then mended by
// the benchmark) and the stack is clean again; then the store's record
// (audit entries drift_detected and drift_resolved, heal attempts,
// approvals, reconciliation results) is matched to the faults:
//
//	go test -run '^$' -bench HealKPIs -benchtime 1x -timeout 30m ./cmd/blackwell
//
// BLACKWELL_HEALKPI_STACKS=N runs a smaller world (5 faults per stack) for
// a quick look. docs/PERFORMANCE.md ("Healing KPIs") records the results,
// the policy and the definitions.
func BenchmarkHealKPIs(b *testing.B) {
	stacks := healKPIStacks
	if v := os.Getenv("BLACKWELL_HEALKPI_STACKS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err, "BLACKWELL_HEALKPI_STACKS")
		require.Positive(b, n, "BLACKWELL_HEALKPI_STACKS")
		stacks = n
	}
	for range b.N {
		runHealKPIs(b, stacks)
	}
}

// The benchmark's world, policy and pacing.
const (
	healKPIStacks         = 200
	healKPIFaultsPerStack = 5
	// healKPIInterval is the policy's scheduled pass interval; faults that
	// only a look at a provider or the site reveals wait for the next pass.
	healKPIInterval = time.Second
	// healKPIStaleness is the policy's content.max_staleness.
	healKPIStaleness = time.Second
	// healKPIFaultEvery paces the injections: one fault on a random stack
	// with no fault in flight every 100 ms (10 faults/s).
	healKPIFaultEvery = 100 * time.Millisecond
	// healKPIHold is how long a fault that must not be healed is left in
	// place after its drift is confirmed (several passes, each deciding
	// about it) before the benchmark mends it.
	healKPIHold = 3 * time.Second
	// healKPIPoll is how often a fault's stack is read from the store while
	// the benchmark waits on it.
	healKPIPoll = 100 * time.Millisecond
	// Timeouts of a fault's phases.
	healKPIDetectTimeout = 20 * time.Second
	healKPIHealTimeout   = 30 * time.Second
	healKPICleanTimeout  = 30 * time.Second
	// healKPIMaxPerDrift bounds the faults of one stack on one drift id
	// (type and component), so that flapping (threshold 3 returns per
	// hour) never applies: the benchmark measures healing, not the
	// flapping brake.
	healKPIMaxPerDrift = 2
)

// healKPIPolicy is every client's policy in the benchmark. provider_missing
// is not in allowed_drift_types (alert only); provider_changed and
// resource_missing are allowed but need approval (cms_provider_change,
// resource_replacement), which the benchmark never gives.
const healKPIPolicy = `---
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

// kpiClass is what the policy and the sim make of a fault.
type kpiClass string

const (
	// kpiHealable: the policy allows the heal and the sim answers it at
	// once; it must be healed.
	kpiHealable kpiClass = "healable"
	// kpiNeedsApproval: the heal needs a person's approval; it must not run.
	kpiNeedsApproval kpiClass = "needs approval"
	// kpiAlertOnly: the code is not in allowed_drift_types; alert only.
	kpiAlertOnly kpiClass = "alert only"
	// kpiUnfixable: the policy allows the heal (resource_unhealthy:
	// rebuild) but the action cannot fix the cause (the site's server is
	// down, not its deployment); attempts run until the budget is spent.
	kpiUnfixable kpiClass = "not fixable by its action"
)

// kpiFaultKind is one kind of fault: how it is injected and mended, and the
// drift it must cause.
type kpiFaultKind struct {
	name  string
	class kpiClass
	// count is how many of the 1,000 faults (at 200 stacks) are this kind.
	count int
	code  drift.Code
	// component of the drift on a stack.
	component func(s *kpiStack) string
	// also are further (code, component) drifts the fault may cause.
	also func(s *kpiStack) []kpiDriftKey
	// inject breaks the stack; it returns when the fault became observable
	// for faults whose observability is not "the next pass" (zero time).
	inject func(r *kpiRun, ctx context.Context, s *kpiStack) (time.Time, error)
	// mend repairs the fault from outside (nil: the fault stays); it runs
	// for faults that must not be healed, and for healable ones that were
	// not healed in time.
	mend func(r *kpiRun, ctx context.Context, s *kpiStack) error
	// last: the fault stays (no mend), so it is the stack's last one.
	last bool
	// once: at most one fault of this kind per stack.
	once bool
	// staleness: observable at the first pass after the content's staleness
	// deadline (content_stale).
	staleness bool
}

type kpiDriftKey struct {
	code      drift.Code
	component string
}

// kpiStack is one stack of the world and its faults.
type kpiStack struct {
	world  *sim.StackWorld
	faults []*kpiFault
	// quietSince: the stack was last seen clean (no open drift, no heal in
	// flight) at this time.
	quietSince time.Time
}

func (s *kpiStack) cmsIntegration() string {
	if s.world.Contentful != nil {
		return "cms-entries"
	}
	return "cms-content"
}

// kpiFault is one injected fault and what the benchmark saw of it.
type kpiFault struct {
	kind  *kpiFaultKind
	stack *kpiStack
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
	outcome string
}

// kpiRun is one run of the benchmark.
type kpiRun struct {
	b       *testing.B
	srv     *server
	world   *sim.World
	builder *build.Builder
	getenv  func(string) (string, bool)
	prefix  string
	stacks  []*kpiStack
}

func (r *kpiRun) ssg(s *kpiStack) provider.Binding {
	w := s.world
	return provider.Binding{ClientID: w.ClientID, StackID: w.StackID, Role: config.RoleSSG, Name: "nextjs",
		Build: &config.Build{Driver: build.DriverHook, URL: config.NewSecret(w.Build.URL())}}
}

// healKPIKinds is the fault mix: every drift code, and a site that is down
// (resource_unhealthy that a rebuild cannot fix).
func healKPIKinds() []*kpiFaultKind {
	fixed := func(c string) func(*kpiStack) string { return func(*kpiStack) string { return c } }
	site := func(m sim.Mode) func(*kpiRun, context.Context, *kpiStack) (time.Time, error) {
		return func(_ *kpiRun, _ context.Context, s *kpiStack) (time.Time, error) {
			return time.Time{}, s.world.Site.SetMode(m)
		}
	}
	siteHealthy := func(_ *kpiRun, _ context.Context, s *kpiStack) error { return s.world.Site.SetMode(sim.ModeHealthy) }
	return []*kpiFaultKind{
		{name: "Shopify webhook deleted", class: kpiHealable, count: 100, code: drift.WebhookBroken, component: fixed("shop-products"),
			inject: func(_ *kpiRun, _ context.Context, s *kpiStack) (time.Time, error) {
				for _, h := range s.world.Shop.Webhooks() {
					if h.Topic == "products/update" {
						s.world.Shop.DeleteWebhook(h.ID)
						return time.Time{}, nil
					}
				}
				return time.Time{}, fmt.Errorf("no products/update webhook")
			},
			mend: func(r *kpiRun, _ context.Context, s *kpiStack) error {
				for _, h := range s.world.Shop.Webhooks() {
					if h.Topic == "products/update" {
						return nil
					}
				}
				s.world.Shop.AddWebhook("products/update", s.world.Receiver(r.prefix, "shopify"))
				return nil
			}},
		{name: "CMS webhook deleted (Sanity) or deactivated (Contentful)", class: kpiHealable, count: 50, code: drift.WebhookBroken,
			component: (*kpiStack).cmsIntegration,
			inject: func(_ *kpiRun, _ context.Context, s *kpiStack) (time.Time, error) {
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
			mend: func(r *kpiRun, _ context.Context, s *kpiStack) error {
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
		{name: "Shopify: undeclared topic at our receiver", class: kpiHealable, count: 75, code: drift.IntegrationMismatch,
			component: fixed("shop-products"),
			inject: func(r *kpiRun, _ context.Context, s *kpiStack) (time.Time, error) {
				s.world.Shop.AddWebhook("orders/create", s.world.Receiver(r.prefix, "shopify"))
				return time.Time{}, nil
			},
			mend: func(_ *kpiRun, _ context.Context, s *kpiStack) error {
				for _, h := range s.world.Shop.Webhooks() {
					if h.Topic == "orders/create" {
						s.world.Shop.DeleteWebhook(h.ID)
					}
				}
				return nil
			}},
		{name: "CMS subscription changed (Sanity filter, Contentful topics)", class: kpiHealable, count: 75, code: drift.IntegrationMismatch,
			component: (*kpiStack).cmsIntegration,
			inject: func(_ *kpiRun, _ context.Context, s *kpiStack) (time.Time, error) {
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
			mend: func(_ *kpiRun, _ context.Context, s *kpiStack) error {
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
		{name: "site answers 503", class: kpiHealable, count: 150, code: drift.ResourceUnhealthy, component: fixed("site"),
			inject: site(sim.ModeFailing), mend: siteHealthy},
		{name: "post published, site not rebuilt", class: kpiHealable, count: 125, code: drift.ContentStale, component: fixed("post"),
			staleness: true, inject: (*kpiRun).publish,
			mend: func(r *kpiRun, ctx context.Context, s *kpiStack) error {
				_, err := r.builder.Trigger(ctx, r.ssg(s))
				return err
			}},
		{name: "desired state that needs a new subscription", class: kpiHealable, count: 100, code: drift.ConfigPending,
			component: fixed("desired_state"), once: true,
			also:   func(*kpiStack) []kpiDriftKey { return []kpiDriftKey{{drift.WebhookBroken, "shop-customers"}} },
			inject: (*kpiRun).applyNewVersion},
		{name: "Shopify token revoked", class: kpiAlertOnly, count: 50, code: drift.ProviderMissing, component: fixed("ecommerce"),
			inject: func(_ *kpiRun, _ context.Context, s *kpiStack) (time.Time, error) {
				s.world.Shop.RevokeToken()
				return time.Time{}, nil
			},
			mend: func(_ *kpiRun, _ context.Context, s *kpiStack) error { s.world.Shop.RestoreToken(); return nil }},
		{name: "CMS token revoked", class: kpiAlertOnly, count: 50, code: drift.ProviderMissing, component: fixed("cms"),
			inject: func(_ *kpiRun, _ context.Context, s *kpiStack) (time.Time, error) {
				if s.world.Sanity != nil {
					s.world.Sanity.RevokeToken()
				} else {
					s.world.Contentful.RevokeToken()
				}
				return time.Time{}, nil
			},
			mend: func(_ *kpiRun, _ context.Context, s *kpiStack) error {
				if s.world.Sanity != nil {
					s.world.Sanity.RestoreToken()
				} else {
					s.world.Contentful.RestoreToken()
				}
				return nil
			}},
		{name: "events from another CMS", class: kpiNeedsApproval, count: 75, code: drift.ProviderChanged, component: fixed("cms"),
			last: true, once: true, inject: (*kpiRun).foreignEvent},
		{name: "site answers 404", class: kpiNeedsApproval, count: 75, code: drift.ResourceMissing, component: fixed("site"),
			inject: site(sim.ModeMissing), mend: siteHealthy},
		{name: "site is down (connection refused)", class: kpiUnfixable, count: 75, code: drift.ResourceUnhealthy, component: fixed("site"),
			inject: site(sim.ModeDown), mend: siteHealthy},
	}
}

// secret is a stack's environment value by suffix (SANITY -> the Sanity
// webhook secret).
func (r *kpiRun) secret(s *kpiStack, what string) string {
	for k, v := range s.world.Env() {
		if strings.HasSuffix(k, "_"+what+"_WEBHOOK_SECRET") {
			return v
		}
	}
	return ""
}

// publish has the stack's CMS deliver a signed webhook for a changed post
// to our receiver; no build follows, so the content goes stale.
func (r *kpiRun) publish(ctx context.Context, s *kpiStack) (time.Time, error) {
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
func (r *kpiRun) foreignEvent(ctx context.Context, s *kpiStack) (time.Time, error) {
	w := s.world
	other := sim.CMSContentful
	if w.Contentful != nil {
		other = sim.CMSSanity
	}
	now := time.Now()
	_, err := r.srv.store.InsertEvents(ctx, []store.Event{{
		EventID: uuid.NewString(), ClientID: w.ClientID, StackID: w.StackID, ProviderName: other,
		EventType: "content.updated", ContentID: "author-1", ContentType: "author", Timestamp: now,
		Environment: w.Environment, Payload: json.RawMessage(`{}`), ReceivedAt: now, TTLTimestamp: now.Add(time.Hour).Unix(),
	}})
	if err != nil {
		return time.Time{}, err
	}
	committed := time.Now()
	r.srv.loop.Trigger(w.ClientID, w.StackID, reconcile.TriggerEvent)
	return committed, nil
}

// applyNewVersion applies a new desired version of the stack that declares
// one more Shopify subscription (customers/create), as `blackwell apply`
// of a changed file does; the provider holds none, so the new version is
// pending until the subscription exists.
func (r *kpiRun) applyNewVersion(ctx context.Context, s *kpiStack) (time.Time, error) {
	w := s.world
	doc := w.StackConfig("shop-customers: {provider: ecommerce, topics: [customers/create]}") +
		fmt.Sprintf(healKPIPolicy, w.ClientID, healKPIInterval, healKPIStaleness)
	cfg, err := config.Parse("bench.yaml", []byte(doc), r.getenv)
	if err != nil {
		return time.Time{}, err
	}
	if _, err := r.srv.state.Apply(ctx, cfg, "bench"); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// kpiAssignFaults deals the fault mix out to the stacks: healKPIFaultsPerStack
// each, at most healKPIMaxPerDrift on one drift id of a stack, kinds marked
// once at most once, and a fault that stays (last) as the stack's last.
func kpiAssignFaults(rng *rand.Rand, kinds []*kpiFaultKind, stacks []*kpiStack) error {
	total := len(stacks) * healKPIFaultsPerStack
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
		demand[kpiDriftID(k.code, k.component(stacks[0]))] += counts[i]
	}
	order := make([]int, len(kinds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		score := func(k *kpiFaultKind) int {
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
			-cmp.Compare(demand[kpiDriftID(ka.code, ka.component(stacks[0]))], demand[kpiDriftID(kb.code, kb.component(stacks[0]))]))
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
				id := kpiDriftID(k.code, k.component(s))
				switch {
				case n >= healKPIFaultsPerStack, perDrift[si][id] >= healKPIMaxPerDrift:
					continue
				case (k.once || k.last) && slices.ContainsFunc(s.faults, func(f *kpiFault) bool { return f.kind == k }):
					continue
				}
				// Fewest faults, then fewest on this drift id.
				score := n*(healKPIMaxPerDrift+1) + perDrift[si][id]
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
			perDrift[si][kpiDriftID(k.code, k.component(s))]++
			s.faults = append(s.faults, &kpiFault{kind: k, stack: s})
		}
	}
	for _, s := range stacks {
		rng.Shuffle(len(s.faults), func(i, j int) { s.faults[i], s.faults[j] = s.faults[j], s.faults[i] })
		slices.SortStableFunc(s.faults, func(a, b *kpiFault) int {
			return cmp.Compare(kpiBoolInt(a.kind.last), kpiBoolInt(b.kind.last))
		})
	}
	return nil
}

// kpiDriftID keys drifts as drift.ID does (type and component), per stack.
func kpiDriftID(code drift.Code, component string) string {
	cl, _ := drift.Classify(code)
	return string(cl.Type) + "/" + component
}

func kpiBoolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func runHealKPIs(b *testing.B, nStacks int) {
	ctx := context.Background()
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(4, 2026))

	specs := make([]sim.WorldStack, nStacks)
	flavors := []sim.BuildHookFlavor{sim.FlavorNetlify, sim.FlavorVercel, sim.FlavorCloudflare}
	for i := range specs {
		cms := sim.CMSSanity
		if i%2 == 1 {
			cms = sim.CMSContentful
		}
		specs[i] = sim.WorldStack{ClientID: fmt.Sprintf("kpi-%03d", i), StackID: "web", Environment: "prod",
			CMS: cms, BuildFlavor: flavors[i%len(flavors)]}
	}
	world, err := sim.NewWorld(specs)
	require.NoError(b, err)
	b.Cleanup(world.Close)

	listen, err := concreteListen("127.0.0.1:0")
	require.NoError(b, err)
	prefix := "http://" + listen + "/v1/webhooks"
	world.Seed(prefix)
	var cfg strings.Builder
	for i, s := range world.Stacks {
		if i > 0 {
			cfg.WriteString("---\n")
		}
		cfg.WriteString(s.StackConfig())
		fmt.Fprintf(&cfg, healKPIPolicy, s.ClientID, healKPIInterval, healKPIStaleness)
	}
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(b, os.WriteFile(cfgPath, []byte(cfg.String()), 0o600))
	logFile, err := os.Create(filepath.Join(dir, "blackwell.log"))
	require.NoError(b, err)
	defer logFile.Close()
	env := world.Env()
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	srv, err := startServer(ctx, serverOptions{
		configPath: cfgPath, configRequired: true, listen: listen,
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"),
		logOut:   logFile, logLevel: slog.LevelWarn, getenv: getenv,
	})
	require.NoError(b, err)
	defer srv.Shutdown(ctx)

	r := &kpiRun{b: b, srv: srv, world: world, getenv: getenv, prefix: prefix,
		builder: newBuilder(srv.store, getenv, slog.New(slog.DiscardHandler), false, func(c, s string) { srv.loop.Trigger(c, s, reconcile.TriggerEvent) }, nil)}
	for _, w := range world.Stacks {
		r.stacks = append(r.stacks, &kpiStack{world: w})
	}
	kinds := healKPIKinds()
	require.NoError(b, kpiAssignFaults(rng, kinds, r.stacks))

	// Every site starts built (content_stale needs a last build), and every
	// stack healthy.
	for _, s := range r.stacks {
		res, err := r.builder.Trigger(ctx, r.ssg(s))
		require.NoError(b, err)
		require.Equal(b, build.StatusSucceeded, res.Status)
	}
	r.waitAllHealthy(ctx, 60*time.Second)
	time.Sleep(2 * healKPIInterval) // passes settle into their schedule

	for _, s := range r.stacks {
		s.quietSince = time.Now()
	}
	load0 := kpiLoadAvg()
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	benchStart := time.Now()
	b.ResetTimer()
	r.inject(ctx, rng)
	faultsDone := time.Now()
	time.Sleep(3 * healKPIInterval) // trailing passes commit
	b.StopTimer()
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond

	rep := r.analyse(ctx, benchStart)
	rep.wall = faultsDone.Sub(benchStart)
	rep.cpu = cpu
	rep.warnings = kpiLogLines(filepath.Join(dir, "blackwell.log"))
	rep.load = [2]string{load0, kpiLoadAvg()}
	rep.print(os.Stdout, kinds)
	rep.metrics(b)
}

// waitAllHealthy waits for every stack to have passed after now and to
// have no open drift.
func (r *kpiRun) waitAllHealthy(ctx context.Context, within time.Duration) {
	since := time.Now()
	deadline := since.Add(within)
	for {
		healthy := 0
		cursor := ""
		for {
			recs, next, err := r.srv.store.ListStates(ctx, "", cursor, 1000)
			require.NoError(r.b, err)
			for _, rec := range recs {
				if rec.Status == store.StatusHealthy && rec.LastVerified != nil && rec.LastVerified.After(since) {
					healthy++
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if healthy == len(r.stacks) {
			return
		}
		if time.Now().After(deadline) {
			r.b.Fatalf("only %d of %d stacks healthy after %s", healthy, len(r.stacks), within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// inject runs the faults: every healKPIFaultEvery, the next fault of a
// random stack with no fault in flight starts; it is followed to its end
// on its own goroutine.
func (r *kpiRun) inject(ctx context.Context, rng *rand.Rand) {
	var mu sync.Mutex
	busy := map[*kpiStack]bool{}
	next := map[*kpiStack]int{}
	tainted := map[*kpiStack]bool{}
	var wg sync.WaitGroup
	tick := time.NewTicker(healKPIFaultEvery)
	defer tick.Stop()
	for range tick.C {
		mu.Lock()
		var free []*kpiStack
		left := false
		for _, s := range r.stacks {
			if next[s] >= len(s.faults) || tainted[s] {
				continue
			}
			left = true
			if !busy[s] {
				free = append(free, s)
			}
		}
		if !left {
			mu.Unlock()
			break
		}
		if len(free) == 0 {
			mu.Unlock()
			continue
		}
		s := free[rng.IntN(len(free))]
		f := s.faults[next[s]]
		next[s]++
		busy[s] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			clean := r.follow(ctx, f)
			mu.Lock()
			busy[s] = false
			if !clean {
				// A stack that did not come back clean would blur the next
				// fault's measurements: its remaining faults are skipped.
				tainted[s] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// follow injects one fault and follows it: detection, then healing (or a
// hold and a mend for faults that must not be healed), then until the
// stack is clean. It reports whether the stack is clean (or was meant to
// stay as it is).
func (r *kpiRun) follow(ctx context.Context, f *kpiFault) bool {
	s, k := f.stack, f.kind
	comp := k.component(s)
	f.quietSince = s.quietSince
	f.injectStart = time.Now()
	at, err := k.inject(r, ctx, s)
	f.injected = time.Now()
	if err != nil {
		f.outcome = "inject failed: " + err.Error()
		f.cleanAt = time.Now()
		return true
	}
	f.eventAt = at

	// Detected: the drift was confirmed by a pass after the stack was last
	// clean. It may be healed (resolved) before this poll sees it open.
	w := s.world
	detected := false
	for deadline := time.Now().Add(healKPIDetectTimeout); ; time.Sleep(healKPIPoll) {
		all, err := r.srv.store.ListDrifts(ctx, store.DriftQuery{ClientID: w.ClientID, StackID: w.StackID, IncludeResolved: true})
		if err == nil && slices.ContainsFunc(all, func(d drift.Drift) bool {
			return d.Code == k.code && d.Component == comp && d.Confirmed && d.LastSeen.After(s.quietSince)
		}) {
			detected = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
	}
	if !detected {
		f.outcome = "not detected"
		return r.mendAndClean(ctx, f)
	}
	switch k.class {
	case kpiHealable:
		healed := r.poll(ctx, healKPIHealTimeout, func(open []drift.Drift, heals []store.HealAttempt) bool {
			return len(open) == 0 && !slices.ContainsFunc(heals, func(a store.HealAttempt) bool { return a.Status.Open() }) &&
				slices.ContainsFunc(heals, func(a store.HealAttempt) bool { return a.Status == store.HealSucceeded })
		}, s, f.quietSince)
		if healed {
			f.outcome = "healed"
			f.cleanAt = time.Now()
			s.quietSince = f.cleanAt
			return true
		}
		f.outcome = "not healed in time"
	case kpiNeedsApproval, kpiAlertOnly:
		time.Sleep(healKPIHold)
		f.outcome = "held"
		if k.mend == nil {
			return true // left in place; the stack's last fault
		}
	case kpiUnfixable:
		exhausted := r.poll(ctx, healKPIHealTimeout, func(open []drift.Drift, heals []store.HealAttempt) bool {
			return slices.ContainsFunc(open, func(d drift.Drift) bool {
				return d.Code == k.code && d.Component == comp && d.HealStatus == reconcile.ExhaustedStatus
			}) && !slices.ContainsFunc(heals, func(a store.HealAttempt) bool { return a.Status.Open() })
		}, s, f.quietSince)
		f.outcome = "exhausted"
		if !exhausted {
			f.outcome = "not exhausted in time"
		}
	}
	return r.mendAndClean(ctx, f)
}

// mendAndClean mends the fault from outside and waits until the stack is
// clean.
func (r *kpiRun) mendAndClean(ctx context.Context, f *kpiFault) bool {
	if f.kind.mend != nil {
		if err := f.kind.mend(r, ctx, f.stack); err != nil {
			f.outcome += "; mend failed: " + err.Error()
		}
	}
	clean := r.poll(ctx, healKPICleanTimeout, func(open []drift.Drift, heals []store.HealAttempt) bool {
		return len(open) == 0 && !slices.ContainsFunc(heals, func(a store.HealAttempt) bool { return a.Status.Open() })
	}, f.stack, f.quietSince)
	if clean {
		f.cleanAt = time.Now()
		f.stack.quietSince = f.cleanAt
	} else {
		f.outcome += "; stack not clean after the mend"
	}
	return clean
}

// poll reads the stack's open drifts and its heal attempts since a time
// every healKPIPoll until cond holds or within passes.
func (r *kpiRun) poll(ctx context.Context, within time.Duration, cond func([]drift.Drift, []store.HealAttempt) bool, s *kpiStack, since time.Time) bool {
	w := s.world
	deadline := time.Now().Add(within)
	for {
		open, err := r.srv.store.ListDrifts(ctx, store.DriftQuery{ClientID: w.ClientID, StackID: w.StackID})
		if err == nil {
			heals, _, herr := r.srv.store.ListHeals(ctx, store.HealQuery{ClientID: w.ClientID, StackID: w.StackID, Since: since, Limit: 100})
			if herr == nil && cond(open, heals) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(healKPIPoll)
	}
}

// kpiLoadAvg is the machine's load average (1, 5, 15 minutes), as the other
// work on the machine bears on the latencies.
func kpiLoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}

// kpiLogLines counts the server log's lines per level.
func kpiLogLines(path string) map[string]int {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for line := range strings.SplitSeq(string(data), "\n") {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Error any    `json:"error"`
			// Errors: a failed pass's errors.
			Errors any `json:"errors"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Level != "" {
			key := l.Level + ": " + l.Msg
			if l.Error == nil {
				l.Error = l.Errors
			}
			if l.Error != nil {
				e := fmt.Sprint(l.Error)
				if len(e) > 160 {
					e = e[:160] + "..."
				}
				key += ": " + e
			}
			out[key]++
		}
	}
	return out
}

// The analysis: the store's record matched to the faults.

type kpiAuditDrift struct {
	at               time.Time
	driftID          string
	reconciliationID string
	key              kpiDriftKey
}

// kpiResult is what the store's record says of one fault.
type kpiResult struct {
	f *kpiFault
	// detected: the drift_detected entry of the fault's drift.
	detected    bool
	detectedAt  time.Time
	observable  time.Time
	healed      bool
	healedAt    time.Time
	attempts    int // heal attempts that ran (executed, succeeded, failed)
	decided     int // every heal attempt row (also pending, cancelled)
	succeeded   int
	approvals   int
	unexpected  []kpiDriftKey // drifts on the stack in the fault's window it does not explain
	exhausted   bool
	windowEnd   time.Time
	scheduleLag time.Duration // observable - injected, for the table
	// heal is the first succeeded heal attempt of the fault.
	heal *store.HealAttempt
	// details: the stack's timeline, for a fault that is anomalous.
	details []string
}

// anomalous: the fault did not end as its class says it must.
func (r *kpiResult) anomalous() bool {
	switch r.f.kind.class {
	case kpiHealable:
		return !r.healed || len(r.unexpected) > 0
	case kpiNeedsApproval:
		return r.decided > 0 || r.approvals == 0
	case kpiAlertOnly:
		return r.decided > 0 || r.approvals > 0
	}
	return !r.exhausted || !r.detected
}

// kpiStackTimeline describes what happened on a stack, for anomalies.
func kpiStackTimeline(s *kpiStack, since time.Time, detected, resolved []kpiAuditDrift, heals []store.HealAttempt, approvals []store.Approval) []string {
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	off := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%8.3fs", t.Sub(since).Seconds())
	}
	for _, f := range s.faults {
		if !f.injectStart.IsZero() {
			lines = append(lines, line{f.injectStart, fmt.Sprintf("fault %q injected; outcome %q; clean at %s", f.kind.name, f.outcome, off(f.cleanAt))})
		}
	}
	for _, d := range detected {
		lines = append(lines, line{d.at, fmt.Sprintf("drift_detected %s %s (%s)", d.key.code, d.key.component, d.driftID)})
	}
	for _, d := range resolved {
		lines = append(lines, line{d.at, fmt.Sprintf("drift_resolved %s %s (%s)", d.key.code, d.key.component, d.driftID)})
	}
	for _, a := range heals {
		lines = append(lines, line{a.CreatedAt, fmt.Sprintf("heal %s %s %s: %s %s", a.ID, a.Code, a.Action, a.Status, a.Error)})
	}
	for _, a := range approvals {
		lines = append(lines, line{a.CreatedAt, fmt.Sprintf("approval %s %s %s (%s): %s", a.ID, a.Code, a.Class, a.DriftID, a.Status)})
	}
	slices.SortStableFunc(lines, func(a, b line) int { return a.at.Compare(b.at) })
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = off(l.at) + "  " + l.text
	}
	return out
}

type kpiReport struct {
	results        []*kpiResult
	falsePositives []kpiAuditDrift
	driftReports   int
	passes         int
	passErrors     int
	pendingApprov  int
	wall, cpu      time.Duration
	warnings       map[string]int
	load           [2]string // load average before and after
	stacks         int
	skipped        int
}

func (r *kpiRun) analyse(ctx context.Context, since time.Time) *kpiReport {
	st := r.srv.store
	rep := &kpiReport{stacks: len(r.stacks)}
	// Audit entries by stack.
	type stackAudit struct{ detected, resolved []kpiAuditDrift }
	byStack := map[string]*stackAudit{}
	for _, s := range r.stacks {
		byStack[s.world.ClientID] = &stackAudit{}
	}
	clientOf := func(action string) map[string][]kpiAuditDrift {
		out := map[string][]kpiAuditDrift{}
		cursor := ""
		for {
			entries, page, err := st.ListAudit(ctx, store.AuditQuery{Action: action, Since: since, Cursor: cursor, Limit: 1000})
			require.NoError(r.b, err)
			for _, e := range entries {
				var ch struct {
					Code      drift.Code `json:"code"`
					Component string     `json:"component"`
				}
				_ = json.Unmarshal(e.ChangesMade, &ch)
				out[e.ClientID] = append(out[e.ClientID], kpiAuditDrift{at: e.Timestamp, driftID: e.DriftID,
					reconciliationID: e.ReconciliationID, key: kpiDriftKey{ch.Code, ch.Component}})
			}
			if page == "" {
				return out
			}
			cursor = page
		}
	}
	for c, ds := range clientOf("drift_detected") {
		if byStack[c] == nil {
			byStack[c] = &stackAudit{}
		}
		byStack[c].detected = ds
		rep.driftReports += len(ds)
	}
	for c, ds := range clientOf("drift_resolved") {
		if byStack[c] == nil {
			byStack[c] = &stackAudit{}
		}
		byStack[c].resolved = ds
	}

	// Heal attempts and approvals by stack.
	heals := map[string][]store.HealAttempt{}
	cursor := ""
	for {
		hs, page, err := st.ListHeals(ctx, store.HealQuery{Since: since, Cursor: cursor, Limit: 1000})
		require.NoError(r.b, err)
		for _, a := range hs {
			heals[a.ClientID] = append(heals[a.ClientID], a)
		}
		if page == "" {
			break
		}
		cursor = page
	}
	approvals := map[string][]store.Approval{}
	cursor = ""
	for {
		as, page, err := st.ListApprovals(ctx, store.ApprovalQuery{Cursor: cursor, Limit: 1000})
		require.NoError(r.b, err)
		for _, a := range as {
			if !a.CreatedAt.Before(since) {
				approvals[a.ClientID] = append(approvals[a.ClientID], a)
				if a.Status == store.ApprovalPending {
					rep.pendingApprov++
				}
			}
		}
		if page == "" {
			break
		}
		cursor = page
	}

	for _, s := range r.stacks {
		w := s.world
		// The stack's passes since the start, oldest first.
		var passes []store.ReconciliationResult
		cursor := ""
	pages:
		for {
			rs, page, err := st.ListReconciliations(ctx, w.ClientID, w.StackID, cursor, 1000)
			require.NoError(r.b, err)
			for _, res := range rs {
				if res.StartedAt.Before(since) {
					break pages
				}
				passes = append(passes, res)
				rep.passes++
				if res.Status != store.ResultSuccess {
					rep.passErrors++
				}
			}
			if page == "" {
				break
			}
			cursor = page
		}
		slices.Reverse(passes)
		passByID := map[string]store.ReconciliationResult{}
		for _, p := range passes {
			passByID[p.ReconciliationID] = p
		}
		firstPassAfter := func(t time.Time) (time.Time, bool) {
			for _, p := range passes {
				if p.StartedAt.After(t) {
					return p.StartedAt, true
				}
			}
			return time.Time{}, false
		}

		sa := byStack[w.ClientID]
		explained := make([]bool, len(sa.detected))
		for _, f := range s.faults {
			if f.injectStart.IsZero() {
				rep.skipped++
				continue
			}
			res := &kpiResult{f: f}
			rep.results = append(rep.results, res)
			end := f.cleanAt
			if end.IsZero() {
				end = time.Now().Add(time.Hour)
			}
			res.windowEnd = end
			in := func(t time.Time) bool { return !t.Before(f.injectStart) && !t.After(end) }
			decidedIn := func(t time.Time) bool { return t.After(f.quietSince) && !t.After(end) }
			expect := []kpiDriftKey{{f.kind.code, f.kind.component(s)}}
			if f.kind.also != nil {
				expect = append(expect, f.kind.also(s)...)
			}
			for i, d := range sa.detected {
				if !in(d.at) {
					continue
				}
				explained[i] = true
				if !slices.Contains(expect, d.key) {
					res.unexpected = append(res.unexpected, d.key)
					continue
				}
				if d.key != expect[0] || res.detected {
					continue
				}
				res.detected, res.detectedAt = true, d.at
				// Observable: see docs/PERFORMANCE.md.
				var obs time.Time
				switch {
				case f.kind.staleness && !f.eventAt.IsZero():
					obs, _ = firstPassAfter(f.eventAt.Add(healKPIStaleness))
				case !f.eventAt.IsZero():
					obs = f.eventAt
				default:
					obs, _ = firstPassAfter(f.injectStart)
				}
				if p, ok := passByID[d.reconciliationID]; ok && (obs.IsZero() || p.StartedAt.Before(obs)) {
					obs = p.StartedAt
				}
				res.observable = obs
				switch {
				case f.kind.staleness && !f.eventAt.IsZero():
					res.scheduleLag = max(0, obs.Sub(f.eventAt.Add(healKPIStaleness)))
				case f.eventAt.IsZero():
					res.scheduleLag = max(0, obs.Sub(f.injected))
				}
				for _, rd := range sa.resolved {
					if rd.driftID == d.driftID && rd.at.After(d.at) && !rd.at.After(end) {
						res.healedAt = rd.at
						break
					}
				}
			}
			for _, a := range heals[w.ClientID] {
				if !decidedIn(a.CreatedAt) {
					continue
				}
				res.decided++
				switch a.Status {
				case store.HealExecuted, store.HealSucceeded, store.HealFailed, store.HealRunning:
					res.attempts++
				}
				if a.Status == store.HealSucceeded {
					res.succeeded++
					if res.heal == nil {
						res.heal = &a
					}
				}
			}
			res.healed = res.succeeded > 0 && !res.healedAt.IsZero()
			for _, a := range approvals[w.ClientID] {
				if decidedIn(a.CreatedAt) {
					res.approvals++
				}
			}
			res.exhausted = strings.HasPrefix(f.outcome, "exhausted")
			if res.anomalous() {
				res.details = kpiStackTimeline(s, since, sa.detected, sa.resolved, heals[w.ClientID], approvals[w.ClientID])
			}
		}
		for i, d := range sa.detected {
			if !explained[i] {
				rep.falsePositives = append(rep.falsePositives, d)
			}
		}
	}
	return rep
}

type kpiStats struct {
	n              int
	mean, p50, p99 time.Duration
	max            time.Duration
}

func kpiDurStats(ds []time.Duration) kpiStats {
	if len(ds) == 0 {
		return kpiStats{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	q := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return kpiStats{n: len(ds), mean: sum / time.Duration(len(ds)), p50: q(0.5), p99: q(0.99), max: ds[len(ds)-1]}
}

func (s kpiStats) String() string {
	if s.n == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", kpiMS(s.mean), kpiMS(s.p50), kpiMS(s.p99))
}

func kpiMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
}

// kpiSummary are the headline numbers.
type kpiSummary struct {
	detect, detectObs, heal  kpiStats
	healable, healed         int
	unhealable, unhealHeals  int
	attemptsHealable, faults int
	attemptsAll              int
	approvalFaults, approved int
	unfixable, unfixRuns     int
	unfixExhausted           int
	notDetected              int
	unexpected               int
}

func (rep *kpiReport) summary() kpiSummary {
	var k kpiSummary
	var det, detObs, heal []time.Duration
	for _, r := range rep.results {
		k.faults++
		k.attemptsAll += r.attempts
		k.unexpected += len(r.unexpected)
		if r.detected {
			det = append(det, r.detectedAt.Sub(r.f.injectStart))
			detObs = append(detObs, max(0, r.detectedAt.Sub(r.observable)))
		} else {
			k.notDetected++
		}
		switch r.f.kind.class {
		case kpiHealable:
			k.healable++
			k.attemptsHealable += r.attempts
			if r.healed {
				k.healed++
				heal = append(heal, r.healedAt.Sub(r.f.injectStart))
			}
		case kpiNeedsApproval, kpiAlertOnly:
			k.unhealable++
			k.unhealHeals += r.decided
			if r.f.kind.class == kpiNeedsApproval {
				k.approvalFaults++
				if r.approvals > 0 {
					k.approved++
				}
			}
		case kpiUnfixable:
			k.unfixable++
			k.unfixRuns += r.attempts
			if r.exhausted {
				k.unfixExhausted++
			}
		}
	}
	k.detect, k.detectObs, k.heal = kpiDurStats(det), kpiDurStats(detObs), kpiDurStats(heal)
	return k
}

func (rep *kpiReport) print(out io.Writer, kinds []*kpiFaultKind) {
	k := rep.summary()
	fmt.Fprintf(out, "\nHealing KPIs: %d stacks, %d faults (%d skipped), %s of faults, %.2f cores used on average (%s CPU)\n",
		rep.stacks, k.faults, rep.skipped, rep.wall.Round(time.Second), rep.cpu.Seconds()/rep.wall.Seconds(), rep.cpu.Round(time.Second))
	var busy time.Duration
	for _, r := range rep.results {
		end := r.f.cleanAt
		if end.IsZero() {
			end = r.f.injectStart.Add(healKPIHold) // left in place after the hold
		}
		busy += end.Sub(r.f.injectStart)
	}
	fmt.Fprintf(out, "faults in flight on average: %.1f (mean time from injection to a clean stack %s)\n",
		busy.Seconds()/rep.wall.Seconds(), kpiMS(busy/time.Duration(max(1, len(rep.results)))))
	fmt.Fprintf(out, "machine load average before / after: %s / %s\n", rep.load[0], rep.load[1])
	fmt.Fprintf(out, "passes: %d (%d failed); drift reports: %d\n\n", rep.passes, rep.passErrors, rep.driftReports)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tclass\tcode\tn\tdetected\tdetect from injection\tdetect from observable\tschedule wait\thealed\theal time\tattempts\tapprovals\tunexpected")
	fmt.Fprintln(tw, "\t\t\t\t\tmean / p50 / p99\tmean / p50 / p99\tmean\t\tmean / p50 / p99\t\t\t")
	for _, kind := range kinds {
		var n, detected, healed, attempts, approvals, unexpected int
		var det, detObs, heal, lag []time.Duration
		for _, r := range rep.results {
			if r.f.kind != kind {
				continue
			}
			n++
			attempts += r.attempts
			approvals += r.approvals
			unexpected += len(r.unexpected)
			if r.detected {
				detected++
				det = append(det, r.detectedAt.Sub(r.f.injectStart))
				detObs = append(detObs, max(0, r.detectedAt.Sub(r.observable)))
				lag = append(lag, r.scheduleLag)
			}
			if r.healed {
				healed++
				heal = append(heal, r.healedAt.Sub(r.f.injectStart))
			}
		}
		healedText := "-"
		if kind.class == kpiHealable || healed > 0 {
			healedText = fmt.Sprintf("%d", healed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", kind.name, kind.class, kind.code, n, detected,
			kpiDurStats(det), kpiDurStats(detObs), kpiMS(kpiDurStats(lag).mean), healedText, kpiDurStats(heal), attempts, approvals, unexpected)
	}
	tw.Flush()

	fmt.Fprintf(out, "\ndetection, injection -> drift confirmed: mean / p50 / p99 = %s (max %s), %d not detected\n", k.detect, kpiMS(k.detect.max), k.notDetected)
	fmt.Fprintf(out, "detection, observable -> drift confirmed: mean / p50 / p99 = %s (max %s)\n", k.detectObs, kpiMS(k.detectObs.max))
	fmt.Fprintf(out, "healing, injection -> resolved with a succeeded heal: mean / p50 / p99 = %s (max %s)\n", k.heal, kpiMS(k.heal.max))
	fmt.Fprintf(out, "auto-heal success: %d of %d healable faults (%.2f%%)\n", k.healed, k.healable, kpiPct(k.healed, k.healable))
	fmt.Fprintf(out, "false positives: %d of %d drift reports (%.2f%%); drifts on a faulted stack its fault does not explain: %d\n",
		len(rep.falsePositives), rep.driftReports, kpiPct(len(rep.falsePositives), rep.driftReports), k.unexpected)
	fmt.Fprintf(out, "heal attempts run per healable fault: %.3f; per fault overall: %.3f\n",
		kpiRatio(k.attemptsHealable, k.healable), kpiRatio(k.attemptsAll, k.faults))
	fmt.Fprintf(out, "heals decided for faults that must not be healed: %d (of %d such faults); approval requests: %d of %d faults that need one; pending at the end: %d\n",
		k.unhealHeals, k.unhealable, k.approved, k.approvalFaults, rep.pendingApprov)
	fmt.Fprintf(out, "site down (a rebuild cannot fix it): %d faults, %d heal attempts ran, %d exhausted the budget\n", k.unfixable, k.unfixRuns, k.unfixExhausted)
	for _, fp := range rep.falsePositives {
		fmt.Fprintf(out, "  false positive: %s %s on %s at %s\n", fp.key.code, fp.key.component, fp.driftID, fp.at.Format(time.RFC3339Nano))
	}
	outcomes := map[string]int{}
	for _, r := range rep.results {
		outcomes[r.f.kind.name+": "+r.f.outcome]++
		for _, u := range r.unexpected {
			outcomes["unexpected drift with "+r.f.kind.name+": "+string(u.code)+" "+u.component]++
		}
	}
	// Where a heal's time goes, for healed faults.
	var toClaim, action, toVerify, verify []time.Duration
	for _, r := range rep.results {
		a := r.heal
		if !r.healed || a == nil || a.StartedAt == nil || a.CompletedAt == nil || a.VerifiedAt == nil {
			continue
		}
		toClaim = append(toClaim, a.StartedAt.Sub(r.detectedAt))
		action = append(action, a.CompletedAt.Sub(*a.StartedAt))
		toVerify = append(toVerify, a.VerifiedAt.Sub(*a.CompletedAt))
		verify = append(verify, r.healedAt.Sub(*a.VerifiedAt))
	}
	fmt.Fprintf(out, "heal phases, mean / p50 / p99: drift confirmed -> action starts %s; action %s; action done -> verifying pass starts %s; verifying pass %s\n",
		kpiDurStats(toClaim), kpiDurStats(action), kpiDurStats(toVerify), kpiDurStats(verify))
	for _, r := range rep.results {
		if len(r.details) == 0 {
			continue
		}
		fmt.Fprintf(out, "\nanomaly: %q on %s/%s (%s); the stack's timeline:\n", r.f.kind.name, r.f.stack.world.ClientID, r.f.stack.world.StackID, r.f.outcome)
		for _, l := range r.details {
			fmt.Fprintln(out, "  "+l)
		}
	}
	fmt.Fprintln(out, "\noutcomes as the benchmark followed them:")
	for _, key := range slices.Sorted(maps.Keys(outcomes)) {
		fmt.Fprintf(out, "  %4d  %s\n", outcomes[key], key)
	}
	if len(rep.warnings) > 0 {
		fmt.Fprintln(out, "server log lines at warn and above:")
		for _, key := range slices.Sorted(maps.Keys(rep.warnings)) {
			fmt.Fprintf(out, "  %4d  %s\n", rep.warnings[key], key)
		}
	}
}

func (rep *kpiReport) metrics(b *testing.B) {
	k := rep.summary()
	b.ReportMetric(k.detect.mean.Seconds()*1000, "detect-mean-ms")
	b.ReportMetric(k.detect.p99.Seconds()*1000, "detect-p99-ms")
	b.ReportMetric(k.detectObs.mean.Seconds()*1000, "detect-obs-mean-ms")
	b.ReportMetric(k.detectObs.p99.Seconds()*1000, "detect-obs-p99-ms")
	b.ReportMetric(k.heal.mean.Seconds()*1000, "heal-mean-ms")
	b.ReportMetric(k.heal.p99.Seconds()*1000, "heal-p99-ms")
	b.ReportMetric(kpiPct(k.healed, k.healable), "heal-success-%")
	b.ReportMetric(kpiPct(len(rep.falsePositives), rep.driftReports), "false-positive-%")
	b.ReportMetric(kpiRatio(k.attemptsHealable, k.healable), "attempts/healable-fault")
	b.ReportMetric(float64(k.unhealHeals), "heals-of-unhealable")
	b.ReportMetric(float64(k.faults), "faults")
	// The guarantees, unlike the latencies, do not depend on the machine.
	if k.unhealHeals > 0 {
		b.Errorf("%d heal attempts were decided for faults that must not be healed", k.unhealHeals)
	}
	if len(rep.falsePositives) > 0 {
		b.Errorf("%d false positives", len(rep.falsePositives))
	}
}

func kpiPct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func kpiRatio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
