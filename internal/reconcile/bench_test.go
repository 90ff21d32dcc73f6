package reconcile_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/seal"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/dynamodb"
	"github.com/blackwellio/blackwell/internal/store/dynamodb/dynalitetest"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// BenchmarkFullPass10k reconciles 10,000 stacks whose http probes hit one
// local server: each iteration triggers every stack and waits for all of its
// passes. It reports passes/s, p50/p99 of one pass and the process's peak
// RSS (which includes the local HTTP server the probes hit).
//
//	go test -run '^$' -bench FullPass10k -benchtime 3x ./internal/reconcile
func BenchmarkFullPass10k(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchFullPass10k(b, false) })
	// sealed: the store behind payload sealing (serve --encryption-key-file);
	// a pass reads no payload, so it should cost about the same.
	b.Run("sealed", func(b *testing.B) { benchFullPass10k(b, true) })
}

// BenchmarkFullPassDynamoDB is BenchmarkFullPass10k on the DynamoDB
// store against dynalite (started as the driver's tests start it, with
// their transaction emulation, which serialises every write of the
// store). It measures this driver on dynalite on this machine, not
// DynamoDB's latency. stacks=1k is the size this machine finishes in
// minutes; stacks=10k is the full size.
//
//	go test -run '^$' -bench 'FullPassDynamoDB/stacks=1k' -benchtime 1x -timeout 60m ./internal/reconcile
func BenchmarkFullPassDynamoDB(b *testing.B) {
	for _, n := range []struct {
		name    string
		stacks  int
		workers int
	}{{"1k/workers=1", 1000, 1}, {"1k/workers=8", 1000, 8}, {"1k/workers=64", 1000, 64}, {"10k/workers=8", 10000, 8}} {
		b.Run("stacks="+n.name, func(b *testing.B) {
			ctx := context.Background()
			cfg := dynamodb.Config{Prefix: fmt.Sprintf("bench%d-", time.Now().UnixNano()), Region: "us-east-1", Endpoint: dynalitetest.Endpoint(b)}
			client, err := dynamodb.NewClient(ctx, cfg)
			require.NoError(b, err)
			db, err := dynamodb.OpenWith(ctx, dynalitetest.NewTxAPI(client), cfg)
			require.NoError(b, err)
			var before map[string]dynamodb.CallStat
			benchFullPass(b, n.stacks, n.workers, db, func(start bool) {
				if start {
					before = db.Calls()
					return
				}
				var total, wcu int64
				byOp := map[string]int64{}
				for op, c := range db.Calls() {
					total += c.Calls - before[op].Calls
					wcu += c.WCU - before[op].WCU
					byOp[op] = c.Calls - before[op].Calls
				}
				passes := float64(n.stacks * b.N)
				b.Logf("DynamoDB calls of the timed passes: %.1f a pass %v, %.1f write units a pass", float64(total)/passes, byOp, float64(wcu)/passes)
			})
		})
	}
}

func benchFullPass10k(b *testing.B, sealed bool) {
	ctx := context.Background()
	var db store.Store
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	require.NoError(b, err)
	defer db.Close()
	if sealed {
		line, err := seal.NewKeyLine("k1")
		require.NoError(b, err)
		kr, err := seal.ParseKeyFile("bench", []byte(line+"\n"))
		require.NoError(b, err)
		db, err = seal.Open(ctx, db, seal.Options{Keyring: kr})
		require.NoError(b, err)
	}
	benchFullPass(b, 10000, 0, db, nil)
}

// benchFullPass applies stacks stacks to db, starts the reconcile loop
// (workers passes at once, 0: the default), and per iteration triggers
// every stack and waits for all of its passes. timed (if not nil) is
// called as the timed iterations start (true) and end (false).
func benchFullPass(b *testing.B, stacks, workers int, db store.Store, timed func(start bool)) {
	ctx := context.Background()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>ok</html>"))
	}))
	defer site.Close()
	applyStart := time.Now()
	svc := state.New(db, state.Options{})
	cfg := &config.Config{}
	for i := range stacks {
		cfg.Stacks = append(cfg.Stacks, stack(fmt.Sprintf("client-%03d", i/100), fmt.Sprintf("stack-%03d", i%100),
			siteSpec(fmt.Sprintf("%s/site/%d", site.URL, i))))
	}
	pol := config.DefaultPolicy()
	pol.Schedule.Interval = config.Duration(time.Hour)
	for c := range stacks / 100 {
		cfg.Policies = append(cfg.Policies, config.Policy{APIVersion: config.APIVersion, Kind: config.KindReconciliationPolicy,
			Metadata: config.PolicyMeta{ClientID: fmt.Sprintf("client-%03d", c)}, Spec: pol})
	}
	_, err := svc.Apply(ctx, cfg, "bench")
	require.NoError(b, err)
	cfg = nil
	b.Logf("applied %d stacks in %s", stacks, time.Since(applyStart).Round(time.Millisecond))

	done := make(chan store.ReconciliationResult, stacks)
	loop := reconcile.New(reconcile.Options{
		Store: db, Policies: svc, Prober: probe.New(probe.Options{}), Workers: workers,
		Metrics: reconcile.NewMetrics(prometheus.NewRegistry()),
		OnPass:  func(r store.ReconciliationResult) { done <- r },
	})
	require.NoError(b, loop.Start(ctx))
	defer loop.Stop(ctx)
	collect := func() []time.Duration {
		durs := make([]time.Duration, 0, stacks)
		for range stacks {
			r := <-done
			if r.Status != store.ResultSuccess || r.DriftDetected {
				b.Fatalf("pass of %s/%s: %s %v drift=%v", r.ClientID, r.StackID, r.Status, r.Errors, r.DriftDetected)
			}
			durs = append(durs, r.CompletedAt.Sub(r.StartedAt))
		}
		return durs
	}
	startPass := time.Now()
	collect() // the start pass: warm caches and connections
	b.Logf("start pass of %d stacks in %s", stacks, time.Since(startPass).Round(time.Millisecond))

	if timed != nil {
		timed(true)
	}
	b.ResetTimer()
	var all []time.Duration
	start := time.Now()
	for range b.N {
		for i := range stacks {
			loop.Trigger(fmt.Sprintf("client-%03d", i/100), fmt.Sprintf("stack-%03d", i%100), reconcile.TriggerManual)
		}
		all = append(all, collect()...)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if timed != nil {
		timed(false)
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "passes/s")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/fullpass")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}
