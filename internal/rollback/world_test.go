package rollback_test

import (
	"cmp"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/heal"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

const receivers = "http://blackwell.test/v1/webhooks"

// world is a stack on the sim: a Contentful space with an environment
// alias, a Netlify-style host whose build hook publishes the branch's
// head, and the site those deployments serve (a deployment of a bad
// commit answers 503). It runs a reconciler with auto-heal, the snapshot
// recorder and a rollback service over one SQLite store.
type world struct {
	cms   *sim.Contentful
	host  *sim.DeployHost
	hook  *sim.BuildHook
	site  *sim.Site
	clock *testingclock.FakeClock

	store store.Store
	state *state.Service
	loop  *reconcile.Reconciler
	pins  *rollback.Pins
	svc   *rollback.Service
	reg   *provider.Registry
	acts  *heal.Actions
	deps  rollback.Deployer
	env   map[string]string
	// flavor is the host's.
	flavor sim.BuildHookFlavor

	mu   sync.Mutex
	head string          // the commit a build of the branch builds
	bad  map[string]bool // commits whose deployment breaks the site
	live []sim.SimDeploy // every deployment made live, in order
}

type worldOpts struct {
	// noPins leaves heals unaware of pins (the control of the flip-back
	// test).
	noPins bool
	// deployer wraps the deploy client (to interrupt a rollback).
	deployer func(rollback.Deployer) rollback.Deployer
	// flavor is the host (default Netlify).
	flavor sim.BuildHookFlavor
	// store is the store (default a fresh SQLite one).
	store store.Store
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	w := &world{clock: testingclock.NewFakeClock(time.Now()), head: "c1", bad: map[string]bool{}}
	var err error
	w.cms, err = sim.NewContentful(sim.ContentfulOptions{SecondLimit: 1000})
	require.NoError(t, err)
	t.Cleanup(w.cms.Close)
	w.cms.SetAlias("master", "release-1")
	w.cms.AddEnvironment("release-2")
	w.site, err = sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(w.site.Close)
	w.flavor = cmp.Or(o.flavor, sim.FlavorNetlify)
	w.host, err = sim.NewDeployHost(sim.DeployHostOptions{Flavor: w.flavor})
	require.NoError(t, err)
	t.Cleanup(w.host.Close)
	w.hook, err = sim.NewBuildHook(sim.BuildHookOptions{Flavor: w.flavor})
	require.NoError(t, err)
	t.Cleanup(w.hook.Close)
	w.hook.OnBuild(func(sim.HookBuild) { w.host.Publish(w.branchHead(), true) })
	w.host.OnLive(w.onLive)
	w.env = map[string]string{"CF_TOKEN": w.cms.Token(), "HOOK_URL": w.hook.URL(), "DEPLOY_TOKEN": w.host.Token()}

	db := o.store
	if db == nil {
		lite, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "blackwell.db"))
		require.NoError(t, err)
		t.Cleanup(func() { lite.Close() })
		db = lite
	}
	w.store = db
	w.state = state.New(db, state.Options{Now: w.clock.Now})
	w.reg = provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{"contentful": contentful.New(contentful.Options{API: provider.APIClientOptions{Timeout: 5 * time.Second}})},
		Getenv:  func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
	})
	var deps rollback.Deployer = build.NewDeployClient(nil, 5*time.Second)
	if o.deployer != nil {
		deps = o.deployer(deps)
	}
	w.deps = deps
	builder := build.NewBuilder(build.BuilderOptions{Events: db, Now: w.clock.Now,
		Runners: map[string]build.Runner{build.DriverHook: build.NewHookRunner(build.HookOptions{})}})
	w.pins = &rollback.Pins{Store: db, Deployer: deps, Builder: builder, Now: w.clock.Now}
	hopts := heal.Options{Registry: w.reg, Builder: builder, ReceiverPrefix: receivers}
	if !o.noPins {
		hopts.Pins = w.pins
	}
	w.acts = heal.New(hopts)
	w.startLoop(t)
	return w
}

// startLoop builds the reconciler and the rollback service (again: a
// restart).
func (w *world) startLoop(t *testing.T) {
	t.Helper()
	capt := &rollback.Capturer{Registry: w.reg, Heal: w.acts, Deployer: w.deps, Events: w.store}
	w.svc = rollback.New(rollback.Options{Store: w.store, State: w.state, Registry: w.reg, Heal: w.acts, Pins: w.pins,
		Capturer: capt, Now: w.clock.Now, VerifyInterval: time.Millisecond,
		Verify: func(ctx context.Context, c, s string) error {
			_, _, err := w.loop.Reconcile(ctx, reconcile.Key(c, s), reconcile.TriggerManual)
			return err
		}})
	w.loop = reconcile.New(reconcile.Options{
		Store: w.store, Policies: w.state, Prober: probe.New(probe.Options{}), Providers: w.reg, Clock: w.clock,
		ReceiverPrefix: receivers, Heal: reconcile.HealOptions{Actions: w.acts},
		Snapshots: &rollback.Recorder{Store: w.store, Capturer: capt},
		Holds:     &rollback.HoldWatch{Service: w.svc, Now: w.clock.Now},
	})
}

