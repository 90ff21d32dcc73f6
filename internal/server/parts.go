package server

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/compliance/timeline"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Timeouts of the HTTP server: a whole request read, and an idle
// keep-alive connection.
const (
	httpReadTimeout = 30 * time.Second
	httpIdleTimeout = 2 * time.Minute
)

// newRegistry is the registry /metrics serves, with Go's and the
// process's collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// newGateway is the webhook gateway: deliveries are committed to the store
// and trigger passes of their stacks.
func (s *Server) newGateway(providers []provider.Descriptor) *ingest.Gateway {
	return ingest.New(ingest.Options{
		Providers:    providers,
		Store:        s.store,
		Trigger:      s.triggerEvent,
		Getenv:       s.opts.Getenv,
		Registerer:   s.reg,
		Logger:       s.log,
		MaxBodyBytes: s.opts.WebhookMaxBody,
		MaxInFlight:  s.opts.WebhookMaxInFlight,
		Retention:    s.opts.EventRetention,
		// A lone delivery triggers a pass at once; a flood, one per
		// stack per interval.
		TriggerInterval: s.opts.WebhookTriggerEvery,
		OnDelivery:      s.refusals.Record, // streaks of refused deliveries, for forecasts
	})
}

// newLoop is the reconcile loop and its heal runner, healing through the
// provider drivers and the build runners.
func (s *Server) newLoop(providers *provider.Registry) *reconcile.Reconciler {
	prefix := s.publicURL + "/v1/webhooks"
	builder := NewBuilder(s.store, s.opts.Getenv, s.log, s.opts.Rules.CommandBuilds, s.triggerEvent, s.opts.Egress)
	// Heals that rebuild a pinned stack make its pinned deployment live
	// again; verified passes record known-good snapshots (internal/rollback).
	parts := rollback.NewParts(s.store, providers, builder, build.NewDeployClient(s.opts.Egress.HTTPClient(), 0), prefix,
		s.refusals.Recreated, s.log) // a re-created subscription restarts its refusal streak
	healOpts := s.opts.Heal
	healOpts.Actions = parts.Actions
	healOpts.OnHeal = s.notify.OnHeal // AutoHealEvents on the bus
	// Only the replica holding a stack's shard runs its rollbacks; one
	// asked on another replica is handed over (deliverTrigger).
	s.rollbacks = rollback.New(rollback.Options{Store: s.store, State: s.state, Registry: providers, Heal: parts.Actions,
		Pins: parts.Pins, Capturer: parts.Capturer, Logger: s.log, Verify: s.verifyRollback,
		Owns: s.membership.Owns, Handoff: s.handoff(rollback.TriggerHandoff)})
	return reconcile.New(reconcile.Options{
		Heal: healOpts,
		OnPass: func(res store.ReconciliationResult) {
			s.notify.OnPass(res)
			s.promoter.AfterPass(res) // auto-promotion (set before the loop starts)
		},
		Store:          s.store,
		Policies:       s.state,
		Prober:         probe.New(probe.Options{Egress: s.opts.Egress}),
		Providers:      providers,
		Metrics:        reconcile.NewMetrics(s.reg),
		Logger:         s.log,
		Workers:        workers(s.opts),
		ReceiverPrefix: prefix,
		Ownership:      s.membership,
		Forward:        s.forwarder.Forward,
		// Forecasts of drift, after each pass (internal/forecast).
		// Environment divergence of applications (internal/promote).
		Environments: s.apps,
		// Drift of an application's leading environment that a later
		// environment shares is forecast there.
		Forecasts: evaluator.New(evaluator.Options{Store: s.store, Refusals: s.refusals,
			Leading:     &promote.LeadingDrifts{Envs: s.apps, Store: s.store},
			Probes:      forecast.NewProbeHistory(24 * time.Hour),
			Domains:     &evaluator.Domains{Base: s.opts.RDAPBase, Client: s.opts.Egress.HTTPClient()},
			DNS:         &evaluator.DNS{Dial: s.opts.Egress.DialContext(nil)},
			Credentials: &evaluator.Credentials{},
			Content:     &evaluator.Content{Events: s.store},
			Metrics:     evaluator.NewMetrics(s.reg, s.store), Logger: s.log}),
		// The compliance rules, after each pass (internal/compliance).
		Compliance: timeline.NewRecorder(s.store, s.state.Engine, s.log),
		// Known-good snapshots, after each verified pass.
		Snapshots: parts.Recorder,
		// A rollback's hold that expired gives the host (Vercel) its
		// publishing back, as unpin does.
		Holds: &rollback.HoldWatch{Service: s.rollbacks, Logger: s.log},
	})
}

