package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/blackwellio/blackwell/internal/dashboard"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// The built-in dashboards' data (internal/dashboard computes them from the
// store's bounded aggregates): GET /v1/dashboard/reconciliation,
// /v1/dashboard/clients/{client_id}/health and /v1/dashboard/system. Each
// answer costs a handful of grouped queries whatever the history, and
// names its window (since, until, step_seconds) and every bucket of it,
// empty ones with null ratios, so that the page draws "no data" honestly.

// Bounds of the lists of the client-health view.
const (
	dashboardRecent      = 20 // recent drifts, heals
	dashboardDriftGroups = 50 // open drift groups
	dashboardStacksPage  = 25 // stacks per page (limit up to 100)
	dashboardStacksMax   = 100
)

// spanParam parses ?since= as how far back the view reaches: a Go duration
// ("90m", "24h") or a number of days ("7d"); def when absent. It must be
// positive and at most dashboard.MaxSpan.
func spanParam(r *http.Request, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("since")
	if v == "" {
		return def, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if n > math.MaxInt32 {
			err = errors.New("too long")
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d <= 0 || d > dashboard.MaxSpan {
		return 0, badRequest("since must be a duration from 1m to %dd such as 1h, 24h or 7d, not %q", int(dashboard.MaxSpan.Hours()/24), v)
	}
	return d, nil
}

// ReconciliationView answers GET /v1/dashboard/reconciliation.
type ReconciliationView struct {
	dashboard.Window
	ClientID string `json:"client_id,omitempty"`
	// InFlight is passes running now and QueueDepth stacks waiting, on
	// this replica; null when the server has no metrics.
	InFlight   *float64           `json:"in_flight"`
	QueueDepth *float64           `json:"queue_depth"`
	Buckets    []dashboard.Bucket `json:"buckets"`
	Totals     dashboard.Totals   `json:"totals"`
}

// dashboardReconciliation answers GET /v1/dashboard/reconciliation
// (?since=, ?client_id=).
func (s *Server) dashboardReconciliation(w http.ResponseWriter, r *http.Request) error {
	span, err := spanParam(r, 24*time.Hour)
	if err != nil {
		return err
	}
	clientID := r.URL.Query().Get("client_id")
	win := dashboard.NewWindow(s.now(), span)
	series, err := s.opts.Store.DashboardSeries(r.Context(), win.Query(clientID))
	if err != nil {
		return fmt.Errorf("dashboard series: %w", err)
	}
	v := ReconciliationView{Window: win, ClientID: clientID}
	v.Buckets, v.Totals = dashboard.Series(win, series)
	fams := s.gather()
	v.InFlight = gaugeSum(fams, "blackwell_active_reconciliations")
	v.QueueDepth = gaugeSum(fams, "blackwell_reconcile_queue_depth")
	return writeJSON(w, v)
}

// ClientHealthView answers GET /v1/dashboard/clients/{client_id}/health.
type ClientHealthView struct {
	dashboard.Window
	ClientID string                `json:"client_id"`
	Stacks   dashboard.StackCounts `json:"stacks"`
	// Buckets carry the consistency over time (and the rest of the
	// reconciliation series of the client's stacks).
	Buckets []dashboard.Bucket `json:"buckets"`
	Totals  dashboard.Totals   `json:"totals"`
	// OpenDrifts are the client's open confirmed drifts grouped by type,
	// code, component and severity (the largest groups); ResourceHealth
	// those of resources.
	OpenDrifts     []store.DriftCount `json:"open_drifts"`
	ResourceHealth []store.DriftCount `json:"resource_health"`
	// RecentDrifts and Heals are the newest of the window.
	RecentDrifts []drift.Drift        `json:"recent_drifts"`
	Heals        []store.HealAttempt  `json:"heals"`
	Page         []ClientStackSummary `json:"stacks_page"`
	NextCursor   string               `json:"next_cursor"`
	// Forecasts are not made yet: always null.
	Forecasts []any `json:"forecasts"`
}

// ClientStackSummary is one stack of a client-health page.
type ClientStackSummary struct {
	StackID      string                    `json:"stack_id"`
	Environment  string                    `json:"environment"`
	Status       store.Status              `json:"status"`
	Drifts       int                       `json:"drifts"`
	Worst        drift.Severity            `json:"worst_severity,omitempty"`
	LastVerified *time.Time                `json:"last_verified"`
	Resources    map[string]drift.Sighting `json:"resources"`
}

// dashboardClientHealth answers GET
// /v1/dashboard/clients/{client_id}/health (?since=, ?cursor=, ?limit=
// for the page of stacks).
func (s *Server) dashboardClientHealth(w http.ResponseWriter, r *http.Request) error {
	span, err := spanParam(r, 24*time.Hour)
	if err != nil {
		return err
	}
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("limit") == "" {
		p.limit = dashboardStacksPage
	}
	p.limit = min(p.limit, dashboardStacksMax)
	ctx := r.Context()
	clientID := r.PathValue("client_id")
	counts, err := s.opts.Store.CountStacks(ctx, clientID)
	if err != nil {
		return fmt.Errorf("count stacks of %s: %w", clientID, err)
	}
	v := ClientHealthView{ClientID: clientID, Stacks: dashboard.Stacks(counts)}
	if v.Stacks.Total == 0 {
		return notFound("client %s not found", clientID)
	}
	v.Window = dashboard.NewWindow(s.now(), span)
	series, err := s.opts.Store.DashboardSeries(ctx, v.Window.Query(clientID))
	if err != nil {
		return fmt.Errorf("dashboard series of %s: %w", clientID, err)
	}
	v.Buckets, v.Totals = dashboard.Series(v.Window, series)
	if v.OpenDrifts, err = s.opts.Store.OpenDriftCounts(ctx, clientID, dashboardDriftGroups); err != nil {
		return fmt.Errorf("open drifts of %s: %w", clientID, err)
	}
	v.ResourceHealth = []store.DriftCount{}
	for _, c := range v.OpenDrifts {
		if c.Type == drift.TypeResource {
			v.ResourceHealth = append(v.ResourceHealth, c)
		}
	}
	recent := store.RecentQuery{ClientID: clientID, Since: v.Since, Limit: dashboardRecent}
	if v.RecentDrifts, err = s.opts.Store.RecentDrifts(ctx, recent); err != nil {
		return fmt.Errorf("recent drifts of %s: %w", clientID, err)
	}
	for i, d := range v.RecentDrifts {
		v.RecentDrifts[i] = drift.Explain(d)
	}
	if v.Heals, err = s.opts.Store.RecentHeals(ctx, recent); err != nil {
		return fmt.Errorf("recent heals of %s: %w", clientID, err)
	}
	recs, next, err := s.opts.Store.ListStates(ctx, clientID, p.cursor, p.limit)
	if err != nil {
		return s.storeListError(err, "list stacks")
	}
	v.NextCursor = next
	v.Page = make([]ClientStackSummary, 0, len(recs))
	for _, rec := range recs {
		rec = s.present(rec)
		sum := ClientStackSummary{StackID: rec.StackID, Environment: rec.Environment, Status: rec.Status,
			LastVerified: rec.LastVerified, Resources: rec.LastKnown.Resources}
		for _, d := range rec.DriftDetails {
			if d.Confirmed {
				sum.Drifts++
				if severityRank(d.Severity) > severityRank(sum.Worst) {
					sum.Worst = d.Severity
				}
			}
		}
		if sum.Resources == nil {
			sum.Resources = map[string]drift.Sighting{}
		}
		v.Page = append(v.Page, sum)
	}
	if v.OpenDrifts == nil {
		v.OpenDrifts = []store.DriftCount{}
	}
	if v.RecentDrifts == nil {
		v.RecentDrifts = []drift.Drift{}
	}
	if v.Heals == nil {
		v.Heals = []store.HealAttempt{}
	}
	return writeJSON(w, v)
}

func severityRank(s drift.Severity) int {
	switch s {
	case drift.SeverityLow:
		return 1
	case drift.SeverityMedium:
		return 2
	case drift.SeverityHigh:
		return 3
	case drift.SeverityCritical:
		return 4
	}
	return 0
}

// SystemView answers GET /v1/dashboard/system.
type SystemView struct {
	dashboard.System
	dashboard.Window
	Buckets []dashboard.Bucket `json:"buckets"`
	// Ingest: events with a timestamp in the last 5 minutes (counted up
	// to ingestCountMax; Capped when there were more) per minute, and
	// the p99 processing lag since the process started.
	Ingest struct {
		PerMinute  float64  `json:"per_minute"`
		Capped     bool     `json:"capped"`
		LagP99     *float64 `json:"lag_p99_seconds"`
		QueueDepth *float64 `json:"queue_depth"`
		InFlight   *float64 `json:"in_flight"`
	} `json:"ingest"`
	Store struct {
		PingMS  float64 `json:"ping_ms"`
		QueryMS float64 `json:"query_ms"`
		Error   string  `json:"error,omitempty"`
	} `json:"store"`
	Process struct {
		MemoryBytes uint64 `json:"memory_bytes"`
		HeapBytes   uint64 `json:"heap_bytes"`
		Goroutines  int    `json:"goroutines"`
	} `json:"process"`
	// Errors are counters since the process started.
	Errors struct {
		WebhooksRejected    *float64 `json:"webhooks_rejected"`
		NotificationsFailed *float64 `json:"notifications_failed"`
	} `json:"errors"`
}

// ingestCountMax bounds the events the system view counts.
const ingestCountMax = store.MaxLimit

// dashboardSystem answers GET /v1/dashboard/system: every client's
// numbers, so it needs an unscoped viewer.
func (s *Server) dashboardSystem(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := s.now()
	var v SystemView
	in := dashboard.SystemInput{Now: now}

	start := time.Now()
	in.StoreErr = s.opts.Store.Ping(ctx)
	in.StorePing = time.Since(start)
	v.Store.PingMS = ms(in.StorePing)
	if in.StoreErr != nil {
		v.Store.Error = "store unreachable"
		s.log.WarnContext(ctx, "dashboard: store ping", "error", in.StoreErr)
	}
	v.Window = dashboard.RecentWindow(now)
	if in.StoreErr == nil {
		start = time.Now()
		var err error
		if in.Recent, err = s.opts.Store.DashboardSeries(ctx, v.Window.Query("")); err != nil {
			return fmt.Errorf("dashboard series: %w", err)
		}
		if in.Stacks, err = s.opts.Store.CountStacks(ctx, ""); err != nil {
			return fmt.Errorf("count stacks: %w", err)
		}
		v.Store.QueryMS = ms(time.Since(start))
		events, _, err := s.opts.Store.ListEvents(ctx, store.EventQuery{Since: now.Add(-5 * time.Minute), Until: now.Add(time.Minute), Limit: ingestCountMax})
		if err != nil {
			return fmt.Errorf("count recent events: %w", err)
		}
		v.Ingest.PerMinute = float64(len(events)) / 5
		v.Ingest.Capped = len(events) >= ingestCountMax
	}
	fams := s.gather()
	in.QueueDepth = gaugeSum(fams, "blackwell_reconcile_queue_depth")
	in.InFlight = gaugeSum(fams, "blackwell_active_reconciliations")
	in.LagP99 = histogramQuantile(fams, "blackwell_event_processing_lag_seconds", 0.99)
	in.WebhooksRejected = counterSum(fams, "blackwell_webhook_deliveries_total", "result", "accepted", false)
	in.NotificationsFailed = counterSum(fams, "blackwell_notifications_total", "result", "failed", true)
	v.System = dashboard.ComputeSystem(in)
	v.Buckets, _ = dashboard.Series(v.Window, in.Recent)
	v.Ingest.LagP99, v.Ingest.QueueDepth, v.Ingest.InFlight = in.LagP99, in.QueueDepth, in.InFlight
	v.Errors.WebhooksRejected, v.Errors.NotificationsFailed = in.WebhooksRejected, in.NotificationsFailed

	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		v.Process.MemoryBytes = sample[0].Value.Uint64()
	}
	if sample[1].Value.Kind() == metrics.KindUint64 {
		v.Process.HeapBytes = sample[1].Value.Uint64()
	}
	v.Process.Goroutines = runtime.NumGoroutine()
	return writeJSON(w, v)
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*100) / 100 }

