package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Metrics is the reconcile loop's recorder. Every metric of the spec's list
// lives here, prefixed blackwell_, with its label sets initialised at start
// so dashboards and alerts see zeros rather than gaps.
type Metrics struct {
	passDuration   *prometheus.HistogramVec
	passSuccess    *prometheus.CounterVec
	passFailure    *prometheus.CounterVec
	driftDetected  *prometheus.CounterVec
	driftResolved  *prometheus.CounterVec
	healAttempts   *prometheus.CounterVec
	healSuccess    *prometheus.CounterVec
	healFailure    *prometheus.CounterVec
	breakerOpen    *prometheus.GaugeVec
	active         prometheus.Gauge
	consistency    prometheus.Gauge
	stacks         *prometheus.GaugeVec
	stackStatus    *prometheus.GaugeVec
	eventLag       prometheus.Histogram
	probeDuration  *prometheus.HistogramVec
	queueDepth     prometheus.GaugeFunc
	queueDepthFunc func() float64
}

// Triggers are the reasons a pass runs.
var triggers = []string{TriggerHeal, TriggerApproval, TriggerForecast, TriggerSchedule, TriggerEvent, TriggerManual, TriggerConfig, TriggerAlert, TriggerStart}

// NewMetrics registers the loop's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{}
	m.newPassMetrics()
	m.newDriftMetrics()
	m.newStackMetrics()
	reg.MustRegister(m.passDuration, m.passSuccess, m.passFailure, m.driftDetected, m.driftResolved,
		m.healAttempts, m.healSuccess, m.healFailure, m.breakerOpen, m.active, m.consistency, m.stacks, m.stackStatus, m.eventLag,
		m.probeDuration, m.queueDepth)
	m.initLabels()
	return m
}

// newPassMetrics makes the metrics of passes: their duration and outcome.
func (m *Metrics) newPassMetrics() {
	m.passDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "blackwell_reconciliation_duration_seconds",
		Help:    "Duration of one reconcile pass of one stack.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"trigger", "status"})
	m.passSuccess = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blackwell_reconciliation_success_total",
		Help: "Reconcile passes that completed (drift or not).",
	}, []string{"trigger"})
	m.passFailure = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blackwell_reconciliation_failure_total",
		Help: "Reconcile passes that failed (the stack's status is error).",
	}, []string{"trigger"})
}

// newDriftMetrics makes the metrics of drifts and heals.
func (m *Metrics) newDriftMetrics() {
	m.driftDetected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blackwell_drift_detected_total",
		Help: "Drifts confirmed (reported), by type, code and severity.",
	}, []string{"type", "code", "severity"})
	m.driftResolved = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blackwell_drift_resolved_total",
		Help: "Confirmed drifts that cleared, by type and code.",
	}, []string{"type", "code"})
	m.healAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blackwell_auto_heal_attempts_total",
		Help: "Auto-heal attempts started, by drift type, code and provider.",
	}, []string{"type", "code", "provider"})
	m.healSuccess = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blackwell_auto_heal_success_total",
		Help: "Auto-heal attempts whose fix a later pass verified.",
	}, []string{"type", "code", "provider"})
	m.healFailure = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blackwell_auto_heal_failure_total",
		Help: "Auto-heal attempts that failed or were not verified.",
	}, []string{"type", "code", "provider"})
	m.breakerOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "blackwell_auto_heal_breaker_open",
		Help: "1 while the heal breaker of a scope (a provider, or \"instance\" for every heal) is open and heals of it are stopped.",
	}, []string{"scope"})
}

// newStackMetrics makes the gauges of the loop and its stacks, and the
// event and probe timings.
func (m *Metrics) newStackMetrics() {
	m.active = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "blackwell_active_reconciliations",
		Help: "Reconcile passes running now.",
	})
	m.consistency = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "blackwell_state_consistency_score",
		Help: "Fraction of stacks whose observed state matches the desired state (no confirmed drift, no error), 0..1.",
	})
	m.stacks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "blackwell_stacks",
		Help: "Stacks by status after their last pass.",
	}, []string{"status"})
	m.stackStatus = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "blackwell_stack_status",
		Help: "1 for each stack this replica reconciles, labelled with its status after its last pass (one series per stack).",
	}, []string{"client_id", "stack_id", "status"})
	m.eventLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "blackwell_event_processing_lag_seconds",
		Help:    "Time from an event's commit to the start of the pass that saw it (the oldest unseen event per pass).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	})
	m.probeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "blackwell_probe_duration_seconds",
		Help:    "Duration of one resource probe, by verdict.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10},
	}, []string{"status"})
	m.queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "blackwell_reconcile_queue_depth",
		Help: "Stacks waiting for a pass.",
	}, func() float64 {
		if m.queueDepthFunc == nil {
			return 0
		}
		return m.queueDepthFunc()
	})
}

// initLabels initialises every known label set, so a metric reads zero
// before its first observation rather than missing.
func (m *Metrics) initLabels() {
	for _, t := range triggers {
		m.passSuccess.WithLabelValues(t)
		m.passFailure.WithLabelValues(t)
		for _, s := range []store.ResultStatus{store.ResultSuccess, store.ResultFailed, store.ResultPartial} {
			m.passDuration.WithLabelValues(t, string(s))
		}
	}
	for _, c := range drift.Codes {
		cl, _ := drift.Classify(c)
		m.driftDetected.WithLabelValues(string(cl.Type), string(c), string(cl.Severity))
		m.driftResolved.WithLabelValues(string(cl.Type), string(c))
		m.healAttempts.WithLabelValues(string(cl.Type), string(c), "")
		m.healSuccess.WithLabelValues(string(cl.Type), string(c), "")
		m.healFailure.WithLabelValues(string(cl.Type), string(c), "")
	}
	m.breakerOpen.WithLabelValues(instanceBreaker)
	for _, s := range []store.Status{store.StatusHealthy, store.StatusDriftDetected, store.StatusReconciling, store.StatusError} {
		m.stacks.WithLabelValues(string(s))
	}
	for _, s := range []drift.ResourceStatus{drift.StatusHealthy, drift.StatusUnhealthy, drift.StatusMissing, drift.StatusUnknown} {
		m.probeDuration.WithLabelValues(string(s))
	}
}
