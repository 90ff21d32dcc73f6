// Package server is what "blackwell serve" runs: the store, the
// desired-state service, the reconcile loop and its heal runner, this
// replica's membership and trigger forwarding, the notification feed, the
// webhook gateway and the HTTP API (TLS optional), the retention sweeps,
// the store watch, the audit head signer and pprof. New assembles them,
// Start runs them, Shutdown stops them in the reverse order. This file is
// the whole sequence; the parts are built in parts.go and in the files
// named beside the steps that use them (audit.go, notifications.go, ...).
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/provider/catalog"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/seal"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Server is a running (or assembled) blackwell serve.
type Server struct {
	opts Options
	log  *slog.Logger
	cfg  *config.Config // parsed by New, applied by Start

	store     store.Store
	refusals  *forecast.RefusalLog // refused deliveries, for forecasts (parts.go)
	listener  net.Listener
	certs     *certReloader     // nil: plain HTTP
	pruner    *audit.Pruner     // nil: audit entries are kept
	signer    *audit.HeadSigner // nil: no signed heads
	publicURL string
	// bootstrapToken acts as admin until the first API token (bootstrap.go).
	bootstrapToken string

	reg        *prometheus.Registry
	events     *bus.Bus  // drift, heal and pass events for /v1/stream
	tail       *bus.Tail // feeds events from the store's stream log (stream.go)
	gateway    *ingest.Gateway
	state      *state.Service
	notify     *notifications
	membership *reconcile.Membership
	forwarder  *reconcile.Forwarder
	loop       *reconcile.Reconciler
	promoter   *promote.Promoter
	apps       *promote.Environments
	// rollbacks rolls stacks back across providers (parts.go).
	rollbacks *rollback.Service
	watch     *reconcile.StoreWatch
	http      *http.Server
	cluster   sync.WaitGroup // the membership's goroutines and those it starts

	// stops undoes what has started, last first: at Shutdown, or when a
	// step of New or Start fails.
	stops    stopStack
	stopOnce sync.Once
}

