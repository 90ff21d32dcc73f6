// Package evaluator runs the forecast indicators after each reconcile pass
// (reconcile.ForecastHook) and writes what they conclude: forecasts raised,
// updated and cleared (forecast.Track), with an audit entry for each raise
// and clearance, and the forecast metrics.
package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

// Store is what the evaluator reads and writes. The open forecasts it
// starts from come with the pass (reconcile.PassObservation.Forecasts).
type Store interface {
	WriteForecasts(ctx context.Context, w store.ForecastWrite) ([]forecast.Forecast, error)
	ListDrifts(ctx context.Context, q store.DriftQuery) ([]drift.Drift, error)
	DriftReturns(ctx context.Context, clientID, stackID string, since time.Time) (map[string]int, error)
}

// RefusalSource reports the current streaks of refused webhook deliveries
// of a client (forecast.RefusalStreak).
type RefusalSource interface {
	Streaks(clientID string) []forecast.RefusalStreak
}

// LeadingSource finds the leading environment of a stack's application
// and its open drifts (internal/promote's LeadingDrifts): nil for a stack
// of no application or the first environment.
type LeadingSource interface {
	Leading(ctx context.Context, clientID, stackID, environment string, spec config.StackSpec) (*forecast.Leading, error)
}

// Options configure an Evaluator.
type Options struct {
	Store  Store
	Params forecast.Params
	// Refusals, when set, feeds the webhook_broken indicator.
	Refusals RefusalSource
	// Probes, when set, keeps each pass's probe samples and feeds the
	// probe trend indicators.
	Probes *forecast.ProbeHistory
	// Leading, when set, feeds the environment_drift indicator: drift of
	// the leading environment that this stack's composition shares.
	Leading LeadingSource
	// Domains, when set, feeds the domain_expiry indicator (RDAP, cached
	// per domain).
	Domains *Domains
	// DNS, when set, feeds the dns_change indicator (the zone's name
	// servers and CNAME target of each dns resource).
	DNS *DNS
	// Credentials, when set, keeps each pass's provider answers and feeds
	// the unauthorized_share indicator.
	Credentials *Credentials
	// Content, when set, feeds the content indicators (failed builds,
	// build duration, content waiting for a deploy).
	Content *Content
	Metrics *Metrics
	Logger  *slog.Logger
	// Timeout bounds one evaluation's store calls (default 10s).
	Timeout time.Duration
	// NewID names raised forecasts (default "fc-" and a UUID).
	NewID func() string
}

// Evaluator is a reconcile.ForecastHook.
type Evaluator struct {
	opts Options
	log  *slog.Logger
	// failures rate-limits the log of failed evaluations.
	mu       sync.Mutex
	lastWarn time.Time
}

var _ reconcile.ForecastHook = (*Evaluator)(nil)

// New returns an Evaluator.
func New(opts Options) *Evaluator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.NewID == nil {
		opts.NewID = func() string { return "fc-" + uuid.NewString() }
	}
	return &Evaluator{opts: opts, log: opts.Logger}
}

// AfterPass evaluates the stack's forecasts after a committed pass; a
// failure is logged (rate-limited), never returned to the pass.
func (e *Evaluator) AfterPass(ctx context.Context, p reconcile.PassObservation) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	if _, err := e.Evaluate(ctx, p); err != nil && !errors.Is(err, context.Canceled) {
		e.mu.Lock()
		warn := time.Since(e.lastWarn) > time.Minute
		if warn {
			e.lastWarn = time.Now()
		}
		e.mu.Unlock()
		if warn {
			e.log.Warn("forecast evaluation failed", "client_id", p.ClientID, "stack_id", p.StackID, "error", err)
		}
	}
}

