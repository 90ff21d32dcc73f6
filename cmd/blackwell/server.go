package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/heal"
	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// serverOptions are the settings of a running server (serve and demo).
type serverOptions struct {
	configPath string
	// configRequired: a missing config file is an error (it was named
	// explicitly); otherwise the server runs on what the store holds.
	configRequired  bool
	listen          string
	storeURL        string
	publicURL       string
	workers         int
	shutdownTimeout time.Duration
	eventTTLSweep   time.Duration
	// historyRetention bounds how long reconciliation results are kept
	// (default 7 days: 10,000 stacks every 5 minutes write 2.9M a day).
	historyRetention time.Duration
	// auditRetention bounds how long audit entries are kept (0: for ever);
	// older ones are pruned behind a checkpoint signed with auditKeyFile
	// (server_audit.go).
	auditRetention time.Duration
	auditKeyFile   string
	// auditSignInterval is how often the chain's head is signed with
	// auditKeyFile when it moved (0: never; server_audit.go).
	auditSignInterval time.Duration
	// eventRetention is how long events are kept (their ttl_timestamp).
	eventRetention time.Duration
	// webhookMaxBody and webhookMaxInFlight bound webhook deliveries: a
	// larger body is 413, more at once is 429.
	webhookMaxBody     int64
	webhookMaxInFlight int
	// webhookTriggerEvery paces the passes deliveries ask for, per stack.
	webhookTriggerEvery time.Duration
	// heal tunes heal execution (tests shorten the breaker and approval
	// timings); its Actions are always the drivers' and the builder's.
	heal reconcile.HealOptions
	// leaseTTL is how long a replica's heartbeat and shard leases last
	// without renewal (server_cluster.go).
	leaseTTL time.Duration
	// pprofListen, when set, serves net/http/pprof there (server_pprof.go).
	pprofListen string
	// bootstrapTokenFile is where the bootstrap token is written while the
	// store holds no API token (bootstrap.go); empty: it is kept in memory
	// only (server.bootstrapToken, for tests).
	bootstrapTokenFile string
	// allowedHosts are more host names writes may name in Host and Origin
	// (besides loopback, the listen host and the public URL's host).
	allowedHosts []string
	// metricsAuth makes /metrics need a viewer token.
	metricsAuth bool
	// notifyChannels are the endpoints and TLS roots notification channels
	// use instead of the real services' (the demo's local receivers).
	notifyChannels notify.ChannelOptions
	// tlsCert and tlsKey, both or neither, serve HTTPS (server_tls.go).
	tlsCert, tlsKey string
	// egress is the operator's egress allowlist (--egress-allow), checked
	// by every connection made for stacks and channels; nil allows all.
	egress *egress.Policy

	logLevel slog.Level
	logOut   io.Writer
	getenv   func(string) (string, bool)
	// tenancy: command builds, credential hosts, client variable names
	// (tenancy.go).
	tenancy tenancyFlags
}

// server is blackwell serve: store, desired-state service, reconcile loop,
// HTTP API, wired explicitly.
type server struct {
	opts     serverOptions
	log      *slog.Logger
	store    store.Store
	state    *state.Service
	loop     *reconcile.Reconciler
	notify   *notifications
	pruner   *audit.Pruner     // nil: audit entries are kept
	signer   *audit.HeadSigner // nil: no signed heads
	http     *http.Server
	pprof    *http.Server // nil unless --pprof-listen
	listener net.Listener
	certs    *certReloader // nil: plain HTTP
	// bootstrapToken acts as an admin token until the first API token is
	// created; empty once one exists (bootstrap.go).
	bootstrapToken string
	stopOnce       sync.Once
	bg             sync.WaitGroup
	bgStop         context.CancelFunc
	// cluster runs this replica's membership; clusterStop ends it (the
	// shards are released) after the loop stopped.
	cluster     sync.WaitGroup
	clusterStop context.CancelFunc
}

