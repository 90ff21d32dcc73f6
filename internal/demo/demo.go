package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/reconcile"
	bwserver "github.com/blackwellio/blackwell/internal/server"
	"github.com/blackwellio/blackwell/internal/sim"
)

// Options tune the demo world's clock and say where it runs.
type Options struct {
	// Listen is the API's address; port 0 picks a free port.
	Listen     string
	FaultEvery time.Duration // how often a fault is injected
	MendAfter  time.Duration // how long a fault lasts
	Interval   time.Duration // scheduled pass interval of the demo policy
	Duration   time.Duration // stop after this long (0: when ctx ends)
	// Keep keeps the temporary directory (store, config, log) at exit.
	Keep bool

	// FaultName and FaultStack ("client/stack") pin the fault injected and
	// where (empty: random); FaultLimit stops injecting after that many
	// faults (0: no limit). Tests use them.
	FaultName, FaultStack string
	FaultLimit            int
	// NATSURL and NATSSubject are where the nats channel publishes
	// (defaults nats://127.0.0.1:4222 and blackwell.drift-events).
	NATSURL, NATSSubject string
	// Dir, when set, is used (and kept) instead of a temporary directory.
	Dir string
	// BootstrapTokenFile is where the server writes its bootstrap token
	// (empty: nowhere).
	BootstrapTokenFile string
	// OnNotify, when set, sees every notification a receiver got.
	OnNotify func(Notice)

	// Version is the version the server reports.
	Version string
	// LogHandler makes the handler of the demo's JSON log file (nil:
	// slog's JSON handler at level info).
	LogHandler func(io.Writer) slog.Handler
}

// worldStacks is the demo world.
func worldStacks() []sim.WorldStack {
	return []sim.WorldStack{
		// acme-corp's shop is one application in three environments
		// (release.go).
		{ClientID: "acme-corp", StackID: "shop-dev", Environment: "dev", CMS: sim.CMSSanity, BuildFlavor: sim.FlavorNetlify},
		{ClientID: "acme-corp", StackID: "shop-staging", Environment: "staging", CMS: sim.CMSSanity, BuildFlavor: sim.FlavorNetlify},
		{ClientID: "acme-corp", StackID: "shop-prod", Environment: "prod", CMS: sim.CMSSanity, BuildFlavor: sim.FlavorNetlify},
		{ClientID: "globex", StackID: "storefront", Environment: "prod", CMS: sim.CMSContentful, BuildFlavor: sim.FlavorVercel},
		{ClientID: "initech", StackID: "docs", Environment: "staging", CMS: sim.CMSSanity, BuildFlavor: sim.FlavorCloudflare},
	}
}

