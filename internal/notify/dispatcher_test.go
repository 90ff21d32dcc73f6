package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
)

// funcChannel is a Channel made of a function.
type funcChannel struct {
	name string
	send func(ctx context.Context, m notify.Message) error
}

func (c *funcChannel) Name() string                                     { return c.name }
func (c *funcChannel) Send(ctx context.Context, m notify.Message) error { return c.send(ctx, m) }

// recorder is a channel that records what it got and signals each message.
type recorder struct {
	funcChannel
	mu   sync.Mutex
	got  []notify.Message
	sent chan notify.Message
}

func newRecorder(name string) *recorder {
	r := &recorder{sent: make(chan notify.Message, 4096)}
	r.funcChannel = funcChannel{name: name, send: func(_ context.Context, m notify.Message) error {
		r.mu.Lock()
		r.got = append(r.got, m)
		r.mu.Unlock()
		r.sent <- m
		return nil
	}}
	return r
}

func (r *recorder) messages() []notify.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Message(nil), r.got...)
}

// wait waits for n messages, failing after a deadline.
func (r *recorder) wait(t *testing.T, n int) []notify.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-r.sent:
		case <-deadline:
			t.Fatalf("%s got %d messages, want %d", r.name, len(r.messages()), n)
		}
	}
	return r.messages()
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// waits records the dispatcher's retry waits and returns at once.
type waits struct {
	mu sync.Mutex
	ds []time.Duration
}

func (w *waits) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.ds = append(w.ds, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) get() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.ds...)
}

type fixture struct {
	reg   *prometheus.Registry
	clock *fakeClock
	waits *waits
	logs  *logBuffer
	opts  notify.DispatcherOptions
}

func setup(t *testing.T) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics, err := notify.NewMetrics(reg)
	require.NoError(t, err)
	logs, logger := newLogBuffer()
	f := &fixture{reg: reg, clock: &fakeClock{now: t0}, waits: &waits{}, logs: logs}
	f.opts = notify.DispatcherOptions{Logger: logger, Metrics: metrics, Now: f.clock.Now, Wait: f.waits.wait}
	return f
}

func (f *fixture) start(t *testing.T, routes []notify.Route) *notify.Dispatcher {
	t.Helper()
	d, err := notify.NewDispatcher(routes, f.opts)
	require.NoError(t, err)
	require.NoError(t, d.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, d.Stop(ctx))
	})
	return d
}

// metric is blackwell_notifications_total{channel,result}, -1 if absent.
func (f *fixture) metric(t *testing.T, channel, result string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "blackwell_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["channel"] == channel && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func (f *fixture) waitMetric(t *testing.T, channel, result string, want float64) {
	t.Helper()
	require.Eventually(t, func() bool { return f.metric(t, channel, result) == want },
		10*time.Second, 5*time.Millisecond, "%s %s = %v, want %v", channel, result, f.metric(t, channel, result), want)
}

func TestDispatcherMetricsInitialised(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.start(t, []notify.Route{{Channel: newRecorder("a")}, {Channel: newRecorder("b")}})
	for _, ch := range []string{"a", "b"} {
		for _, r := range notify.Results {
			require.Equal(t, 0.0, f.metric(t, ch, r), "%s %s", ch, r)
		}
	}
	// A second registration on the same registry reuses the collector.
	_, err := notify.NewMetrics(f.reg)
	require.NoError(t, err)
}

func TestDispatcherDownChannelDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	f := setup(t)
	release := make(chan struct{})
	stuck := make(chan struct{}, 1)
	down := &funcChannel{name: "down", send: func(ctx context.Context, _ notify.Message) error {
		select {
		case stuck <- struct{}{}:
		default:
		}
		select { // a receiver that never answers
		case <-ctx.Done():
			return ctx.Err()
		case <-release:
			return nil
		}
	}}
	healthy := newRecorder("healthy")
	f.opts.QueueSize = 8
	d := f.start(t, []notify.Route{{Channel: down}, {Channel: healthy}})
	t.Cleanup(func() { close(release) }) // before Stop: let the queue drain

	d.Publish(t.Context(), testMessage("first", drift.SeverityHigh))
	<-stuck // the down channel hangs on its first message
	healthy.wait(t, 1)
	// Each message reaches the healthy channel while the down one hangs.
	for i := range 50 {
		start := time.Now()
		d.Publish(t.Context(), testMessage(fmt.Sprintf("d%d", i), drift.SeverityHigh))
		require.Less(t, time.Since(start), 5*time.Second, "Publish blocked")
		healthy.wait(t, 1)
	}
	require.Len(t, healthy.messages(), 51)
	// The down channel's queue overflowed; those deliveries were dropped.
	require.Equal(t, float64(51-1-8), f.metric(t, "down", notify.ResultDropped))
	require.Equal(t, 0.0, f.metric(t, "healthy", notify.ResultDropped))
	f.waitMetric(t, "healthy", notify.ResultSent, 51)
}

func TestDispatcherRetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	f := setup(t)
	fake, hook := newFakeSlack(t,
		answer{status: 429, header: http.Header{"Retry-After": {"7"}}, body: "rate_limited"},
		answer{status: 500, body: "rollup_error"},
		answer{status: 429, body: "rate_limited"},
		answer{status: 200, body: "ok"},
	)
	ch, err := notify.NewSlack("slack", hook, notify.ChannelOptions{})
	require.NoError(t, err)
	d := f.start(t, []notify.Route{{Channel: ch}})

	d.Publish(t.Context(), testMessage("d1", drift.SeverityHigh))
	f.waitMetric(t, "slack", notify.ResultSent, 1)
	require.Len(t, fake.requests(), 4)
	// 7s from Retry-After (more than the 1s backoff), then backoff 2s, 4s.
	require.Equal(t, []time.Duration{7 * time.Second, 2 * time.Second, 4 * time.Second}, f.waits.get())
	require.Equal(t, 3.0, f.metric(t, "slack", notify.ResultRetried))
	require.Equal(t, 0.0, f.metric(t, "slack", notify.ResultFailed))
	for _, r := range fake.requests() {
		require.Equal(t, fake.requests()[0].body, r.body, "every attempt is the same message")
	}
}

func TestDispatcherWaitsForRetryAfterInRealTime(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.opts.Wait = nil // the real timer
	fake, hook := newFakeSlack(t,
		answer{status: 429, header: http.Header{"Retry-After": {"1"}}, body: "rate_limited"},
		answer{status: 200, body: "ok"},
	)
	ch, err := notify.NewSlack("slack", hook, notify.ChannelOptions{})
	require.NoError(t, err)
	f.opts.BackoffBase = time.Millisecond
	d := f.start(t, []notify.Route{{Channel: ch}})
	d.Publish(t.Context(), testMessage("d1", drift.SeverityHigh))
	reqs := fake.waitRequests(t, 2)
	require.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), time.Second)
}

func TestDispatcherBackoffIsCapped(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.opts.MaxAttempts = 6
	f.opts.BackoffBase, f.opts.BackoffCap = time.Second, 5*time.Second
	attempts := 0
	ch := &funcChannel{name: "flaky", send: func(context.Context, notify.Message) error {
		attempts++
		return errors.New("connection reset")
	}}
	d := f.start(t, []notify.Route{{Channel: ch}})
	d.Publish(t.Context(), testMessage("d1", drift.SeverityHigh))
	f.waitMetric(t, "flaky", notify.ResultFailed, 1)
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, f.waits.get())
	require.Equal(t, 5.0, f.metric(t, "flaky", notify.ResultRetried))
	require.Contains(t, f.logs.String(), "notification failed")
}

func TestDispatcherPermanentErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	f := setup(t)
	fake, hook := newFakeSlack(t, answer{status: 404, body: "channel_not_found"})
	ch, err := notify.NewSlack("slack", hook, notify.ChannelOptions{})
	require.NoError(t, err)
	out := notify.NewMemoryOutbox()
	f.opts.Outbox = out
	d := f.start(t, []notify.Route{{Channel: ch}})
	d.Publish(t.Context(), testMessage("d1", drift.SeverityHigh))
	f.waitMetric(t, "slack", notify.ResultFailed, 1)
	require.Len(t, fake.requests(), 1)
	require.Empty(t, f.waits.get())
	pending, err := out.Pending(t.Context())
	require.NoError(t, err)
	require.Empty(t, pending, "a failed delivery is done")
	requireNoSecret(t, f.logs.String(), "XXXXSECRETXXXX")
	require.Contains(t, f.logs.String(), "channel_not_found")
}

func TestDispatcherDropsOnFullQueue(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.opts.QueueSize = 2
	rec := newRecorder("slow")
	d, err := notify.NewDispatcher([]notify.Route{{Channel: rec}}, f.opts)
	require.NoError(t, err)
	// Not started: nothing drains the queue.
	for i := range 5 {
		d.Publish(t.Context(), testMessage(fmt.Sprintf("d%d", i), drift.SeverityHigh))
	}
	require.Equal(t, 3.0, f.metric(t, "slow", notify.ResultDropped))
	require.Contains(t, f.logs.String(), "notification dropped")
	require.NoError(t, d.Start(t.Context()))
	got := rec.wait(t, 2)
	require.Equal(t, []string{"d0", "d1"}, []string{got[0].DriftID, got[1].DriftID})
	require.NoError(t, d.Stop(t.Context()))
}

