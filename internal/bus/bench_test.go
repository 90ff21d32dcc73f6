package bus_test

import (
	"context"
	"testing"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/drift"
)

// BenchmarkPublish: one event to 8 subscribers that keep up (each drains
// its channel), filtered by client.
func BenchmarkPublish(b *testing.B) {
	bs, err := bus.New(bus.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	for i := 0; i < 8; i++ {
		s, err := bs.Subscribe(context.Background(), bus.SubscribeOptions{Buffer: 4096, Filter: bus.Filter{ClientID: "acme"}})
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for range s.C() {
			}
		}()
	}
	e := bus.NewDriftEvent(bus.KindDriftDetected, bus.DriftEvent{ClientID: "acme", StackID: "shop", Severity: drift.SeverityHigh})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		bs.Publish(ctx, e)
	}
}
