package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// demoOptions tune the demo world's clock.
type demoOptions struct {
	listen     string
	faultEvery time.Duration
	mendAfter  time.Duration
	interval   time.Duration
	duration   time.Duration
	keep       bool

	// faultName and faultStack ("client/stack") pin the fault injected and
	// where (empty: random); faultLimit stops injecting after that many
	// faults (0: no limit). Tests use them.
	faultName, faultStack string
	faultLimit            int
	// natsURL and natsSubject are where the nats channel publishes
	// (defaults nats://127.0.0.1:4222 and blackwell.drift-events).
	natsURL, natsSubject string
	// dir, when set, is used (and kept) instead of a temporary directory.
	dir string
	// bootstrapTokenFile is where the server writes its bootstrap token
	// (empty: nowhere; the demo command passes the default of its port).
	bootstrapTokenFile string
	// onNotify, when set, sees every notification a receiver got.
	onNotify func(demoNotice)
}

func newDemoCmd(g *globals) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a live demo world: fake providers and sites break and mend, drift appears and clears",
		Long: `Start the server with a temporary store on a small simulated world: a few
client stacks, each with a headless CMS (a fake Sanity or Contentful), a fake
Shopify shop, a fake build hook and a local site, all speaking the providers'
real APIs. The config points every binding at its fake and every webhook at
the server. On a timer a realistic fault is injected (a deleted Shopify
webhook, a revoked Shopify token, a failing or vanished site, a post
published without a rebuild) and mended after a while, so drift appears and
clears while you watch. Each drift is announced to local Slack, PagerDuty,
email (SMTP), webhook and NATS receivers, which print a line per message;
at exit the audit chain is verified.

It serves on --listen (or BLACKWELL_LISTEN; default 127.0.0.1:8080) and prints
the commands and URLs for that address:

  blackwell status --server http://LISTEN     # in another terminal
  blackwell drift acme-corp --server http://LISTEN
  open http://LISTEN/metrics`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.bootstrapTokenFile = g.bootstrapFile // bootstrap.go
			if o.bootstrapTokenFile == "" {
				o.bootstrapTokenFile = defaultBootstrapFile(o.listen)
			}
			return runDemo(cmd.Context(), g.stdout, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", envOr("BLACKWELL_LISTEN", "127.0.0.1:8080"), "address of the HTTP API (BLACKWELL_LISTEN)")
	f.DurationVar(&o.faultEvery, "fault-every", 15*time.Second, "how often a fault is injected")
	f.DurationVar(&o.mendAfter, "mend-after", 30*time.Second, "how long a fault lasts")
	f.DurationVar(&o.interval, "interval", 5*time.Second, "scheduled pass interval of the demo policy")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until interrupted)")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary directory (store, config, log) at exit")
	return cmd
}

// demoStacks is the demo world.
var demoStacks = []sim.WorldStack{
	{ClientID: "acme-corp", StackID: "shop-prod", Environment: "prod", CMS: sim.CMSSanity, BuildFlavor: sim.FlavorNetlify},
	{ClientID: "globex", StackID: "storefront", Environment: "prod", CMS: sim.CMSContentful, BuildFlavor: sim.FlavorVercel},
	{ClientID: "initech", StackID: "docs", Environment: "staging", CMS: sim.CMSSanity, BuildFlavor: sim.FlavorCloudflare},
}

const demoPolicy = `---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: %s}
spec:
  schedule: {interval: %s}
  confirmation: {observations: 2, grace_period: 1s}
  auto_heal: %s
  content: {max_staleness: %s}
  notifications: {channels: [%s]}
`

// demoHealing is each demo client's auto_heal policy: one heals, one
// records what it would do (dry run), one only alerts.
var demoHealing = map[string]string{
	"acme-corp": "{enabled: true, max_attempts: 3, backoff_base: 5s, allowed_drift_types: [webhook_broken, integration_mismatch, resource_unhealthy, resource_missing, content_stale], require_approval: [resource_replacement]}",
	"globex":    "{enabled: true, mode: dry_run, allowed_drift_types: [webhook_broken, resource_unhealthy, content_stale]}",
	"initech":   "{enabled: false}",
}

