package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blackwellio/blackwell/bench/internal/proc"
)

// runOutbox measures what a notification backlog costs a replica (issue
// 23, item 2): one replica whose config has one webhook channel, "dead",
// whose receiver answers 503 to everything, and o.backlog pending
// deliveries of that channel in the outbox (inserted by the harness),
// plus as many of a channel no replica has configured now, "elsewhere"
// (another replica's, say). After a warm-up it reads, over o.window, the
// replica's CPU, PostgreSQL's, and the rows read from outbox (its table
// and index statistics).
func runOutbox(ctx context.Context, o options) error {
	env, err := newBenchEnv(ctx, o)
	if err != nil {
		return err
	}
	defer env.close()
	dead, stopDead, err := deadReceiver()
	if err != nil {
		return err
	}
	defer stopDead()
	cfg := fmt.Sprintf(`apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: c0000, stack_id: s000, environment: prod}
spec:
  resources:
    site: {probe: http, url: %q, expect_status: 200}
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: dead}
spec: {type: webhook, url: "%s/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", severity_threshold: low}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: c0000}
spec:
  schedule: {interval: 5m}
  notifications: {channels: [{ref: dead}]}
`, env.target, dead)
	cfgPath := filepath.Join(env.dir, "outbox.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	r, err := startReplica(o, env.schema.url, cfgPath, env.dir, 1, false)
	if err != nil {
		return err
	}
	defer r.stop()
	if err := r.waitReady(time.Minute); err != nil {
		return err
	}
	// The backlog, as the feed would have committed it.
	t := time.Now()
	for _, ch := range []string{"dead", "elsewhere"} {
		if _, err := env.db.Exec(ctx, `INSERT INTO outbox (id, subscriber, channel, payload, created_at)
SELECT $1 || '/k' || i, 'notify', $1, '{"idempotency_key":"k' || i || '","kind":"detected","client_id":"c0000","stack_id":"s000","drift_id":"d' || i || '","severity":"high"}', now()
FROM generate_series(1, $2) AS i`, ch, o.backlog); err != nil {
			return fmt.Errorf("insert the backlog: %w", err)
		}
	}
	fmt.Printf("outbox: %d pending deliveries of the dead channel and %d of another, inserted in %.1f s; warm-up %s, window %s\n",
		o.backlog, o.backlog, secs(time.Since(t)), o.steadyAfter, o.steady)
	time.Sleep(o.steadyAfter)
	p0, pg0 := proc.Read(r.pid()), proc.PostgresCPU()
	rows0, err := outboxReads(ctx, env.db)
	if err != nil {
		return err
	}
	w0 := time.Now()
	time.Sleep(o.steady)
	window := time.Since(w0)
	// PostgreSQL publishes table statistics within a second or so.
	time.Sleep(2 * time.Second)
	rows1, err := outboxReads(ctx, env.db)
	if err != nil {
		return err
	}
	p1, pg1 := proc.Read(r.pid()), proc.PostgresCPU()
	var pending int
	if err := env.db.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&pending); err != nil {
		return err
	}
	fmt.Printf("replica: %.2f%% of a core (RSS %.0f MiB); PostgreSQL %.2f%% of a core; outbox rows read %.0f per second; %d deliveries still pending\n",
		100*secs(p1.CPU-p0.CPU)/secs(window), mib(p1.RSS), 100*secs(pg1-pg0)/secs(window+2*time.Second),
		float64(rows1-rows0)/secs(window+2*time.Second), pending)
	return nil
}

// outboxReads is how many rows have been read from the outbox table, by
// sequential scans and through its indexes.
func outboxReads(ctx context.Context, db *pgxpool.Pool) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables
WHERE relid = 'outbox'::regclass`).Scan(&n)
	return n, err
}

// deadReceiver is a notification receiver that is down: 503 to
// everything.
func deadReceiver() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "replicas: dead receiver:", err)
		}
	}()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
