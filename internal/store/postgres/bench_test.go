package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/storetest"
)

// The store's throughput at the reconciler's scale (10,000 stacks), on the
// PostgreSQL of BLACKWELL_TEST_POSTGRES, each benchmark in a fresh schema:
//
//	go test -run '^$' -bench . -benchtime 20000x ./internal/store/postgres
//
// Connection parameters in that URL apply (pool_max_conns,
// synchronous_commit, ...): the pool is the driver's default unless the URL
// sets it.

// openBench opens a store in a fresh schema with the URL's pool settings.
func openBench(b *testing.B) *postgres.Store {
	s, err := postgres.Open(context.Background(), newSchema(b, serverURL(b)))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkCommitPass(b *testing.B) {
	storetest.BenchCommitPass(b.Context(), b, openBench(b))
}

func BenchmarkEventActivity(b *testing.B) {
	storetest.BenchEventActivity(b.Context(), b, openBench(b))
}

func BenchmarkPass(b *testing.B) {
	storetest.BenchPass(b.Context(), b, openBench(b))
}

func BenchmarkInsertEvents(b *testing.B) {
	storetest.BenchInsertEvents(b.Context(), b, openBench(b))
}

func BenchmarkIngestEvents(b *testing.B) {
	storetest.BenchIngestEvents(b.Context(), b, openBench(b))
}

// BenchmarkCommitPassQuiet is CommitPass as most scheduled passes write it:
// a stack found as it was, so no drift changes and no audit entry. Without
// an entry a pass does not take the audit chain's head, and passes of
// different stacks commit in parallel (BenchmarkCommitPass writes an entry
// with every pass: those take turns, one WAL flush each).
func BenchmarkCommitPassQuiet(b *testing.B) {
	ctx := b.Context()
	s := openBench(b)
	const stacks = storetest.BenchStacks
	var in []store.DesiredInput
	for i := range stacks {
		in = append(in, store.DesiredInput{ClientID: fmt.Sprintf("client-%03d", i/100), StackID: fmt.Sprintf("stack-%03d", i%100),
			Hash: "h", Document: json.RawMessage(`{}`)})
	}
	for i := 0; i < len(in); i += 1000 {
		_, err := s.ApplyDesired(ctx, in[i:i+1000])
		require.NoError(b, err)
	}
	states, err := store.AllStates(ctx, s, "")
	require.NoError(b, err)
	require.Len(b, states, stacks)
	slots := make(chan int, stacks)
	for i := range stacks {
		slots <- i
	}
	var n atomic.Int64
	b.Run("stacks=10k", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := <-slots // one pass per stack at a time
				st := states[i]
				now := time.Now()
				st.LastVerified = &now
				got, err := s.CommitPass(ctx, store.Pass{State: st, Result: store.ReconciliationResult{
					ReconciliationID: fmt.Sprintf("q-%d", n.Add(1)), Trigger: "schedule", StartedAt: now, CompletedAt: now,
					Status: store.ResultSuccess,
				}})
				if err != nil {
					b.Error(err)
					return
				}
				states[i] = got
				slots <- i
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passes/s")
	})
}

// BenchmarkReadStream reads pages of 100 events of the stream log, as a
// replica's tail does after a burst of commits.
func BenchmarkReadStream(b *testing.B) {
	ctx := b.Context()
	s := openBench(b)
	var in []store.StreamEvent
	for i := range 1000 {
		in = append(in, store.StreamEvent{Kind: "reconciliation.completed", ClientID: "acme", StackID: fmt.Sprintf("s%03d", i),
			Severity: "info", Timestamp: time.Now(), Data: json.RawMessage(`{"status":"success","drift_count":0,"errors":[]}`)})
	}
	require.NoError(b, s.AppendStream(ctx, in))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		page, err := s.ReadStream(ctx, int64(i%9)*100, 100)
		if err != nil || len(page.Events) != 100 {
			b.Fatalf("read: %d events, %v", len(page.Events), err)
		}
	}
}