// openStore opens the store named by a URL: sqlite://PATH (or a bare path),
// or postgres://... (postgresql://...), whose parameters are documented in
// package postgres (pool_max_conns, statement_timeout, sslmode, ...).
func openStore(ctx context.Context, url string) (store.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		return sqlite.Open(ctx, strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err := postgres.Open(ctx, url)
		if err != nil {
			return nil, err
		}
		return st, nil
	case strings.Contains(url, "://"):
		// Only the scheme: the rest of a URL may hold a password.
		scheme, _, _ := strings.Cut(url, "://")
		return nil, usageError{fmt.Errorf("unknown store URL scheme %q: want sqlite://PATH or postgres://...", scheme)}
	default:
		return sqlite.Open(ctx, url)
	}
}

// startServer opens the store, applies the config, starts the reconcile
// loop and the HTTP server. Shutdown stops them in reverse order.
func startServer(ctx context.Context, opts serverOptions) (_ *server, err error) {
	if opts.getenv == nil {
		opts.getenv = os.LookupEnv
	}
	if opts.logOut == nil {
		opts.logOut = os.Stderr
	}
	log := slog.New(slog.NewJSONHandler(opts.logOut, &slog.HandlerOptions{Level: opts.logLevel}))
	s := &server{opts: opts, log: log}

	rules, err := opts.tenancy.fileRules()
	if err != nil {
		return nil, err
	}
	// Parse the config before touching the store: a bad file refuses to
	// start and changes nothing.
	cfg, err := s.loadConfig()
	if err != nil {
		return nil, err
	}

	st, err := openStore(ctx, opts.storeURL)
	if err != nil {
		return nil, err
	}
	s.store = st
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	auditPublicKey, err := s.setupAudit()
	if err != nil {
		return nil, err
	}

	if s.certs, err = loadTLS(opts.tlsCert, opts.tlsKey); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.listen, err)
	}
	s.listener = ln
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	publicURL := strings.TrimRight(opts.publicURL, "/")
	if publicURL == "" {
		publicURL = s.scheme() + "://" + ln.Addr().String()
	}
	if err := s.setupBootstrap(ctx); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := reconcile.NewMetrics(reg)

	var loop *reconcile.Reconciler
	// The webhook gateway exists before the state service, whose OnChange
	// (already during the apply below) drops the gateway's cached
	// bindings of the client; it triggers passes of the loop, which runs
	// before the first delivery is served.
	gateway := ingest.New(ingest.Options{
		Store:        st,
		Trigger:      func(c, k string) { loop.Trigger(c, k, reconcile.TriggerEvent) },
		Getenv:       opts.getenv,
		Registerer:   reg,
		Logger:       log,
		MaxBodyBytes: opts.webhookMaxBody,
		MaxInFlight:  opts.webhookMaxInFlight,
		Retention:    opts.eventRetention,
		// A lone delivery triggers a pass at once; a flood, one per
		// stack per interval.
		TriggerInterval: opts.webhookTriggerEvery,
	})
	s.state = state.New(st, state.Options{
		Logger:          log,
		MetricsEndpoint: publicURL + "/metrics",
		OnChange: func(c, k string) {
			gateway.Invalidate(c, k)
			loop.Trigger(c, k, reconcile.TriggerConfig)
		},
	})
	events, err := bus.New(bus.Options{Registerer: reg}) // drift, heal and pass events for /v1/stream
	if err != nil {
		return nil, err
	}
	// clu is this replica's membership, below. The holder of shard 0 runs
	// the notification feed; each channel is sent by the holder of its
	// shard (notify.ChannelShard).
	var clu *cluster
	notes, err := newNotifications(reg, log, publicURL, st, events, func(shard int) bool { return clu != nil && clu.membership.Holds(shard) })
	if err != nil {
		return nil, err
	}
	s.notify = notes
	notes.channels = egressChannels(opts.notifyChannels, opts.egress)
	providers := newProviderRegistry(opts.getenv, log, opts.egress)
	clu = newCluster(st, opts.leaseTTL, log, reg, func(ctx context.Context, shards []int) {
		// Listing the stacks of many shards takes seconds at 100k stacks:
		// not on the goroutine that renews the leases.
		go func() {
			if err := loop.EnqueueShards(ctx, shards); err != nil && ctx.Err() == nil {
				log.Warn("enqueue the stacks of claimed shards", "error", err)
			}
		}()
	})
	notes.agreement.replica = clu.membership.ID()
	if _, shared := st.(*postgres.Store); shared {
		notes.agreement.others = liveOthers(st, clu.membership.ID()) // notifications_channels.go
	}
	builder := newBuilder(st, opts.getenv, log, opts.tenancy.allowCommandBuilds, func(c, k string) { loop.Trigger(c, k, reconcile.TriggerEvent) }, opts.egress)
	healOpts := opts.heal
	healOpts.Actions = heal.New(heal.Options{Registry: providers, Builder: builder, ReceiverPrefix: publicURL + "/v1/webhooks"})
	healOpts.OnHeal = notes.OnHeal // AutoHealEvents on the bus
	loop = reconcile.New(reconcile.Options{
		Heal:           healOpts,
		OnPass:         notes.OnPass,
		Store:          st,
		Policies:       s.state,
		Prober:         probe.New(probe.Options{Egress: opts.egress}),
		Providers:      providers,
		Metrics:        metrics,
		Logger:         log,
		Workers:        opts.workers,
		ReceiverPrefix: publicURL + "/v1/webhooks",
		Ownership:      clu.membership,
		Forward:        clu.forward,
	})
	s.loop = loop
	watch := newStoreWatch(st, log, reg, loop) // store_watch.go: /readyz, resume after a store outage

	if cfg != nil {
		// Channels other than the running replicas' refuse the start
		// before anything is applied (notifications_channels.go).
		if err := notes.checkChannelsAtStart(ctx, cfg); err != nil {
			return nil, err
		}
		res, err := s.state.Apply(ctx, cfg, "config:"+opts.configPath)
		if err != nil {
			return nil, fmt.Errorf("apply %s: %w", opts.configPath, err)
		}
		s.logApply(res)
		if err := notes.Configure(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if err := notes.Start(ctx); err != nil {
		return nil, err
	}
	// Claim this replica's shards before the loop starts on them.
	clusterCtx, clusterStop := context.WithCancel(context.WithoutCancel(ctx))
	s.clusterStop = clusterStop
	defer func() {
		if err != nil {
			clusterStop()
			s.cluster.Wait()
		}
	}()
	if err := clu.start(clusterCtx, &s.cluster, loop); err != nil {
		return nil, fmt.Errorf("claim shards: %w", err)
	}
	if err := loop.Start(ctx); err != nil {
		return nil, err
	}

	handler := api.New(api.Options{
		AuditPublicKey: auditPublicKey, // server_audit.go

		Store:      st,
		State:      s.state,
		Reconciler: loop,
		Metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Ready:      watch.Ready,
		Logger:     log,
		Version:    buildVersion(),
		Getenv:     opts.getenv,
		Webhooks:   gateway,
		Events:     events,
		OnConfig:   notes.Configure,
		Egress:     opts.egress, // client-scoped writes may target what it lists

		CredentialHosts:    rules.CredentialHosts,
		ClientSecretPrefix: opts.tenancy.clientSecretPrefix,
		Destinations:       credentialDestinations(providers),

		BootstrapToken: s.bootstrapToken,
		AllowedHosts:   append([]string{ln.Addr().String(), publicURL}, opts.allowedHosts...),
		MetricsAuth:    opts.metricsAuth,
	})
	// Reading a request (headers and body) is bounded, so slow senders
	// cannot hold connections; there is no write timeout, which would cut
	// the event stream (/v1/stream). Webhook bodies have their own, shorter
	// bound (ingest.Options.BodyTimeout).
	s.http = &http.Server{
		Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: httpReadTimeout, IdleTimeout: httpIdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.http.RegisterOnShutdown(events.Close) // event streams end, so Shutdown need not wait for them
	serveHTTP := func() error { return s.http.Serve(ln) }
	if s.certs != nil {
		s.http.TLSConfig = s.certs.tlsConfig()
		serveHTTP = func() error { return s.http.ServeTLS(ln, "", "") }
	}
	go func() {
		if err := serveHTTP(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "error", err)
		}
	}()

	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bgStop = cancel
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.sweep(bgCtx)
	}()
	s.bg.Add(1)
	go func() { defer s.bg.Done(); watch.run(bgCtx) }()
	if s.signer != nil {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.signHeads(bgCtx) }()
	}
	if s.pprof, err = startPprof(opts.pprofListen, log); err != nil {
		return nil, err
	}
	s.warnOpenAPI()
	log.Info("blackwell serving", "listen", ln.Addr().String(), "tls", s.certs != nil, "store", redactStoreURL(opts.storeURL),
		"public_url", publicURL, "egress_allow", opts.egress.String(), "version", buildVersion())
	return s, nil
}