// verifyRollback runs the verification pass of a rollback. On a replica
// that does not own the stack it asks the owner for one instead (the
// rollback then reads the status the owner's passes leave).
func (s *Server) verifyRollback(ctx context.Context, clientID, stackID string) error {
	// Through the queue: a pass of the stack already queued or running
	// (the rollback's own config change triggers one) goes first, instead
	// of racing this one to commit (a revision conflict failed the
	// rollback's verification).
	_, err := s.loop.ReconcileWait(ctx, clientID, stackID, reconcile.TriggerManual)
	if errors.Is(err, reconcile.ErrNotOwner) {
		s.loop.Trigger(clientID, stackID, reconcile.TriggerManual)
		return nil
	}
	return err
}

// handoff forwards trigger to the replica that owns a stack: a promotion
// or rollback recorded here for it to carry out (deliverTrigger).
func (s *Server) handoff(trigger string) func(clientID, stackID string) {
	return func(clientID, stackID string) { s.forwarder.Forward(reconcile.Key(clientID, stackID), trigger) }
}

// deliverTrigger delivers a trigger another replica forwarded: a promotion
// or rollback handed over kicks the promoter or the rollbacks (each
// carries on only what this replica owns), anything else is a pass.
func (s *Server) deliverTrigger(key, trigger string) {
	if store.ListenStarted(key, trigger) {
		// Changes announced while this replica was not listening (before
		// it started, or over a lost connection) were not heard.
		s.forgetClient("")
		return
	}
	switch trigger {
	case promote.TriggerHandoff:
		s.promoter.Kick()
	case rollback.TriggerHandoff:
		s.rollbacks.Kick()
	case reconcile.TriggerConfig:
		s.forgetStack(reconcile.SplitKey(key))
		s.loop.TriggerLocal(key, trigger)
	default:
		s.loop.TriggerLocal(key, trigger)
	}
}

// newHTTP is the HTTP server of the API, the webhook receivers, /metrics
// and the dashboard.
func (s *Server) newHTTP(providers *provider.Registry, auditKey ed25519.PublicKey) *http.Server {
	handler := api.New(api.Options{
		AuditPublicKey: auditKey, // audit.go

		Store:      s.store,
		State:      s.state,
		Reconciler: s.loop,
		Rollbacks:  s.rollbacks,
		Metrics:    promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}),
		Gatherer:   s.reg, // the system dashboard's queue, lag and error figures
		Ready:      s.watch.Ready,
		Logger:     s.log,
		Version:    s.opts.Version,
		Getenv:     s.opts.Getenv,
		Webhooks:   s.gateway,
		Events:     s.events,
		Promotions: s.promoter,
		// Reported per stack with its policy's (history_retention.go).
		EventRetention: cmp.Or(s.opts.EventRetention, ingest.DefaultRetention), HistoryRetention: s.opts.HistoryRetention,
		OnConfig: s.notify.Configure,
		// Nothing is applied unless the channels build (config_check.go).
		CheckConfig: s.notify.Check,
		Egress:      s.opts.Egress, // client-scoped writes may target what it lists

		CredentialHosts:    s.opts.Rules.CredentialHosts,
		ClientSecretPrefix: s.opts.ClientSecretPrefix,
		Destinations:       credentialDestinations(providers),

		BootstrapToken: s.bootstrapToken,
		AllowedHosts:   append([]string{s.Addr(), s.publicURL}, s.opts.AllowedHosts...),
		MetricsAuth:    s.opts.MetricsAuth,
	})
	// Reading a request (headers and body) is bounded, so slow senders
	// cannot hold connections; there is no write timeout, which would cut
	// the event stream (/v1/stream). Webhook bodies have their own, shorter
	// bound (ingest.Options.BodyTimeout).
	readTimeout := s.opts.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = httpReadTimeout
	}
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: min(10*time.Second, readTimeout), ReadTimeout: readTimeout, IdleTimeout: httpIdleTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.events.Close) // event streams end, so Shutdown need not wait for them
	if s.certs != nil {
		srv.TLSConfig = s.certs.tlsConfig()
	}
	return srv
}