func (w *world) branchHead() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.head
}

// push moves the branch's head; bad marks a commit that breaks the site.
func (w *world) push(commit string, bad bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.head, w.bad[commit] = commit, bad
}

func (w *world) onLive(d sim.SimDeploy) {
	w.mu.Lock()
	w.live = append(w.live, d)
	bad := w.bad[d.Commit]
	w.mu.Unlock()
	mode := sim.ModeHealthy
	if bad {
		mode = sim.ModeFailing
	}
	_ = w.site.SetMode(mode)
}

// madeLive lists the deployments made live since the n-th.
func (w *world) madeLive(n int) []sim.SimDeploy {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sim.SimDeploy(nil), w.live[n:]...)
}

// spec is the stack: the CMS through its alias with one integration of
// topics, the site built by the hook and served by the host.
func (w *world) spec(topics ...string) config.StackSpec {
	return config.StackSpec{
		Providers: map[string]config.ProviderBinding{
			config.RoleCMS: {Name: "contentful",
				Settings:    map[string]string{"api_base": w.cms.URL(), "space_id": w.cms.SpaceID(), contentful.AliasSetting: "master"},
				Credentials: map[string]config.Secret{"token": config.NewSecret("${CF_TOKEN}")}},
			config.RoleSSG: {Name: "next", Build: &config.Build{Driver: build.DriverHook, URL: config.NewSecret("${HOOK_URL}"),
				Deploy: w.deployAPI()}},
		},
		Integrations: map[string]config.Integration{"cms-entries": {Provider: config.RoleCMS, Topics: topics}},
		Resources: map[string]config.Resource{
			"site": {Probe: config.ProbeHTTP, URL: w.site.URL(), ExpectStatus: 200, Timeout: config.Duration(2 * time.Second)},
		},
	}
}

// deployAPI is the build's deploy API: the host's.
func (w *world) deployAPI() *config.DeployAPI {
	d := &config.DeployAPI{Host: string(w.flavor), Site: w.host.Site(), APIBase: w.host.URL(), Token: config.NewSecret("${DEPLOY_TOKEN}")}
	if w.flavor == sim.FlavorCloudflare {
		d.Account = w.host.Account()
	}
	return d
}

func healing() config.PolicySpec {
	p := config.DefaultPolicy()
	p.Confirmation.Observations, p.Confirmation.GracePeriod = 1, 0
	p.AutoHeal.Enabled = true
	p.AutoHeal.AllowedDriftTypes = []string{"webhook_broken", "integration_mismatch", "resource_unhealthy"}
	p.AutoHeal.MaxAttempts = 50
	p.AutoHeal.BackoffStrategy = "linear"
	p.AutoHeal.BackoffBase, p.AutoHeal.BackoffCap = config.Duration(time.Second), config.Duration(time.Second)
	// Outages on purpose, one after the other: not flapping.
	p.AutoHeal.Flapping.Threshold = 1000
	return p
}

// apply declares the stack (and a client-wide policy).
func (w *world) apply(t *testing.T, pol config.PolicySpec, topics ...string) {
	t.Helper()
	cfg := &config.Config{
		Stacks: []config.Stack{{APIVersion: config.APIVersion, Kind: config.KindStack,
			Metadata: config.StackMeta{ClientID: "acme", StackID: "web", Environment: "prod"}, Spec: w.spec(topics...)}},
		Policies: []config.Policy{{APIVersion: config.APIVersion, Kind: config.KindReconciliationPolicy,
			Metadata: config.PolicyMeta{ClientID: "acme"}, Spec: pol}},
	}
	_, err := w.state.Apply(context.Background(), cfg, "test")
	require.NoError(t, err)
}

// round is one pass of the stack and the heals it decided, then time
// moves past the backoff.
func (w *world) round(t *testing.T) store.ReconciliationResult {
	t.Helper()
	ctx := context.Background()
	res, _, err := w.loop.Reconcile(ctx, reconcile.Key("acme", "web"), reconcile.TriggerManual)
	require.NoError(t, err)
	_, err = w.loop.HealOnce(ctx)
	require.NoError(t, err)
	w.clock.Step(2 * time.Second)
	return res
}

// untilHealthy runs rounds until the stack is healthy (at most n).
func (w *world) untilHealthy(t *testing.T, n int) store.StateRecord {
	t.Helper()
	for range n {
		w.round(t)
		rec, err := w.store.GetState(context.Background(), "acme", "web")
		require.NoError(t, err)
		if rec.Status == store.StatusHealthy {
			return rec
		}
	}
	rec, _ := w.store.GetState(context.Background(), "acme", "web")
	t.Fatalf("acme/web not healthy after %d rounds: %s %v", n, rec.Status, rec.DriftDetails)
	return rec
}

func (w *world) snapshots(t *testing.T) []store.Snapshot {
	t.Helper()
	s, err := w.store.ListSnapshots(context.Background(), "acme", "web")
	require.NoError(t, err)
	return s
}