// Timeouts of the HTTP server: a whole request read, and an idle
// keep-alive connection.
const (
	httpReadTimeout = 30 * time.Second
	httpIdleTimeout = 2 * time.Minute
)

// Addr is the address the HTTP server listens on.
func (s *server) Addr() string { return s.listener.Addr().String() }

// loadConfig parses the config file, or returns nil when there is none and
// none was required.
func (s *server) loadConfig() (*config.Config, error) {
	if s.opts.configPath == "" {
		return nil, nil
	}
	if _, err := os.Stat(s.opts.configPath); errors.Is(err, fs.ErrNotExist) && !s.opts.configRequired {
		s.log.Warn("no config file; serving what the store holds", "config", s.opts.configPath)
		return nil, nil
	}
	rules, err := s.opts.tenancy.fileRules()
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadWith(s.opts.configPath, s.opts.getenv, rules)
	if err != nil {
		return nil, fmt.Errorf("config refused, nothing applied:\n%w", err)
	}
	return cfg, nil
}

// Reload re-reads the config file and applies it exactly as apply does. A
// config that fails validation is refused whole; the running state stays.
func (s *server) Reload(ctx context.Context) error {
	s.reloadCertificate() // server_tls.go: logs a failure, keeps the old certificate
	cfg, err := s.loadConfig()
	if err != nil || cfg == nil {
		return err
	}
	res, err := s.state.Apply(ctx, cfg, "config:"+s.opts.configPath)
	if err != nil {
		return fmt.Errorf("apply %s: %w", s.opts.configPath, err)
	}
	s.logApply(res)
	return s.notify.Configure(ctx, cfg)
}

