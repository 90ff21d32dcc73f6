package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// The benchmark world: BenchStacks stacks over BenchStacks/100 clients, each
// stack with benchEventsPerStack events in the last hour and each client with
// benchClientEvents client-wide ones; every tenth stack has an open drift.
const (
	BenchStacks         = 10000
	benchStacksPerCli   = 100
	benchEventsPerStack = 10
	benchClientEvents   = 20
)

// benchWorld is a seeded store and the current state of every stack. A
// stack's slot is locked while a pass on it runs, as the reconciler runs one
// pass per stack at a time.
type benchWorld struct {
	s       store.Store
	now     time.Time
	mu      []sync.Mutex
	states  []store.StateRecord
	mark    store.EventMark // after every seeded event
	checked []bool          // whether a pass has marked the stack's events checked
	ops     atomic.Int64
}

// seedBench fills s with the benchmark world.
func seedBench(ctx context.Context, b *testing.B, s store.Store) *benchWorld {
	b.Helper()
	w := &benchWorld{
		s:       s,
		now:     time.Now().UTC().Truncate(time.Second),
		mu:      make([]sync.Mutex, BenchStacks),
		states:  make([]store.StateRecord, BenchStacks),
		checked: make([]bool, BenchStacks),
	}
	clientOf := func(i int) string { return fmt.Sprintf("client-%03d", i/benchStacksPerCli) }
	stackOf := func(i int) string { return fmt.Sprintf("stack-%03d", i%benchStacksPerCli) }

	var in []store.DesiredInput
	for i := range BenchStacks {
		d := desired(clientOf(i), stackOf(i), fmt.Sprintf("h-%d", i))
		d.Document = json.RawMessage(fmt.Sprintf(`{"stack":%q,"providers":{"cms":{"name":"sanity"},"ecommerce":{"name":"shopify"},"ssg":{"name":"netlify"}},"resources":[{"name":"site","probe":"http"},{"name":"tls","probe":"tls"}],"pad":%q}`,
			stackOf(i), strings.Repeat("x", 512)))
		in = append(in, d)
		if len(in) == 1000 {
			_, err := s.ApplyDesired(ctx, in)
			require.NoError(b, err)
			in = in[:0]
		}
	}

	providers := []string{"shopify", "sanity", "contentful"}
	types := []string{"products/update", "document.publish", "entry.save"}
	var batch []store.Event
	flush := func() {
		_, err := s.InsertEvents(ctx, batch)
		require.NoError(b, err)
		batch = batch[:0]
	}
	for i := range BenchStacks {
		for j := range benchEventsPerStack {
			id := fmt.Sprintf("evt-%d-%d", i, j)
			e := event(id, clientOf(i), stackOf(i), providers[j%3], types[j%3], w.now.Add(-time.Duration(j*5)*time.Minute))
			batch = append(batch, e)
		}
		if i%benchStacksPerCli == 0 {
			for j := range benchClientEvents {
				batch = append(batch, event(fmt.Sprintf("evt-%s-%d", clientOf(i), j), clientOf(i), "", "sanity",
					"document.publish", w.now.Add(-time.Duration(j*3)*time.Minute)))
			}
		}
		if len(batch) >= 1000 {
			flush()
		}
	}
	flush()
	rep, err := s.EventActivity(ctx, clientOf(0), stackOf(0), w.now.Add(-time.Hour))
	require.NoError(b, err)
	require.NotZero(b, rep.Mark)
	w.mark = rep.Mark

	for i := range BenchStacks {
		st, err := s.GetState(ctx, clientOf(i), stackOf(i))
		require.NoError(b, err)
		w.states[i] = st
		if i%10 == 0 {
			_ = w.pass(ctx, i, []drift.Drift{mkDrift(st.ClientID, st.StackID, "site.tls", w.now)})
		}
	}
	return w
}

// pick spreads operations over the stacks.
func (w *benchWorld) pick() int {
	return int((w.ops.Add(1) * 7919) % BenchStacks)
}

// pass commits one pass on stack i with the given open drifts and one audit
// entry; the stack's first pass marks its events checked. The caller holds
// w.mu[i], or runs alone.
func (w *benchWorld) pass(ctx context.Context, i int, drifts []drift.Drift) error {
	st := w.states[i]
	n := w.ops.Add(1)
	now := w.now.Add(time.Duration(n) * time.Microsecond)
	st.LastVerified = &now
	st.Status = store.StatusHealthy
	if len(drifts) > 0 {
		st.Status = store.StatusDriftDetected
	}
	st.DriftDetails = drifts
	r := result(fmt.Sprintf("r-%d-%d", i, n), st.ClientID, st.StackID, now)
	r.DriftDetected, r.DriftCount = len(drifts) > 0, len(drifts)
	var mark store.EventMark
	if !w.checked[i] {
		mark = w.mark
	}
	got, err := w.s.CommitPass(ctx, store.Pass{
		State:  st,
		Drifts: drifts,
		Result: r,
		Audit: []store.AuditEntry{{Timestamp: now, Action: "reconcile", ClientID: st.ClientID, StackID: st.StackID,
			TriggeredBy: "schedule", Success: true, ReconciliationID: r.ReconciliationID}},
		CheckedThrough: mark,
	})
	if err != nil {
		return err
	}
	w.states[i], w.checked[i] = got, true
	return nil
}

// BenchCommitPass measures CommitPass alone, from parallel goroutines, over
// BenchStacks stacks (one open drift on every tenth). It seeds s, then runs
// a sub-benchmark.
func BenchCommitPass(ctx context.Context, b *testing.B, s store.Store) {
	w := seedBench(ctx, b, s)
	b.Run("stacks=10k", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4) // like reconcile workers, more than the cores
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := w.pick()
				w.mu[i].Lock()
				var drifts []drift.Drift
				if i%10 == 0 {
					drifts = w.states[i].DriftDetails
				}
				err := w.pass(ctx, i, drifts)
				w.mu[i].Unlock()
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRates(b, cpu, "passes/s")
	})
}