// New parses the config, opens the store and the API's listener, makes
// the bootstrap token when the store holds no API token, and assembles
// every part. Nothing runs until Start. On error what was opened is closed.
func New(ctx context.Context, opts Options) (_ *Server, err error) {
	opts = opts.withDefaults()
	s := &Server{opts: opts, log: opts.Logger}
	defer func() {
		if err != nil {
			_ = s.stop(ctx)
		}
	}()
	// Parse the config before touching the store: a bad file refuses to
	// start and changes nothing.
	if s.cfg, err = s.loadConfig(); err != nil {
		return nil, err
	}
	if !opts.Replica {
		lock, err := lockSQLiteStore(opts.StoreURL) // store_lock_unix.go
		if err != nil {
			return nil, err
		}
		s.stops.push(func(context.Context) error { lock.release(); return nil })
	}
	if s.store, err = OpenStore(ctx, opts.StoreURL); err != nil {
		return nil, err
	}
	if s.store, err = seal.OpenFile(ctx, s.store, opts.EncryptionKeyFile, s.log); err != nil {
		return nil, err // (OpenFile closed the store)
	}
	s.stops.push(s.closeStore)
	auditKey, err := s.setupAudit() // audit.go: checkpoint key, pruner, head signer
	if err != nil {
		return nil, err
	}
	if s.certs, err = loadTLS(opts.TLSCert, opts.TLSKey); err != nil { // tls.go
		return nil, err
	}
	if s.listener, err = net.Listen("tcp", opts.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	s.stops.push(s.closeListener)
	s.publicURL = s.publicAddress()
	if err := s.setupBootstrap(ctx); err != nil { // bootstrap.go
		return nil, err
	}

	s.reg = newRegistry()
	if err := s.newEvents(); err != nil { // stream.go
		return nil, err
	}
	// The providers blackwell understands, one list for the gateway
	// (their webhooks) and the registry (their drivers).
	known := catalog.Providers()
	// The gateway and the state service's OnChange reach the loop through
	// the server's methods (parts.go); neither calls them before Start.
	s.refusals = forecast.NewRefusalLog()
	s.gateway = s.newGateway(known)
	s.state = state.New(s.store, state.Options{Logger: s.log, MetricsEndpoint: s.publicURL + "/metrics", OnChange: s.configChanged})
	// This replica's membership (which shards of stacks it reconciles)
	// and the forwarding of triggers of other replicas' stacks. On SQLite
	// there is one replica, which holds every shard.
	s.membership = reconcile.NewMembership(reconcile.MembershipOptions{Store: s.store, TTL: opts.LeaseTTL,
		Logger: s.log, Registerer: s.reg, OnGain: s.enqueueShards})
	s.forwarder = reconcile.NewForwarder(s.store, s.log)
	// The holder of shard 0 runs the notification feed; each channel is
	// sent by the holder of its shard (notify.ChannelShard).
	if s.notify, err = newNotifications(s.reg, s.log, s.publicURL, s.store, s.membership.Holds, predictPolicy(s.state)); err != nil {
		return nil, err
	}
	// Replicas agree on the channels (notifications_channels.go): on
	// PostgreSQL other live replicas may hold the recorded set.
	s.notify.agreement.replica = s.membership.ID()
	if _, ok := sqliteFile(opts.StoreURL); !ok {
		s.notify.agreement.others = liveOthers(s.store, s.membership.ID())
	}
	s.notify.channels = egressChannels(opts.NotifyChannels, opts.Egress)
	providers := newProviderRegistry(known, opts.Getenv, s.log, opts.Egress)
	// One cache of applications for the passes' divergence and for
	// auto-promotion.
	s.apps = &promote.Environments{Store: s.store}
	s.loop = s.newLoop(providers)
	// Only the replica holding a stack's shard carries out the promotions
	// into it; one started on another replica is handed over.
	s.promoter = promote.New(promote.Options{Store: s.store, State: s.state, Passes: s.loop, Logger: s.log, Apps: s.apps,
		Owns: s.membership.Owns, Handoff: s.handoff(promote.TriggerHandoff)})
	s.watch = reconcile.NewStoreWatch(s.store, s.log, s.reg, s.loop) // /readyz, resume after a store outage
	s.http = s.newHTTP(providers, auditKey)
	return s, nil
}

// Start applies the config, starts the notifications, claims this
// replica's shards, starts the loop and heal runner, serves the API and
// runs the sweeps, the store watch, the head signer and pprof. Each part
// pushes its stop as it starts; when a step fails, every part started
// before it is stopped and the store closed before Start returns.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = s.stop(ctx)
		}
	}()
	// The channels run from the first Configure on, the feed from Start.
	s.stops.push(s.notify.Stop)
	if s.cfg != nil {
		// Channels other than the running replicas' refuse the start
		// before anything is applied (notifications_channels.go).
		if err := s.notify.checkChannelsAtStart(ctx, s.cfg); err != nil {
			return err
		}
		if err := s.apply(ctx, s.cfg); err != nil { // config.go
			return err
		}
	}
	if err := s.notify.Start(ctx); err != nil {
		return err
	}
	// The event stream follows the stream log from its head on (older
	// events are replayed from the log).
	if err := s.tail.Start(ctx); err != nil {
		return err
	}
	s.stops.push(func(context.Context) error { s.tail.Stop(); return nil })
	// Claim this replica's shards before the loop starts on them.
	clusterCtx, clusterStop := context.WithCancel(context.WithoutCancel(ctx))
	s.stops.push(func(context.Context) error {
		clusterStop() // releases this replica's shards to the others
		s.cluster.Wait()
		return nil
	})
	if err := s.membership.Tick(clusterCtx); err != nil {
		return fmt.Errorf("claim shards: %w", err)
	}
	s.cluster.Go(func() { s.membership.Run(clusterCtx) })
	s.cluster.Go(func() { s.forwarder.Run(clusterCtx) })
	s.cluster.Go(func() { s.forwarder.Listen(clusterCtx, s.deliverTrigger) })
	if err := s.loop.Start(ctx); err != nil {
		return err
	}
	s.stops.push(s.loop.Stop)
	s.stops.push(s.serveHTTP()) // parts.go

	bgCtx, bgStop := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	s.stops.push(func(context.Context) error { bgStop(); bg.Wait(); return nil })
	bg.Go(func() { s.sweep(bgCtx) }) // sweep.go: events, results, audit entries
	bg.Go(func() { s.watch.Run(bgCtx) })
	// Promotions a stopped process left are resumed (or rolled back).
	bg.Go(func() { s.promoter.RunLoop(bgCtx, time.Minute); s.promoter.Wait() })
	// Rollbacks a stopped process left running are resumed, at start,
	// when shards are gained and every minute.
	bg.Go(func() { s.rollbacks.RunLoop(bgCtx, time.Minute) })
	if s.signer != nil {
		bg.Go(func() { s.signHeads(bgCtx) }) // audit.go
	}
	pprof, err := startPprof(s.opts.PprofListen, s.log) // pprof.go
	if err != nil {
		return err
	}
	if pprof != nil {
		s.stops.push(func(context.Context) error { _ = pprof.Close(); return nil })
	}
	s.warnOpenAPI()
	s.log.Info("blackwell serving", "listen", s.Addr(), "tls", s.certs != nil, "store", RedactStoreURL(s.opts.StoreURL),
		"public_url", s.publicURL, "egress_allow", s.opts.Egress.String(), "version", s.opts.Version)
	return nil
}

// Shutdown undoes what New and Start did, in reverse order: it stops
// pprof, the sweeps and the HTTP server, lets passes in flight finish
// within the shutdown timeout (then abandons them: each pass commits
// atomically, so nothing committed is lost), releases this replica's
// shards, stops the notifications and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		err = s.stop(ctx)
		s.log.Info("blackwell stopped")
	})
	return err
}
