package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
)

// notifications routes the reconcile loop's drift feed to the channels of
// the config's policies. Channels are built from the config file at start
// and on reload (NotificationChannel documents and inline channels hold
// secrets and are not kept in the store); noise-control state lives in one
// tracker across reloads, so a reload does not announce open drift again.
// Deliveries are in memory: a crash loses what was queued (the durable
// outbox is the notifications issue's work).
type notifications struct {
	log       *slog.Logger
	metrics   *notify.Metrics
	tracker   *notify.Tracker
	mu        sync.Mutex
	notifier  *notify.Notifier
	configure sync.Mutex // one reconfiguration at a time
}

func newNotifications(reg prometheus.Registerer, log *slog.Logger, dashboardURL string) (*notifications, error) {
	m, err := notify.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("notification metrics: %w", err)
	}
	return &notifications{log: log, metrics: m, tracker: notify.NewTracker(notify.DefaultNoisePolicy(), dashboardURL)}, nil
}

// Configure builds the channels of cfg and swaps them in; the previous
// dispatcher drains within ctx.
func (ns *notifications) Configure(ctx context.Context, cfg *config.Config) error {
	ns.configure.Lock()
	defer ns.configure.Unlock()
	plan, err := notify.PlanFromConfig(cfg, notify.ChannelOptions{Logger: ns.log})
	if err != nil {
		return fmt.Errorf("notification channels: %w", err)
	}
	d, err := notify.NewDispatcher(plan.Routes, notify.DispatcherOptions{Logger: ns.log, Metrics: ns.metrics, Select: plan.Select})
	if err != nil {
		return fmt.Errorf("notification dispatcher: %w", err)
	}
	n := notify.NewNotifier(ns.tracker, d, notify.NotifierOptions{})
	if err := n.Start(ctx); err != nil {
		return fmt.Errorf("start notifications: %w", err)
	}
	ns.mu.Lock()
	old := ns.notifier
	ns.notifier = n
	ns.mu.Unlock()
	if old != nil {
		if err := old.Stop(ctx); err != nil {
			ns.log.Warn("stop previous notification channels", "error", err)
		}
	}
	ns.log.Info("notification channels configured", "channels", len(plan.Routes))
	return nil
}

// OnDrifts is the reconcile loop's feed (reconcile.Options.OnDrifts).
func (ns *notifications) OnDrifts(ctx context.Context, res store.ReconciliationResult, open, resolved []drift.Drift) {
	ns.mu.Lock()
	n := ns.notifier
	ns.mu.Unlock()
	if n == nil {
		return
	}
	for _, d := range open {
		n.Handle(ctx, notify.Event{Type: notify.EventObserved, Drift: d, ReconciliationID: res.ReconciliationID,
			AutoHealAttempted: res.AutoHealAttempted})
	}
	for _, d := range resolved {
		n.Handle(ctx, notify.Event{Type: notify.EventResolved, Drift: d, ReconciliationID: res.ReconciliationID})
	}
}

// Stop drains the channels within ctx.
func (ns *notifications) Stop(ctx context.Context) error {
	ns.mu.Lock()
	n := ns.notifier
	ns.notifier = nil
	ns.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Stop(ctx)
}
