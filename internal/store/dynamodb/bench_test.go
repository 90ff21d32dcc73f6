package dynamodb_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/blackwellio/blackwell/internal/store"
	dyn "github.com/blackwellio/blackwell/internal/store/dynamodb"
	"github.com/blackwellio/blackwell/internal/store/storetest"
)

// The store's side of a pass at the reconciler's scale (10,000 stacks),
// on dynalite: it says what the driver costs in calls, not what DynamoDB
// costs in time.
//
//	go test -run '^$' -bench 'Pass/stacks=10k/workers=16' -benchtime 10000x ./internal/store/dynamodb

func BenchmarkPass(b *testing.B) {
	storetest.BenchPass(b.Context(), b, newTestStore(b))
}

// BenchmarkIngestEvents is the webhook gateway's IngestEvents on dynalite
// (through the tests' transaction emulation, which serialises the
// store's writes); it logs the DynamoDB calls and write units per event,
// retries of lost races included.
//
//	go test -run '^$' -bench IngestEvents -benchtime 2000x ./internal/store/dynamodb
func BenchmarkIngestEvents(b *testing.B) {
	s := newTestStore(b)
	c := &countIngest{Store: s}
	before := s.Calls()
	storetest.BenchIngestEvents(b.Context(), b, c)
	calls, wcu, byOp := diff(before, s.Calls())
	n := float64(c.n.Load())
	b.Logf("%d events: %.1f calls and %.1f write units an event; calls %v", c.n.Load(), float64(calls)/n, float64(wcu)/n, byOp)
}

// countIngest counts the events IngestEvents is given.
type countIngest struct {
	*dyn.Store
	n atomic.Int64
}

func (c *countIngest) IngestEvents(ctx context.Context, in []store.IngestEvent) ([]bool, error) {
	c.n.Add(int64(len(in)))
	return c.Store.IngestEvents(ctx, in)
}