// reportRates reports operations per second of wall time and the CPU time
// (all goroutines, all cores) one operation cost, which is steadier than
// wall time on a shared machine.
func reportRates(b *testing.B, cpuBefore time.Duration, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	if cpu := cpuTime() - cpuBefore; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

// BenchEventActivity measures EventActivity over the last hour of a stack,
// from parallel goroutines.
func BenchEventActivity(ctx context.Context, b *testing.B, s store.Store) {
	w := seedBench(ctx, b, s)
	since := w.now.Add(-time.Hour)
	b.Run("stacks=10k", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				st := w.states[w.pick()]
				a, err := s.EventActivity(ctx, st.ClientID, st.StackID, since)
				if err != nil || len(a.Activity) == 0 {
					b.Errorf("activity of %s: %v, %d rows", st.Key(), err, len(a.Activity))
					return
				}
			}
		})
		reportRates(b, cpu, "calls/s")
	})
}

// BenchPass measures the store's side of a whole reconcile pass as the
// reconciler does it: GetState, EventActivity, ListDrifts (open, one
// stack), CommitPass. workers goroutines run passes; passes/s says how long
// BenchStacks stacks take.
func BenchPass(ctx context.Context, b *testing.B, s store.Store) {
	w := seedBench(ctx, b, s)
	since := w.now.Add(-time.Hour)
	for _, workers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("stacks=10k/workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			var wg sync.WaitGroup
			var next atomic.Int64
			b.ResetTimer()
			cpu := cpuTime()
			for range workers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						i := w.pick()
						w.mu[i].Lock()
						err := w.fullPass(ctx, i, since)
						w.mu[i].Unlock()
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			reportRates(b, cpu, "passes/s")
		})
	}
}

func (w *benchWorld) fullPass(ctx context.Context, i int, since time.Time) error {
	cur := w.states[i]
	st, err := w.s.GetState(ctx, cur.ClientID, cur.StackID)
	if err != nil {
		return err
	}
	w.states[i] = st
	if _, err := w.s.EventActivity(ctx, st.ClientID, st.StackID, since); err != nil {
		return err
	}
	open, err := w.s.ListDrifts(ctx, store.DriftQuery{ClientID: st.ClientID, StackID: st.StackID})
	if err != nil {
		return err
	}
	for j := range open {
		open[j].LastSeen = w.now
		open[j].Observations++
	}
	return w.pass(ctx, i, open)
}

// BenchInsertEvents measures ingest as webhooks do it: one event per
// InsertEvents call, from many goroutines at once (they share commits).
func BenchInsertEvents(ctx context.Context, b *testing.B, s store.Store) {
	now := time.Now().UTC()
	var n atomic.Int64
	b.Run("one-per-call", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				e := event(fmt.Sprintf("ingest-%d", i), fmt.Sprintf("client-%03d", i%100), fmt.Sprintf("stack-%03d", i%97),
					"shopify", "products/update", now.Add(time.Duration(i)*time.Millisecond))
				if _, err := s.InsertEvents(ctx, []store.Event{e}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRates(b, cpu, "events/s")
	})
}

// BenchIngestEvents measures IngestEvents as the webhook gateway calls it:
// one delivery per call (an event of about 600 bytes and its content
// item, one of 1,000 products), from 64 goroutines at once like 64
// concurrent senders, each commit durable.
func BenchIngestEvents(ctx context.Context, b *testing.B, s store.Store) {
	now := time.Now().UTC()
	payload := json.RawMessage(`{"id":9554194432293,"title":"T-Shirt","body_html":"<p>Soft cotton tee.</p>","vendor":"Acme",` +
		`"product_type":"Shirts","handle":"t-shirt","status":"active","tags":"cotton, summer","created_at":"2025-04-01T10:00:00-05:00",` +
		`"updated_at":"2025-04-22T14:30:00-05:00","published_at":"2025-04-01T10:00:00-05:00","admin_graphql_api_id":"gid://shopify/Product/9554194432293",` +
		`"variants":[{"id":40000000000,"title":"M","price":"29.99","sku":"TS-M","inventory_quantity":12},` +
		`{"id":40000000001,"title":"L","price":"29.99","sku":"TS-L","inventory_quantity":7}],"options":[{"name":"Size","values":["M","L"]}],"images":[]}`)
	var n atomic.Int64
	b.Run("one-per-call/senders=64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(max(1, 64/runtimeProcs()))
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				ts := now.Add(time.Duration(i) * time.Millisecond)
				e := store.Event{
					EventID: fmt.Sprintf("shopify:client-%03d:%016x-%d", i%100, i*7919, i), ClientID: fmt.Sprintf("client-%03d", i%100),
					ProviderName: "shopify", EventType: "content.updated", ContentID: fmt.Sprintf("gid://shopify/Product/%d", i%1000),
					ContentType: "product", Timestamp: ts, Environment: "prod", Payload: payload, ReceivedAt: ts,
					TTLTimestamp: ts.Add(30 * 24 * time.Hour).Unix(),
				}
				c := &store.ContentItem{ProviderName: "shopify", Source: "acme.myshopify.com", ContentID: e.ContentID,
					ContentType: "product", UpdatedAt: ts}
				if _, err := s.IngestEvents(ctx, []store.IngestEvent{{Event: e, Content: c}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRates(b, cpu, "events/s")
	})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
