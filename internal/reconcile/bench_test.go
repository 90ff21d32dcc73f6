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

func benchFullPass10k(b *testing.B, sealed bool) {
	const stacks = 10000
	ctx := context.Background()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>ok</html>"))
	}))
	defer site.Close()

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
	_, err = svc.Apply(ctx, cfg, "bench")
	require.NoError(b, err)
	cfg = nil

	done := make(chan store.ReconciliationResult, stacks)
	loop := reconcile.New(reconcile.Options{
		Store: db, Policies: svc, Prober: probe.New(probe.Options{}),
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
	collect() // the start pass: warm caches and connections

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