// gather reads the server's metrics (Options.Gatherer); nil without one or
// when gathering fails (the views then say "no data").
func (s *Server) gather() map[string]*dto.MetricFamily {
	if s.opts.Gatherer == nil {
		return nil
	}
	fams, err := s.opts.Gatherer.Gather()
	if err != nil && len(fams) == 0 {
		return nil
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// gaugeSum is the sum of a gauge's series; nil when it is not exported.
func gaugeSum(fams map[string]*dto.MetricFamily, name string) *float64 {
	f, ok := fams[name]
	if !ok {
		return nil
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		sum += m.GetGauge().GetValue()
	}
	return &sum
}

// counterSum is the sum of a counter's series whose label equals value
// (match) or differs from it (!match); nil when it is not exported.
func counterSum(fams map[string]*dto.MetricFamily, name, label, value string, match bool) *float64 {
	f, ok := fams[name]
	if !ok {
		return nil
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		lv := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				lv = l.GetValue()
			}
		}
		if (lv == value) == match {
			sum += m.GetCounter().GetValue()
		}
	}
	return &sum
}

// histogramQuantile estimates the q-quantile of a histogram's series added
// together, interpolating within buckets; nil when it is not exported or
// has no observations. Above the largest bound it answers that bound.
func histogramQuantile(fams map[string]*dto.MetricFamily, name string, q float64) *float64 {
	f, ok := fams[name]
	if !ok {
		return nil
	}
	var bounds []float64
	var cum []float64
	total := 0.0
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		total += float64(h.GetSampleCount())
		for i, b := range h.GetBucket() {
			if i >= len(bounds) {
				bounds = append(bounds, b.GetUpperBound())
				cum = append(cum, 0)
			}
			cum[i] += float64(b.GetCumulativeCount())
		}
	}
	if total == 0 {
		return nil
	}
	rank := q * total
	prevBound, prevCum := 0.0, 0.0
	for i, b := range bounds {
		if cum[i] >= rank {
			v := prevBound + (b-prevBound)*(rank-prevCum)/math.Max(cum[i]-prevCum, 1)
			return &v
		}
		prevBound, prevCum = b, cum[i]
	}
	return &prevBound
}