// demo is a running demo: the world, the server and a builder.
type demo struct {
	out     io.Writer
	world   *sim.World
	srv     *server
	builder *build.Builder
	prefix  string // receiver prefix: {public_url}/v1/webhooks
	notices demoNotices
	notify  func(demoNotice) // demoOptions.onNotify

	mu sync.Mutex // serialises output lines
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	dir, cleanup, err := demoDir(o)
	if err != nil {
		return err
	}
	defer cleanup()
	d := &demo{out: out, notify: o.onNotify}

	// The receivers of the notification channels; each notification they
	// accept is printed.
	receivers, err := startDemoReceivers(ctx, o, d.notified)
	if err != nil {
		return fmt.Errorf("start notification receivers: %w", err)
	}
	defer receivers.Close()

	world, err := sim.NewWorld(demoStacks)
	if err != nil {
		return fmt.Errorf("start demo world: %w", err)
	}
	defer world.Close()

	// The receivers' address must be known before the server starts, so
	// that the fakes hold subscriptions to it from the first pass on.
	listen, err := concreteListen(o.listen)
	if err != nil {
		return err
	}
	d.world, d.prefix = world, "http://"+listen+"/v1/webhooks"
	world.Seed(d.prefix)

	logFile, err := os.Create(filepath.Join(dir, "blackwell.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	if err := d.startServer(ctx, o, dir, listen, receivers, logFile); err != nil {
		return err
	}
	defer d.srv.Shutdown(context.Background())
	d.printBanner(o, dir, receivers)
	d.run(ctx, o)
	fmt.Fprintln(out, "demo stopped")
	return nil
}

// demoDir is the demo's directory (store, config, log): o.dir, or a new
// temporary one that cleanup removes unless --keep.
func demoDir(o demoOptions) (dir string, cleanup func(), err error) {
	if o.dir != "" {
		return o.dir, func() {}, nil
	}
	if dir, err = os.MkdirTemp("", "blackwell-demo-"); err != nil {
		return "", nil, err
	}
	if o.keep {
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// demoConfig is the demo's blackwell.yaml: every stack of the world, the
// receivers' channels and each client's policy.
func demoConfig(world *sim.World, receivers *demoReceivers, o demoOptions) string {
	staleness := max(4*o.interval, 10*time.Second)
	var cfg strings.Builder
	cfg.WriteString("# Generated by blackwell demo: every binding points at a fake in internal/sim.\n")
	var clients []string
	for i, s := range world.Stacks {
		if i > 0 {
			cfg.WriteString("---\n")
		}
		cfg.WriteString(s.StackConfig())
		if !slices.Contains(clients, s.ClientID) {
			clients = append(clients, s.ClientID)
		}
	}
	channelDocs, channelRefs := receivers.config()
	cfg.WriteString(channelDocs)
	for _, c := range clients {
		heal := demoHealing[c]
		if heal == "" {
			heal = "{enabled: false}"
		}
		fmt.Fprintf(&cfg, demoPolicy, c, o.interval, heal, staleness, strings.Join(channelRefs, ", "))
	}
	return cfg.String()
}

// startServer writes the config and serves it on listen, over a store in
// dir, with the world's and the receivers' secrets; the builder triggers
// the fake build hooks.
func (d *demo) startServer(ctx context.Context, o demoOptions, dir, listen string, receivers *demoReceivers, logFile io.Writer) error {
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	if err := os.WriteFile(cfgPath, []byte(demoConfig(d.world, receivers, o)), 0o600); err != nil {
		return err
	}
	env := d.world.Env()
	maps.Copy(env, receivers.env())
	getenv := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	srv, err := startServer(ctx, serverOptions{
		configPath: cfgPath, configRequired: true, listen: listen,
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"),
		logOut:   logFile, logLevel: slog.LevelInfo, getenv: getenv,
		notifyChannels:     receivers.channelOptions(),
		bootstrapTokenFile: o.bootstrapTokenFile,
	})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(logFile, logOptions(nil)))
	d.srv = srv
	d.builder = newBuilder(srv.store, getenv, log, false, func(c, s string) { srv.loop.Trigger(c, s, reconcile.TriggerEvent) }, nil)
	return nil
}

// printBanner says what runs where and which commands to try.
func (d *demo) printBanner(o demoOptions, dir string, receivers *demoReceivers) {
	clients := map[string]bool{}
	for _, s := range d.world.Stacks {
		clients[s.ClientID] = true
	}
	fmt.Fprintf(d.out, `blackwell demo: %d stacks of %d clients, each with a CMS, a Shopify shop, a build hook and a site (all fakes).
  dashboard  %[8]s
  API        http://%[3]s/v1/stacks
  metrics    http://%[3]s/metrics
  watch      blackwell status --server http://%[3]s
  details    blackwell drift acme-corp --server http://%[3]s
  files      %[4]s (config, store, JSON log)
A fault is injected every %[5]s and mended after %[6]s (if not healed before).
acme-corp heals under policy (a vanished site waits for: blackwell approvals / approve ID),
globex records what it would heal (dry run), initech only alerts. Ctrl-C stops.
%[7]s
`, len(d.world.Stacks), len(clients), d.srv.Addr(), dir, o.faultEvery, o.mendAfter, receivers.describe(), d.srv.dashboardURL())
}

// run builds every site, then injects and mends faults and prints what
// the server does until ctx ends; then it verifies the audit chain.
func (d *demo) run(ctx context.Context, o demoOptions) {
	for _, s := range d.world.Stacks {
		if _, err := d.builder.Trigger(ctx, d.ssg(s)); err != nil {
			d.printf("build  %s/%s: %v", s.ClientID, s.StackID, err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.faults(ctx, o) }()
	go func() { defer wg.Done(); d.watch(ctx) }()
	wg.Wait()
	// Every step of every drift is in the hash-chained audit log.
	if n, seq, hash, err := verifyDemoAudit(context.WithoutCancel(ctx), d.srv.store); err != nil {
		d.printf("audit  chain does not verify: %v", err)
	} else {
		d.printf("audit  chain verified: %d entries, head %d:%s", n, seq, hash)
	}
}

// notified prints a notification a receiver accepted.
func (d *demo) notified(n sim.Notification) {
	notice, err := d.notices.read(n)
	if err != nil {
		d.printf("notify %s: unreadable notification: %v", n.Receiver, err)
		return
	}
	d.printf("%s", notice.line())
	if d.notify != nil {
		d.notify(notice)
	}
}

// concreteListen returns addr with a free port in place of port 0.
func concreteListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usageError{fmt.Errorf("--listen %q: %w", addr, err)}
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%s  %s\n", clock(), fmt.Sprintf(format, args...))
}

// ssg is the stack's build binding, as its config declares it.
func (d *demo) ssg(s *sim.StackWorld) provider.Binding {
	return provider.Binding{ClientID: s.ClientID, StackID: s.StackID, Role: config.RoleSSG, Name: "nextjs",
		Build: &config.Build{Driver: build.DriverHook, URL: config.NewSecret(s.Build.URL())}}
}

// demoFault is a fault of the world and how it is mended.
type demoFault struct {
	name   string
	inject func(ctx context.Context, s *sim.StackWorld) (string, error)
	mend   func(ctx context.Context, s *sim.StackWorld) (string, error)
}

func (d *demo) catalogue() []demoFault {
	site := func(m sim.Mode) func(context.Context, *sim.StackWorld) (string, error) {
		return func(_ context.Context, s *sim.StackWorld) (string, error) { return "", s.Site.SetMode(m) }
	}
	return []demoFault{
		{"Shopify webhook products/update deleted",
			func(_ context.Context, s *sim.StackWorld) (string, error) {
				for _, h := range s.Shop.Webhooks() {
					if h.Topic == "products/update" {
						s.Shop.DeleteWebhook(h.ID)
						return "", nil
					}
				}
				return "", fmt.Errorf("no products/update webhook")
			},
			func(_ context.Context, s *sim.StackWorld) (string, error) {
				for _, h := range s.Shop.Webhooks() {
					if h.Topic == "products/update" {
						return "already healed", nil
					}
				}
				id := s.Shop.AddWebhook("products/update", s.Receiver(d.prefix, "shopify"))
				return fmt.Sprintf("shop re-created webhook %d", id), nil
			}},
		{"Shopify access token revoked",
			func(_ context.Context, s *sim.StackWorld) (string, error) { s.Shop.RevokeToken(); return "", nil },
			func(_ context.Context, s *sim.StackWorld) (string, error) { s.Shop.RestoreToken(); return "", nil }},
		{"site answers 503", site(sim.ModeFailing), site(sim.ModeHealthy)},
		{"site answers 404", site(sim.ModeMissing), site(sim.ModeHealthy)},
		{"site is down", site(sim.ModeDown), site(sim.ModeHealthy)},
		{"post published, site not rebuilt", d.publish,
			func(ctx context.Context, s *sim.StackWorld) (string, error) {
				res, err := d.builder.Trigger(ctx, d.ssg(s))
				if err != nil {
					return "", err
				}
				return "rebuilt: " + res.Detail, nil
			}},
	}
}

// publish makes the stack's CMS send a signed content webhook for a post
// to our receiver. Where the receiver does not take it, the event is
// recorded directly, as the receiver would have.
func (d *demo) publish(ctx context.Context, s *sim.StackWorld) (string, error) {
	now := time.Now().UTC()
	id := "post-" + uuid.NewString()[:8]
	var results []sim.DeliveryResult
	switch {
	case s.Sanity != nil:
		doc, _ := json.Marshal(map[string]any{"_id": id, "_type": "post", "_rev": uuid.NewString()[:12],
			"_updatedAt": now.Format(time.RFC3339Nano), "title": "Spring sale"})
		results = s.Sanity.Deliver(ctx, "update", doc)
	case s.Contentful != nil:
		doc, _ := json.Marshal(map[string]any{"sys": map[string]any{"id": id, "type": "Entry", "version": 2,
			"contentType": map[string]any{"sys": map[string]any{"type": "Link", "linkType": "ContentType", "id": "post"}},
			"environment": map[string]any{"sys": map[string]any{"id": "master", "type": "Link", "linkType": "Environment"}},
			"updatedAt":   now.Format(time.RFC3339Nano)}, "fields": map[string]any{"title": map[string]any{"en-US": "Spring sale"}}})
		results = s.Contentful.Deliver(ctx, "Entry.publish", doc)
	}
	for _, r := range results {
		if r.OK() {
			return fmt.Sprintf("signed %s webhook delivered (%d)", s.CMSName(), r.Status), nil
		}
	}
	_, err := d.srv.store.InsertEvents(ctx, []store.Event{{
		EventID: uuid.NewString(), ClientID: s.ClientID, StackID: s.StackID, ProviderName: s.CMSName(),
		EventType: "content.updated", ContentID: id, ContentType: "post", Timestamp: now, Environment: s.Environment,
		Payload: json.RawMessage(`{"demo":true}`), ReceivedAt: now, TTLTimestamp: now.Add(24 * time.Hour).Unix(),
	}})
	if err != nil {
		return "", err
	}
	d.srv.loop.Trigger(s.ClientID, s.StackID, reconcile.TriggerEvent)
	return "event recorded directly (receiver did not take the delivery)", nil
}

// faults breaks and mends the world on a timer, one fault per stack at a
// time.
func (d *demo) faults(ctx context.Context, o demoOptions) {
	catalogue := d.catalogue()
	if o.faultName != "" {
		i := slices.IndexFunc(catalogue, func(f demoFault) bool { return f.name == o.faultName })
		if i < 0 {
			d.printf("fault  no fault named %q", o.faultName)
			return
		}
		catalogue = catalogue[i : i+1]
	}
	injected := 0
	busy := map[*sim.StackWorld]bool{}
	var mu sync.Mutex
	var mends sync.WaitGroup
	defer mends.Wait()
	tick := time.NewTicker(o.faultEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if o.faultLimit > 0 && injected >= o.faultLimit {
			continue
		}
		mu.Lock()
		var free []*sim.StackWorld
		for _, s := range d.world.Stacks {
			if !busy[s] && (o.faultStack == "" || o.faultStack == s.ClientID+"/"+s.StackID) {
				free = append(free, s)
			}
		}
		if len(free) == 0 {
			mu.Unlock()
			continue
		}
		s := free[rand.IntN(len(free))]
		f := catalogue[rand.IntN(len(catalogue))]
		busy[s] = true
		mu.Unlock()
		note, err := f.inject(ctx, s)
		if err != nil {
			d.printf("fault  %s/%s: %s: %v", s.ClientID, s.StackID, f.name, err)
			mu.Lock()
			busy[s] = false
			mu.Unlock()
			continue
		}
		d.printf("fault  %s/%s: %s%s", s.ClientID, s.StackID, f.name, suffix(note))
		injected++
		mends.Add(1)
		go func() {
			defer mends.Done()
			t := time.NewTimer(o.mendAfter)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if note, err := f.mend(ctx, s); err != nil {
				d.printf("mend   %s/%s: %s: %v", s.ClientID, s.StackID, f.name, err)
			} else {
				d.printf("mend   %s/%s: %s fixed%s", s.ClientID, s.StackID, f.name, suffix(note))
			}
			mu.Lock()
			busy[s] = false
			mu.Unlock()
		}()
	}
}

func suffix(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

// watch prints each stack's status when it changes, and each heal
// attempt's outcome.
func (d *demo) watch(ctx context.Context) {
	last := map[string]string{}
	heals := map[string]store.HealStatus{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		recs, _, err := d.srv.store.ListStates(ctx, "", "", 0)
		if err != nil {
			continue
		}
		for _, r := range recs {
			var codes []string
			for _, dr := range r.DriftDetails {
				codes = append(codes, fmt.Sprintf("%s(%s, %s)", dr.Code, dr.Component, dr.Severity))
			}
			line := string(r.Status)
			if len(codes) > 0 {
				line += ": " + strings.Join(codes, ", ")
			}
			if r.LastVerified == nil || last[r.Key()] == line {
				continue
			}
			last[r.Key()] = line
			d.printf("status %s/%s %s", r.ClientID, r.StackID, line)
		}
		q := store.HealQuery{Since: time.Now().Add(-time.Hour), Limit: store.MaxLimit}
		attempts, err := store.All(func(cursor store.Page) ([]store.HealAttempt, store.Page, error) {
			q.Cursor = cursor
			return d.srv.store.ListHeals(ctx, q)
		})
		if err != nil {
			continue
		}
		for _, a := range attempts {
			if heals[a.ID] == a.Status || a.Status == store.HealRunning {
				continue
			}
			heals[a.ID] = a.Status
			d.printf("heal   %s/%s %s %s of %s: %s%s", a.ClientID, a.StackID, a.Action, a.Code, a.Component, a.Status, suffix(orString(a.Error, a.Detail)))
		}
		approvals, _, err := d.srv.store.ListApprovals(ctx, store.ApprovalQuery{Status: []store.ApprovalStatus{store.ApprovalPending}, Limit: 100})
		if err != nil {
			continue
		}
		for _, a := range approvals {
			if _, seen := heals[a.ID]; !seen {
				heals[a.ID] = "pending"
				d.printf("asks   %s/%s %s of %s needs approval (%s): blackwell approve %s", a.ClientID, a.StackID, a.Action, a.Component, a.Class, a.ID)
			}
		}
	}
}

func orString(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func clock() string { return time.Now().Format("15:04:05") }