// Evaluate reads the stack's open forecasts (and, when a drift resolved
// in this pass or a flapping forecast is open, its drift history), runs
// the indicators, and writes what Track decided. It returns the outcome.
func (e *Evaluator) Evaluate(ctx context.Context, p reconcile.PassObservation) (forecast.Tracked, error) {
	open := p.Forecasts
	params := e.opts.Params
	if params.FlapWindow <= 0 {
		params.FlapWindow = forecast.DefaultParams.FlapWindow
	}
	obs := forecast.Observation{
		ClientID: p.ClientID, StackID: p.StackID, Spec: p.Spec, Resources: p.Observed.Resources, Now: p.At,
	}
	if e.opts.Refusals != nil {
		obs.Refusals = e.opts.Refusals.Streaks(p.ClientID)
	}
	if e.opts.Probes != nil {
		for _, d := range p.Resolved {
			// Only a confirmed drift's fix ends an episode: a failure
			// that one pass saw and the next did not (never confirmed)
			// is part of the trend, the precursor the indicators read.
			if d.Code == drift.ResourceUnhealthy && d.Confirmed {
				e.opts.Probes.Forget(p.ClientID, p.StackID, d.Component)
			}
		}
		obs.Probes = e.opts.Probes.Record(p.ClientID, p.StackID, p.At, p.Observed.Resources)
	}
	leadUnknown := ""
	if e.opts.Leading != nil && p.Environment != "" {
		lead, err := e.opts.Leading.Leading(ctx, p.ClientID, p.StackID, p.Environment, p.Spec)
		if err != nil {
			// Not judged: open environment forecasts stay as they are.
			leadUnknown = "the leading environment could not be read: " + err.Error()
		}
		obs.Leading, obs.Open = lead, p.Open
	}
	obs.Domains = e.opts.Domains.Read(ctx, p.Spec, p.At)
	obs.DNS = e.opts.DNS.Read(ctx, p)
	obs.Credentials = e.opts.Credentials.Record(p)
	obs.Notices = notices(p)
	content, err := e.opts.Content.Read(ctx, p)
	if err != nil {
		return forecast.Tracked{}, err
	}
	obs.Content = content
	flapOpen := slices.ContainsFunc(open, func(f forecast.Forecast) bool { return f.Evidence.Indicator == forecast.IndicatorFlapping })
	if len(p.Resolved) > 0 || flapOpen {
		// Flapping needs the stack's resolved drifts and their returns:
		// read only when a drift just resolved or a flapping forecast is
		// open, not on every pass.
		drifts, err := e.opts.Store.ListDrifts(ctx, store.DriftQuery{ClientID: p.ClientID, StackID: p.StackID, IncludeResolved: true})
		if err != nil {
			return forecast.Tracked{}, err
		}
		returns, err := e.opts.Store.DriftReturns(ctx, p.ClientID, p.StackID, p.At.Add(-params.FlapWindow))
		if err != nil {
			return forecast.Tracked{}, err
		}
		obs.Drifts, obs.Returns = drifts, returns
	}
	openSources := map[forecast.Source]bool{}
	for _, f := range open {
		openSources[f.Source()] = true
	}
	reading := forecast.Indicate(obs, params, func(s forecast.Source) bool { return openSources[s] })
	if leadUnknown != "" {
		// Held: the environment forecasts, and only them (Track holds
		// what an unknown indicator raised, not what others did).
		for _, f := range open {
			if f.Evidence.Indicator == forecast.IndicatorEnvironment {
				if reading.Unknown == nil {
					reading.Unknown = map[forecast.Source]string{}
				}
				reading.Unknown[f.Source()] = leadUnknown
			}
		}
	}
	tracked := forecast.Track(open, reading, p.At, e.opts.NewID)
	if p.PassAt != nil {
		// A forecast whose eta comes before the stack's next scheduled
		// pass is checked at its eta (PassAt ignores a later one). Asked
		// after every pass, not only at a raise or a move of the eta:
		// the loop keeps the time in memory, and a replica that took the
		// stack over or a restarted one asks again at its first pass.
		for _, f := range tracked.Open() {
			p.PassAt(f.ETA)
		}
	}
	if len(tracked.Raised)+len(tracked.Updated)+len(tracked.Cleared) == 0 {
		return tracked, nil
	}
	w := store.ForecastWrite{Raise: tracked.Raised, Update: tracked.Updated, Clear: tracked.Cleared}
	for _, f := range tracked.Raised {
		w.Audit = append(w.Audit, e.audit(forecast.AuditRaised, p, f))
	}
	for _, f := range tracked.Updated {
		// Every update Track made (its eta, confidence or class moved):
		// the notification feed announces by the eta, and streams the
		// updates that changed materially (forecast.MaterialChange).
		w.Audit = append(w.Audit, e.audit(forecast.AuditUpdated, p, f))
	}
	for _, f := range tracked.Cleared {
		w.Audit = append(w.Audit, e.audit(forecast.AuditCleared, p, f))
	}
	raised, err := e.opts.Store.WriteForecasts(ctx, w)
	if err != nil {
		return forecast.Tracked{}, err
	}
	tracked.Raised = raised
	if m := e.opts.Metrics; m != nil {
		for _, f := range raised {
			m.leadTime.WithLabelValues(string(f.Class)).Observe(f.LeadTime().Seconds())
		}
	}
	for _, f := range raised {
		e.log.Info("forecast raised", "client_id", f.ClientID, "stack_id", f.StackID, "code", f.Code,
			"component", f.Component, "eta", f.ETA, "confidence", f.Confidence, "indicator", f.Evidence.Indicator)
	}
	for _, f := range tracked.Cleared {
		e.log.Info("forecast cleared", "client_id", f.ClientID, "stack_id", f.StackID, "code", f.Code, "component", f.Component)
	}
	return tracked, nil
}