func TestDispatcherRoutesByThresholdAndSelect(t *testing.T) {
	t.Parallel()
	f := setup(t)
	low, high, crit, other := newRecorder("low"), newRecorder("high"), newRecorder("crit"), newRecorder("other")
	f.opts.Select = func(m notify.Message) []string {
		if m.ClientID == "acme-corp" {
			return []string{"low", "high", "crit", "unknown"}
		}
		return []string{"other"}
	}
	d := f.start(t, []notify.Route{
		{Channel: low}, // no threshold: low
		{Channel: high, Threshold: drift.SeverityHigh},
		{Channel: crit, Threshold: drift.SeverityCritical},
		{Channel: other},
	})
	d.Publish(t.Context(),
		testMessage("medium", drift.SeverityMedium),
		testMessage("high", drift.SeverityHigh),
		testMessage("critical", drift.SeverityCritical),
	)
	elsewhere := testMessage("elsewhere", drift.SeverityCritical)
	elsewhere.ClientID = "globex"
	d.Publish(t.Context(), elsewhere)

	ids := func(ms []notify.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.DriftID)
		}
		return out
	}
	require.Equal(t, []string{"medium", "high", "critical"}, ids(low.wait(t, 3)))
	require.Equal(t, []string{"high", "critical"}, ids(high.wait(t, 2)))
	require.Equal(t, []string{"critical"}, ids(crit.wait(t, 1)))
	require.Equal(t, []string{"elsewhere"}, ids(other.wait(t, 1)))
}

func TestDispatcherRateLimitDigest(t *testing.T) {
	t.Parallel()
	f := setup(t)
	fake, hook := newFakeSlack(t)
	ch, err := notify.NewSlack("slack", hook, notify.ChannelOptions{})
	require.NoError(t, err)
	d := f.start(t, []notify.Route{{Channel: ch, Limit: rate.Every(time.Hour), Burst: 2}})
	for i := range 5 {
		d.Publish(t.Context(), testMessage(fmt.Sprintf("d%d", i), drift.SeverityHigh))
	}
	f.waitMetric(t, "slack", notify.ResultSent, 2)
	require.Equal(t, 3.0, f.metric(t, "slack", notify.ResultSuppressed))

	f.clock.Advance(time.Minute)
	d.FlushDigests(t.Context())
	reqs := fake.waitRequests(t, 3)
	require.Contains(t, string(reqs[2].body), "3 notifications for acme-corp")
	require.Contains(t, string(reqs[2].body), "d2")
	d.FlushDigests(t.Context()) // nothing held: no digest
	f.waitMetric(t, "slack", notify.ResultSent, 3)
}

// A crash after publication and before delivery: the deliveries stay in
// the outbox, and the next dispatcher delivers them once.
func TestDispatcherRedeliversFromOutbox(t *testing.T) {
	t.Parallel()
	f := setup(t)
	out := notify.NewMemoryOutbox()
	f.opts.Outbox = out
	first, err := notify.NewDispatcher([]notify.Route{{Channel: newRecorder("a")}}, f.opts)
	require.NoError(t, err)
	m := testMessage("d1", drift.SeverityHigh)
	first.Publish(t.Context(), m)
	first.Publish(t.Context(), m) // pending already: not queued twice
	require.NoError(t, first.Stop(t.Context()))
	pending, err := out.Pending(t.Context())
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, "a/d1:detected:1", pending[0].ID)

	rec := newRecorder("a")
	second := f.start(t, []notify.Route{{Channel: rec}})
	require.Equal(t, []string{"d1:detected:1"}, []string{rec.wait(t, 1)[0].IdempotencyKey})
	f.waitMetric(t, "a", notify.ResultSent, 1)
	require.Eventually(t, func() bool {
		p, _ := out.Pending(t.Context())
		return len(p) == 0
	}, 10*time.Second, 5*time.Millisecond)
	second.Publish(t.Context()) // no-op
	require.Len(t, rec.messages(), 1)
}

func TestDispatcherRejectsDuplicateNames(t *testing.T) {
	t.Parallel()
	_, err := notify.NewDispatcher([]notify.Route{{Channel: newRecorder("a")}, {Channel: newRecorder("a")}}, notify.DispatcherOptions{})
	require.Error(t, err)
}

