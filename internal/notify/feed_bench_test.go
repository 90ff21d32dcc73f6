package notify_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
)

// BenchmarkFeedPoll: audit entries processed per second by the durable
// feed on SQLite: each b.N is one drift_detected entry, committed in
// batches of 500 (cursor, noise state and one delivery each) to a channel
// that accepts at once.
func BenchmarkFeedPoll(b *testing.B) {
	ctx := context.Background()
	st := openStore(b)
	f := notify.NewFeed(notify.FeedOptions{Store: st})
	if err := f.Load(ctx); err != nil {
		b.Fatal(err)
	}
	var sent atomic.Int64
	ch := &funcChannel{name: "slack", send: func(context.Context, notify.Message) error { sent.Add(1); return nil }}
	d, err := notify.NewDispatcher([]notify.Route{{Channel: ch}}, notify.DispatcherOptions{Outbox: f.Outbox(), Durable: true, QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.SetDispatcher(ctx, d); err != nil {
		b.Fatal(err)
	}
	entries := make([]store.AuditEntry, b.N)
	for i := range entries {
		entries[i] = store.AuditEntry{Timestamp: time.Now(), Action: "drift_detected", ClientID: "acme", StackID: "shop",
			DriftID: fmt.Sprint("d", i), ChangesMade: []byte(`{"code":"webhook_broken","component":"c","severity":"high"}`)}
	}
	for i := 0; i < len(entries); i += 1000 {
		if err := st.AppendAudit(ctx, entries[i:min(i+1000, len(entries))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		n, err := f.Poll(ctx)
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.StopTimer()
	_ = f.Stop(ctx)
}