func (s *server) logApply(res []store.ApplyResult) {
	changed := 0
	for _, r := range res {
		if r.Changed {
			changed++
			s.log.Info("desired state applied", "client_id", r.ClientID, "stack_id", r.StackID, "state_version", r.Version, "created", r.Created)
		}
	}
	s.log.Info("config applied", "config", s.opts.configPath, "stacks", len(res), "changed", changed)
}

// sweep deletes expired events and reconciliation results older than the
// history retention, in bounded batches, so a large backlog never holds the
// write lock for long.
func (s *server) sweep(ctx context.Context) {
	every := s.opts.eventTTLSweep
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		retention := s.opts.historyRetention
		if retention <= 0 {
			retention = 7 * 24 * time.Hour
		}
		s.sweepBatches(ctx, "expired events", func(ctx context.Context) (int, error) {
			return s.store.DeleteExpiredEvents(ctx, time.Now(), 1000)
		})
		s.sweepBatches(ctx, "old reconciliation results", func(ctx context.Context) (int, error) {
			return s.store.DeleteReconciliationsBefore(ctx, time.Now().Add(-retention), 1000)
		})
		s.sweepAudit(ctx)
	}
}

// sweepBatches runs a bounded delete until a batch comes back short.
func (s *server) sweepBatches(ctx context.Context, what string, del func(context.Context) (int, error)) {
	for {
		n, err := del(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn("sweep "+what, "error", err)
			}
			return
		}
		if n > 0 {
			s.log.Debug("swept "+what, "count", n)
		}
		if n < 1000 {
			return
		}
	}
}

// Shutdown stops taking requests and work, lets passes in flight finish
// within the shutdown timeout (then abandons them: each pass commits
// atomically, so nothing committed is lost) and closes the store.
func (s *server) Shutdown(ctx context.Context) error {
	var errs []error
	s.stopOnce.Do(func() {
		timeout := s.opts.shutdownTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop http: %w", err))
		}
		if s.pprof != nil {
			_ = s.pprof.Close()
		}
		if err := s.loop.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
		s.clusterStop() // releases this replica's shards to the others
		s.cluster.Wait()
		if err := s.notify.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop notifications: %w", err))
		}
		s.bgStop()
		s.bg.Wait()
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		s.log.Info("blackwell stopped")
	})
	return errors.Join(errs...)
}
