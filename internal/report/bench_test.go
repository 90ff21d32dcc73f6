package report

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// BenchmarkReport computes the 30-day report of every client from an
// embedded SQLite store holding a generated 30-day history (world): 500
// clients of 20 stacks, a drift per stack per day. Seeding takes minutes,
// so it runs only with BLACKWELL_BENCH_REPORT=1;
// BLACKWELL_BENCH_REPORT_STACKS sets the number of stacks (default
// 10000), BLACKWELL_BENCH_REPORT_DB a database file to seed once and reuse.
// Besides wall time it reports the process's CPU time per report
// (cpu-s/op): on a shared machine, wall time is mostly waiting.
// docs/PERFORMANCE.md has the command and the results.
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
	st := benchStore(b, w)
	p := Params{From: w.start, To: w.end(), Now: w.end()}
	ctx := context.Background()
	b.ResetTimer()
	cpu := cpuTime(b)
	var r Report
	for b.Loop() {
		var err error
		r, err = Compute(ctx, st, p)
		require.NoError(b, err)
	}
	b.StopTimer()
	b.ReportMetric((cpuTime(b)-cpu).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(r.Source.EntriesRead), "entries")
	b.Logf("%d stacks, %d drifts, MTTR %.0f s, compliance %.4f", r.Overall.Stacks, r.Overall.DriftsDetected,
		*r.Overall.TimeToRecovery.MeanSeconds, *r.Overall.Compliance)
}

// benchStore is a store holding w's history: BLACKWELL_BENCH_REPORT_DB
// when that file exists (seeded by an earlier run), else seeded now.
func benchStore(b *testing.B, w world) *sqlite.Store {
	path := os.Getenv("BLACKWELL_BENCH_REPORT_DB")
	if path == "" {
		started := time.Now()
		st := seedStore(b, w.entries())
		b.Logf("seeded %d stacks in %s", w.clients*w.stacks, time.Since(started).Round(time.Second))
		return st
	}
	_, err := os.Stat(path)
	fresh := os.IsNotExist(err)
	st, err := sqlite.Open(context.Background(), path)
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	if fresh {
		appendAll(b, st, w.entries())
	}
	return st
}

// cpuTime is the process's user and system time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