// audit is the entry of a raised or cleared forecast; its DriftID is the
// id the forecast drift would have.
func (e *Evaluator) audit(action string, p reconcile.PassObservation, f forecast.Forecast) store.AuditEntry {
	changes := map[string]any{
		"forecast_id": f.ID, "code": f.Code, "component": f.Component, "eta": f.ETA,
		"confidence": f.Confidence, "class": f.Class, "indicator": f.Evidence.Indicator,
	}
	if action != forecast.AuditCleared {
		changes["evidence"] = f.Evidence.Detail
		// How far an update's eta must move to be streamed.
		changes["interval_seconds"] = p.Policy.Schedule.Interval.D().Seconds()
	} else {
		changes["raised_at"] = f.RaisedAt
	}
	b, _ := json.Marshal(changes)
	cl, _ := drift.Classify(f.Code)
	return store.AuditEntry{
		Timestamp: p.At, Action: action, ClientID: f.ClientID, StackID: f.StackID,
		TriggeredBy: "reconciler:" + p.Trigger, Success: true, ChangesMade: b,
		ReconciliationID: p.ReconciliationID, DriftID: drift.ID(f.ClientID, f.StackID, cl.Type, f.Component),
	}
}

// Metrics is the forecasts' recorder.
type Metrics struct {
	leadTime *prometheus.HistogramVec
}

// NewMetrics registers blackwell_forecast_lead_time_seconds and
// blackwell_forecasts_open (counted from the store at each scrape, so every
// replica reports the same, whole figure) on reg.
func NewMetrics(reg prometheus.Registerer, st interface {
	OpenForecastCounts(ctx context.Context) (map[drift.Code]int, error)
}) *Metrics {
	m := &Metrics{
		leadTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "blackwell_forecast_lead_time_seconds",
			Help: "Time from a forecast's raise to its eta (how far ahead drift was forecast), by class (dated or trend).",
			Buckets: []float64{
				3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400,
			},
		}, []string{"class"}),
	}
	for _, c := range []forecast.Class{forecast.ClassDated, forecast.ClassTrend} {
		m.leadTime.WithLabelValues(string(c))
	}
	reg.MustRegister(m.leadTime, &openCollector{st: st, desc: prometheus.NewDesc("blackwell_forecasts_open",
		"Open forecasts of drift, by code (every code is reported, 0 when none is open).", []string{"code"}, nil)})
	return m
}

// openCollector reports blackwell_forecasts_open from the store.
type openCollector struct {
	st interface {
		OpenForecastCounts(ctx context.Context) (map[drift.Code]int, error)
	}
	desc *prometheus.Desc
}

func (c *openCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *openCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.st.OpenForecastCounts(ctx)
	if err != nil {
		// Reported as a gap, not as a failed scrape of every metric: the
		// store's outage shows on /readyz and the store metrics.
		return
	}
	for _, code := range drift.Codes {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[code]), string(code))
	}
}
