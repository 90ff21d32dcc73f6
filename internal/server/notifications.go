package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// notifications wires durable notification delivery. The feed
// (notify.Feed) tails the audit log, which every pass writes in its own
// transaction, from a cursor kept in the store, so a crash neither loses
// nor repeats a notification; its commits also write the drift entries'
// events to the stream log, which the event bus of every replica reads
// (stream.go). Channels are built from the configuration at start, on reload
// and on POST /v1/config (NotificationChannel documents and inline
// channels hold secrets and are not kept in the store); noise-control
// state is the feed's, kept in the store, so a reconfiguration or a
// restart does not announce open drift again.
//
// With several replicas the work is split by shard leases: the holder of
// shard 0 runs the feed (reads the log, plans and commits the deliveries
// of every channel), and each channel's deliveries are sent by the holder
// of that channel's shard (notify.ChannelShard), so that sending, like
// healing, is taken over by any replica when one dies, and one channel's
// deliveries still leave in order from one place.
type notifications struct {
	log       *slog.Logger
	metrics   *notify.Metrics
	feed      *notify.Feed
	channels  notify.ChannelOptions // overrides for every channel (Logger is set here)
	configure sync.Mutex            // one reconfiguration at a time
	agreement channelAgreement      // notifications_channels.go
}

// notifyMaxAttempts bounds the attempts of one delivery: with the
// dispatcher's backoff (1s doubling, capped at 5m) about 47 minutes of
// retrying before it is given up.
const notifyMaxAttempts = 16

// predictPolicy is the predict block of a stack's effective policy, for
// the feed's announcements of forecasts.
func predictPolicy(svc *state.Service) notify.PredictPolicy {
	return func(ctx context.Context, clientID, stackID string) (config.Predict, error) {
		p, err := svc.Policy(ctx, clientID, stackID)
		return p.Predict, err
	}
}

// holds says whether this replica holds a shard's lease now (short of the
// margin before it expires: reconcile.Membership.Holds); nil: every shard,
// one process.
// predict, when set, is the predict policy of a stack (forecasts are
// announced under it).
func newNotifications(reg prometheus.Registerer, log *slog.Logger, dashboardURL string, st store.Store, holds func(shard int) bool,
	predict notify.PredictPolicy) (*notifications, error) {
	m, err := notify.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("notification metrics: %w", err)
	}
	opts := notify.FeedOptions{Store: st, DashboardURL: dashboardURL, Logger: log, Predict: predict}
	if holds != nil {
		opts.Leader = func() bool { return holds(0) }
		opts.Sends = func(channel string) bool { return holds(notify.ChannelShard(channel)) }
	}
	feed := notify.NewFeed(opts)
	return &notifications{log: log, metrics: m, feed: feed}, nil
}

// Start loads the feed's cursor and states and starts tailing the audit
// log.
func (ns *notifications) Start(ctx context.Context) error {
	return ns.feed.Start(ctx)
}

// Configure builds the channels of cfg, records their names as every
// replica's (notifications_channels.go) and swaps them in; the previous
// channels get a few seconds to finish what they are sending (the rest
// stays in the outbox for the new ones).
func (ns *notifications) Configure(ctx context.Context, cfg *config.Config) error {
	ns.configure.Lock()
	defer ns.configure.Unlock()
	opts := ns.channels
	opts.Logger = ns.log
	plan, err := notify.PlanFromConfig(cfg, opts)
	if err != nil {
		return fmt.Errorf("notification channels: %w", err)
	}
	if err := ns.recordChannels(ctx, routeNames(plan)); err != nil {
		return err
	}
	d, err := notify.NewDispatcher(plan.Routes, notify.DispatcherOptions{Logger: ns.log, Metrics: ns.metrics,
		Select: plan.Select, Outbox: ns.feed.Outbox(), Durable: true, MaxAttempts: notifyMaxAttempts})
	if err != nil {
		return fmt.Errorf("notification dispatcher: %w", err)
	}
	if err := ns.feed.SetDispatcher(ctx, d); err != nil {
		return fmt.Errorf("start notification channels: %w", err)
	}
	ns.log.Info("notification channels configured", "channels", len(plan.Routes))
	return nil
}

// OnPass is the reconcile loop's feed of committed passes
// (reconcile.Options.OnPass): the feed reads the pass's audit entries now
// rather than at its next poll (the pass's result is on the stream
// already: the pass wrote it to the stream log).
func (ns *notifications) OnPass(store.ReconciliationResult) {
	ns.feed.Kick()
}

// OnHeal is the heal runner's (reconcile.HealOptions.OnHeal): the feed
// reads the heal's audit entries now (failed heals escalate
// notifications).
func (ns *notifications) OnHeal(context.Context, reconcile.AutoHealEvent) {
	ns.feed.Kick()
}

// Kick has the feed read the audit log now: the stream log's tail saw a
// pass or a heal of some replica, whose audit entries may be new.
func (ns *notifications) Kick() { ns.feed.Kick() }

// Stop ends the feed and lets the channels finish within ctx; what they
// did not deliver stays in the outbox.
func (ns *notifications) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ns.feed.Stop(ctx); err != nil {
		return fmt.Errorf("stop notifications: %w", err)
	}
	return nil
}