// serveHTTP serves the API on the listener and returns how to stop it.
func (s *Server) serveHTTP() func(context.Context) error {
	served := make(chan struct{})
	go func() {
		defer close(served)
		var err error
		if s.certs != nil {
			err = s.http.ServeTLS(s.listener, "", "")
		} else {
			err = s.http.Serve(s.listener)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "error", err)
		}
	}()
	return func(ctx context.Context) error {
		err := s.http.Shutdown(ctx)
		<-served
		if err != nil {
			return fmt.Errorf("stop http: %w", err)
		}
		return nil
	}
}

// publicAddress is Options.PublicURL, or http(s)://LISTEN.
func (s *Server) publicAddress() string {
	if u := strings.TrimRight(s.opts.PublicURL, "/"); u != "" {
		return u
	}
	return s.scheme() + "://" + s.Addr()
}

// triggerEvent asks for a pass of a stack whose events changed (a
// webhook delivery, a build's outcome).
func (s *Server) triggerEvent(clientID, stackID string) {
	s.loop.Trigger(clientID, stackID, reconcile.TriggerEvent)
}

// configChanged follows a change of a stack's desired state or policy:
// what this replica caches of the stack and its client goes, a pass is
// asked for, and the other replicas are told (deliverTrigger), which
// forget theirs at once rather than at their caches' expiry.
func (s *Server) configChanged(clientID, stackID string) {
	s.forgetStack(clientID, stackID)
	s.loop.Trigger(clientID, stackID, reconcile.TriggerConfig)
	s.forwarder.Forward(reconcile.Key(clientID, stackID), reconcile.TriggerConfig)
}

// forgetStack drops what this replica caches of a stack whose desired
// state or policy changed: the gateway's bindings of the stack, the
// client's applications and policies.
func (s *Server) forgetStack(clientID, stackID string) {
	s.gateway.Invalidate(clientID, stackID)
	s.forgetClient(clientID)
}

// forgetClient drops what this replica caches of a client's applications
// and policies (every client's for "").
func (s *Server) forgetClient(clientID string) {
	if s.apps != nil {
		s.apps.Invalidate(clientID)
	}
	s.state.ForgetPolicies(clientID)
}

// enqueueShards enqueues the stacks of shards this replica gained
// (reconcile.MembershipOptions.OnGain). Listing the stacks of many shards
// takes seconds at 100k stacks: not on the goroutine that renews the
// leases, and tracked so that Shutdown waits for it before the store
// closes.
func (s *Server) enqueueShards(ctx context.Context, shards []int) {
	// The promotions and rollbacks of the stacks gained are this
	// replica's to carry on now (their runner may have died).
	s.promoter.Kick()
	s.rollbacks.Kick()
	s.cluster.Go(func() {
		if err := s.loop.EnqueueShards(ctx, shards); err != nil && ctx.Err() == nil {
			s.log.Warn("enqueue the stacks of claimed shards", "error", err)
		}
	})
}

func (s *Server) closeStore(context.Context) error {
	if err := s.store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// closeListener closes the API's listener, when the HTTP server (which
// closes it at Shutdown) did not start.
func (s *Server) closeListener(context.Context) error {
	if err := s.listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close listener: %w", err)
	}
	return nil
}

// Addr is the address the HTTP server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Store is the server's store.
func (s *Server) Store() store.Store { return s.store }

// Promoter is the server's promoter (the demo starts promotions with it).
func (s *Server) Promoter() *promote.Promoter { return s.promoter }

// Loop is the server's reconcile loop.
func (s *Server) Loop() *reconcile.Reconciler { return s.loop }

// State is the server's desired-state service.
func (s *Server) State() *state.Service { return s.state }

// BootstrapToken is the bootstrap token (bootstrap.go); empty when the
// store held an API token at start.
func (s *Server) BootstrapToken() string { return s.bootstrapToken }

// Logger is the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }
