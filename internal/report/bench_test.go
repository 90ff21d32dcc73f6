package report

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkReport computes the 30-day report of every client from an
// embedded SQLite store holding a generated 30-day history (world): 500
// clients of 20 stacks, a drift per stack per day. Seeding takes minutes,
// so it runs only with BLACKWELL_BENCH_REPORT=1;
// BLACKWELL_BENCH_REPORT_STACKS sets the number of stacks (default
// 10000). docs/PERFORMANCE.md has the command and the results.
func BenchmarkReport(b *testing.B) {
	if os.Getenv("BLACKWELL_BENCH_REPORT") == "" {
		b.Skip("set BLACKWELL_BENCH_REPORT=1: seeding the history takes minutes")
	}
	stacks := 10000
	if s := os.Getenv("BLACKWELL_BENCH_REPORT_STACKS"); s != "" {
		var err error
		stacks, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	w := world{clients: stacks / 20, stacks: 20, start: t0, days: 30, rate: 1, seed: 1}
	started := time.Now()
	entries := w.entries()
	st := seedStore(b, entries)
	b.Logf("seeded %d entries for %d stacks in %s", len(entries), stacks, time.Since(started).Round(time.Second))
	p := Params{From: w.start, To: w.end(), Now: w.end()}
	ctx := context.Background()
	b.ResetTimer()
	var r Report
	for b.Loop() {
		var err error
		r, err = Compute(ctx, st, p)
		require.NoError(b, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(r.Source.EntriesRead), "entries")
	b.Logf("%d stacks, %d drifts, MTTR %.0f s, compliance %.4f", r.Overall.Stacks, r.Overall.DriftsDetected,
		*r.Overall.TimeToRecovery.MeanSeconds, *r.Overall.Compliance)
}