const policyDoc = `---
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

// healing is a demo client's auto_heal policy: one heals, one records
// what it would do (dry run), one only alerts.
func healing(clientID string) string {
	switch clientID {
	case "acme-corp":
		return "{enabled: true, max_attempts: 3, backoff_base: 5s, allowed_drift_types: [webhook_broken, integration_mismatch, resource_unhealthy, resource_missing, content_stale], require_approval: [resource_replacement]}"
	case "globex":
		return "{enabled: true, mode: dry_run, allowed_drift_types: [webhook_broken, resource_unhealthy, content_stale]}"
	}
	return "{enabled: false}"
}

// session is a running demo: the world, the server and a builder.
type session struct {
	out     io.Writer
	world   *sim.World
	srv     *bwserver.Server
	builder *build.Builder
	prefix  string // receiver prefix: {public_url}/v1/webhooks
	notices notices
	notify  func(Notice) // Options.OnNotify

	mu sync.Mutex // serialises output lines
}

// Run runs the demo, printing what happens to out, until ctx ends or
// o.Duration passes. An unusable o.Listen is a server.UsageError.
func Run(ctx context.Context, out io.Writer, o Options) error {
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	dir, cleanup, err := workDir(o)
	if err != nil {
		return err
	}
	defer cleanup()
	d := &session{out: out, notify: o.OnNotify}

	// The receivers of the notification channels; each notification they
	// accept is printed.
	recv, err := startReceivers(ctx, o, d.notified)
	if err != nil {
		return fmt.Errorf("start notification receivers: %w", err)
	}
	defer recv.Close()

	world, err := sim.NewWorld(worldStacks())
	if err != nil {
		return fmt.Errorf("start demo world: %w", err)
	}
	defer world.Close()

	// The receivers' address must be known before the server starts, so
	// that the fakes hold subscriptions to it from the first pass on.
	listen, err := concreteListen(o.Listen)
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
	if err := d.startServer(ctx, o, dir, listen, recv, logFile); err != nil {
		return err
	}
	defer d.srv.Shutdown(context.Background())
	d.printBanner(o, dir, recv)
	d.run(ctx, o)
	fmt.Fprintln(out, "demo stopped")
	return nil
}

// workDir is the demo's directory (store, config, log): o.Dir, or a new
// temporary one that cleanup removes unless o.Keep.
func workDir(o Options) (dir string, cleanup func(), err error) {
	if o.Dir != "" {
		return o.Dir, func() {}, nil
	}
	if dir, err = os.MkdirTemp("", "blackwell-demo-"); err != nil {
		return "", nil, err
	}
	if o.Keep {
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// configYAML is the demo's blackwell.yaml: every stack of the world, the
// receivers' channels and each client's policy.
func configYAML(world *sim.World, recv *receivers, o Options) string {
	staleness := max(4*o.Interval, 10*time.Second)
	var cfg strings.Builder
	cfg.WriteString("# Generated by blackwell demo: every binding points at a fake in internal/sim.\n")
	var clients []string
	for i, s := range world.Stacks {
		if i > 0 {
			cfg.WriteString("---\n")
		}
		if inApp(s) {
			cfg.WriteString(appStackConfig(s))
		} else {
			cfg.WriteString(s.StackConfig())
		}
		if !slices.Contains(clients, s.ClientID) {
			clients = append(clients, s.ClientID)
		}
	}
	fmt.Fprintf(&cfg, pipelineDoc, appClient, appName, 3*o.Interval)
	channelDocs, channelRefs := recv.config()
	cfg.WriteString(channelDocs)
	for _, c := range clients {
		fmt.Fprintf(&cfg, policyDoc, c, o.Interval, healing(c), staleness, strings.Join(channelRefs, ", "))
	}
	return cfg.String()
}

// startServer writes the config and serves it on listen, over a store in
// dir, with the world's and the receivers' secrets; the builder triggers
// the fake build hooks.
func (d *session) startServer(ctx context.Context, o Options, dir, listen string, recv *receivers, logFile io.Writer) error {
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML(d.world, recv, o)), 0o600); err != nil {
		return err
	}
	env := d.world.Env()
	maps.Copy(env, recv.env())
	getenv := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	var handler slog.Handler
	if o.LogHandler != nil {
		handler = o.LogHandler(logFile)
	} else {
		handler = slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	log := slog.New(handler)
	srv, err := bwserver.New(ctx, bwserver.Options{
		ConfigPath: cfgPath, ConfigRequired: true, Listen: listen,
		StoreURL:           "sqlite://" + filepath.Join(dir, "blackwell.db"),
		NotifyChannels:     recv.channelOptions(),
		BootstrapTokenFile: o.BootstrapTokenFile,
		Version:            o.Version, Logger: log, Getenv: getenv,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	d.srv = srv
	loop := srv.Loop()
	d.builder = bwserver.NewBuilder(srv.Store(), getenv, log, false, func(c, s string) { loop.Trigger(c, s, reconcile.TriggerEvent) }, nil)
	return nil
}

// printBanner says what runs where and which commands to try.
func (d *session) printBanner(o Options, dir string, recv *receivers) {
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
globex records what it would heal (dry run), initech only alerts.
acme-corp's shop is one application in dev, staging and prod: dev's release (a new content
type) is promoted to staging, then to prod after approval (blackwell promotions acme-corp/shop
--server http://%[3]s). Ctrl-C stops.
%[7]s
`, len(d.world.Stacks), len(clients), d.srv.Addr(), dir, o.FaultEvery, o.MendAfter, recv.describe(), d.srv.DashboardURL())
}

// run builds every site, then injects and mends faults and prints what
// the server does until ctx ends; then it verifies the audit chain.
func (d *session) run(ctx context.Context, o Options) {
	for _, s := range d.world.Stacks {
		if _, err := d.builder.Trigger(ctx, d.ssg(s)); err != nil {
			d.printf("build  %s/%s: %v", s.ClientID, s.StackID, err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); d.faults(ctx, o) }()
	go func() { defer wg.Done(); d.watch(ctx) }()
	go func() { defer wg.Done(); d.release(ctx, o) }() // release.go
	wg.Wait()
	// Every step of every drift is in the hash-chained audit log.
	if n, seq, hash, err := verifyAudit(context.WithoutCancel(ctx), d.srv.Store()); err != nil {
		d.printf("audit  chain does not verify: %v", err)
	} else {
		d.printf("audit  chain verified: %d entries, head %d:%s", n, seq, hash)
	}
}

// notified prints a notification a receiver accepted.
func (d *session) notified(n sim.Notification) {
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
		return "", bwserver.UsageError{Err: fmt.Errorf("--listen %q: %w", addr, err)}
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

func (d *session) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%s  %s\n", clock(), fmt.Sprintf(format, args...))
}

// ssg is the stack's build binding, as its config declares it.
func (d *session) ssg(s *sim.StackWorld) provider.Binding {
	return provider.Binding{ClientID: s.ClientID, StackID: s.StackID, Role: config.RoleSSG, Name: "nextjs",
		Build: &config.Build{Driver: build.DriverHook, URL: config.NewSecret(s.Build.URL())}}
}

func suffix(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

func orString(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func clock() string { return time.Now().Format("15:04:05") }