// One drift reported 1,000 times (passes of several replicas, say), its
// heals failing three times, then resolved, reaches each receiver once,
// escalates once, resolves once, through the production path (audit log,
// Feed, durable dispatcher), and no secret reaches the logs.
func TestNotificationsEndToEnd(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const (
		routingKey = "R0UT1NGKEY0123456789abcdefABCDEF"
		secret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	)
	slackFake, hook := newFakeSlack(t)
	pdFake := newFakePagerDuty(t)
	whFake, whURL := newFakeWebhookReceiver(t, secret, time.Now)
	copts := notify.ChannelOptions{PagerDutyURL: pdFake.srv.URL + "/v2/enqueue"}
	slack, err := notify.NewSlack("slack", hook, copts)
	require.NoError(t, err)
	pd, err := notify.NewPagerDuty("pagerduty", routingKey, copts)
	require.NoError(t, err)
	wh, err := notify.NewWebhook("webhook", whURL, secret, copts)
	require.NoError(t, err)

	st := openStore(t)
	feed := notify.NewFeed(notify.FeedOptions{Store: st, DashboardURL: "https://blackwell.example", Now: f.clock.Now,
		Policy: &notify.NoisePolicy{ReminderInterval: 4 * time.Hour, EscalateAfterFailedHeals: 3}})
	require.NoError(t, feed.Load(t.Context()))
	opts := f.opts
	opts.Outbox, opts.Durable = feed.Outbox(), true
	d, err := notify.NewDispatcher([]notify.Route{
		{Channel: slack, Threshold: drift.SeverityMedium},
		{Channel: pd, Threshold: drift.SeverityCritical},
		{Channel: wh},
	}, opts)
	require.NoError(t, err)
	require.NoError(t, feed.SetDispatcher(t.Context(), d))
	t.Cleanup(func() { require.NoError(t, feed.Stop(context.Background())) })

	var entries []store.AuditEntry
	for range 1000 {
		entries = append(entries, driftEntry(t, "drift_detected", map[string]any{"code": "webhook_broken",
			"component": "shopify.orders/create", "severity": "high", "expected": "present", "observed": "missing"}))
	}
	// Three failed heals escalate high to critical: PagerDuty hears it now.
	for range 3 {
		entries = append(entries, driftEntry(t, "heal_failed", map[string]any{"code": "webhook_broken"}))
	}
	entries = append(entries, driftEntry(t, "drift_resolved", map[string]any{"code": "webhook_broken", "component": "shopify.orders/create"}))
	require.NoError(t, st.AppendAudit(t.Context(), entries))
	for poll(t, feed) > 0 { // until the feed has caught up
	}
	require.NoError(t, feed.Tick(t.Context()))

	field := func(reqs []received, key string) []string {
		var out []string
		for _, r := range reqs {
			var v map[string]any
			require.NoError(t, json.Unmarshal(r.body, &v))
			out = append(out, v[key].(string))
		}
		return out
	}
	slackTexts := field(slackFake.waitRequests(t, 3), "text")
	require.Len(t, slackTexts, 3)
	for i, suffix := range []string{"drift detected", "drift escalated from high", "drift resolved"} {
		require.True(t, strings.HasSuffix(slackTexts[i], suffix), "%q", slackTexts[i])
	}
	require.Equal(t, []string{"trigger", "resolve"}, field(pdFake.waitRequests(t, 2), "event_action"))
	require.Equal(t, []string{"io.blackwell.drift.detected", "io.blackwell.drift.escalated", "io.blackwell.drift.resolved"},
		field(whFake.waitRequests(t, 3), "type"))
	f.waitMetric(t, "slack", notify.ResultSent, 3)
	f.waitMetric(t, "webhook", notify.ResultSent, 3)
	f.waitMetric(t, "pagerduty", notify.ResultSent, 2)
	for _, ch := range []string{"slack", "webhook", "pagerduty"} {
		require.Zero(t, f.metric(t, ch, notify.ResultSuppressed), "%s: repeats make no message, and no rate limit held one back", ch)
	}
	require.Eventually(t, func() bool { return len(pending(t, st)) == 0 }, 10*time.Second, 5*time.Millisecond, "every delivery done")
	require.Len(t, slackFake.requests(), 3)
	requireNoSecret(t, f.logs.String(), routingKey, "XXXXSECRETXXXX", "MfKQ9r8", "QUERYSECRET")
}

// driftEntry is an audit entry of drift d1 of acme/shop, as a pass writes it.
func driftEntry(t *testing.T, action string, changes map[string]any) store.AuditEntry {
	t.Helper()
	b, err := json.Marshal(changes)
	require.NoError(t, err)
	return store.AuditEntry{Timestamp: time.Now(), Action: action, ClientID: "acme", StackID: "shop",
		TriggeredBy: "reconciler:schedule", Success: true, ChangesMade: b, ReconciliationID: "r-d1", DriftID: "d1"}
}
