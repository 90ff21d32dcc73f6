package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blackwellio/blackwell/bench/internal/proc"
	"github.com/blackwellio/blackwell/internal/store"
)

// runScale measures a full reconciliation pass of o.stacks stacks over
// three replicas: the config is applied by one replica started with
// --config (the apply time), which is then stopped; three replicas without
// a config start at once, claim their shards and pass every stack once
// (the pass time); then their steady-state CPU and memory.
func runScale(ctx context.Context, o options) error {
	env, err := newBenchEnv(ctx, o)
	if err != nil {
		return err
	}
	defer env.close()

	keys, blocks, cfgPath, err := writeScaleConfig(o, env)
	if err != nil {
		return err
	}
	// 1. The apply, by one replica.
	if err := applyScaleConfig(ctx, o, env, blocks, cfgPath); err != nil {
		return err
	}
	// 2. Three replicas at once, with the config applied, after a
	// checkpoint: otherwise one falls into some runs and not others (the
	// apply and every earlier run write WAL towards max_wal_size), and
	// the full-page images written after it made the same build's pass
	// cost PostgreSQL 0.5 to 1.5 ms of CPU from one run to the next.
	if err := env.schema.exec(ctx, `CHECKPOINT`); err != nil {
		return fmt.Errorf("checkpoint before the pass: %w", err)
	}
	pg0 := proc.PostgresCPU()
	t0 := time.Now()
	reps, err := startReplicas(o, env, 3, t0)
	defer func() {
		for _, r := range reps {
			r.stop()
		}
	}()
	if err != nil {
		return err
	}
	pass, err := measureFullPass(ctx, o, env, reps, keys, t0, pg0)
	if err != nil {
		return err
	}
	// 3. Steady state.
	measureSteady(ctx, o, env, reps, keys, pass)
	if o.join {
		return runJoin(ctx, o, env.db, env.dir, env.schema.url, reps, keys)
	}
	return nil
}

// writeScaleConfig writes the config of o.stacks stacks to the bench's
// directory: its stacks, its blocks (one a stack) and its path.
func writeScaleConfig(o options, env *benchEnv) ([]stackKey, []string, string, error) {
	var keys []stackKey
	blocks := configBlocks(o.stacks, o.perClient, env.target, o.interval, &keys)
	cfgPath := filepath.Join(env.dir, "stacks.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(blocks, "")), 0o644); err != nil {
		return nil, nil, "", err
	}
	fi, _ := os.Stat(cfgPath)
	fmt.Printf("%d stacks (%d per client, interval %s), config %.1f MiB, schema %s, serve %s\n",
		len(keys), o.perClient, o.interval, mib(fi.Size()), env.schema.name, strings.Join(o.serveArgs, " "))
	return keys, blocks, cfgPath, nil
}

// applyScaleConfig applies the config by one replica: with --config until
// it is ready, or through POST /v1/config in chunks under the API's 1 MiB
// body limit (o.apply); then stops it.
func applyScaleConfig(ctx context.Context, o options, env *benchEnv, blocks []string, cfgPath string) error {
	var (
		r0  *replica
		err error
	)
	switch o.apply {
	case "serve":
		if r0, err = startReplica(o, env.schema.url, cfgPath, env.dir, 0, false); err != nil {
			return err
		}
		if err := r0.waitReady(10 * time.Minute); err != nil {
			r0.stop()
			return err
		}
		p0 := proc.Read(r0.pid())
		fmt.Printf("apply: serve --config ready after %.1f s (CPU %.1f s, peak RSS %.0f MiB)",
			secs(r0.ready.Sub(r0.started)), secs(p0.CPU), mib(p0.HWM))
	case "api":
		if r0, err = startReplica(o, env.schema.url, "", env.dir, 0, false); err != nil {
			return err
		}
		if err := r0.waitReady(time.Minute); err != nil {
			r0.stop()
			return err
		}
		t := time.Now()
		chunks, err := applyAPI(r0.base, blocks, 900<<10)
		if err != nil {
			r0.stop()
			return err
		}
		p0 := proc.Read(r0.pid())
		fmt.Printf("apply: POST /v1/config of %d chunks took %.1f s (server CPU %.1f s, peak RSS %.0f MiB)",
			chunks, secs(time.Since(t)), secs(p0.CPU), mib(p0.HWM))
	default:
		return fmt.Errorf("unknown -apply %q: want serve or api", o.apply)
	}
	r0.stop()
	fmt.Printf("; it ran %d passes before it stopped\n", countSince(ctx, env.db, time.Time{}))
	return nil
}

// startReplicas starts n replicas without a config at once (the first
// with pprof if o.profile is set) and waits until they are ready, timed
// from t0. It answers those it started even with an error: the caller
// stops them.
func startReplicas(o options, env *benchEnv, n int, t0 time.Time) ([]*replica, error) {
	var reps []*replica
	for i := range n {
		r, err := startReplica(o, env.schema.url, "", env.dir, i+1, i == 0 && o.profile != "")
		if err != nil {
			return reps, err
		}
		reps = append(reps, r)
	}
	for _, r := range reps {
		if err := r.waitReady(2 * time.Minute); err != nil {
			return reps, err
		}
	}
	fmt.Printf("replicas ready after %s\n", joinDurations(reps, func(r *replica) time.Duration { return r.ready.Sub(t0) }))
	return reps, nil
}

// fullPass is what measureFullPass measured.
type fullPass struct {
	passes int
	pgCPU  time.Duration // PostgreSQL's CPU during the pass
	procs  []proc.Proc   // each replica at the pass's end
	owned  []int         // stacks each replica holds
}

// measureFullPass waits until the replicas launched at t0 have passed
// every stack (profiling the first if asked), then reports the pass: its
// times and each replica's CPU and memory. pg0 is PostgreSQL's CPU at t0.
func measureFullPass(ctx context.Context, o options, env *benchEnv, reps []*replica, keys []stackKey, t0 time.Time, pg0 time.Duration) (fullPass, error) {
	profiled := make(chan error, 1)
	if o.profile != "" {
		// The pass takes a while; a profile of its first part is enough.
		go func() { profiled <- fetchProfile(reps[0].pprof, o.profile, 20*time.Second) }()
	} else {
		profiled <- nil
	}
	if err := waitAllPassed(ctx, o, env, reps, len(keys), t0); err != nil {
		return fullPass{}, err
	}
	detected := time.Now()
	if err := <-profiled; err != nil {
		return fullPass{}, err
	}
	p := fullPass{pgCPU: proc.PostgresCPU() - pg0, procs: make([]proc.Proc, len(reps))}
	for i, r := range reps {
		p.procs[i] = proc.Read(r.pid())
	}
	var first, last time.Time
	if err := env.db.QueryRow(ctx, `SELECT min(done), max(done), sum(n) FROM (
		SELECT min(completed_at) AS done, count(*) AS n FROM reconciliations WHERE started_at >= $1 GROUP BY client_id, stack_id) f`,
		t0).Scan(&first, &last, &p.passes); err != nil {
		return fullPass{}, err
	}
	var err error
	if p.owned, err = stacksByReplica(ctx, env.db, reps, keys); err != nil {
		return fullPass{}, err
	}
	fmt.Printf("full pass: %d stacks, %d passes, first result %.1f s, every stack %.1f s after the replicas were launched (seen at %.1f s); PostgreSQL CPU %.1f s\n",
		len(keys), p.passes, secs(first.Sub(t0)), secs(last.Sub(t0)), secs(detected.Sub(t0)), secs(p.pgCPU))
	for i, r := range reps {
		pr := p.procs[i]
		fmt.Printf("  replica %d (pid %d, %d stacks): CPU %.1f s during the pass, RSS %.0f MiB, peak %.0f MiB (%.1f MiB per 1,000 of its stacks)\n",
			i+1, r.pid(), p.owned[i], secs(pr.CPU), mib(pr.RSS), mib(pr.HWM), mib(pr.HWM)/float64(max(p.owned[i], 1))*1000)
	}
	return p, nil
}

// waitAllPassed polls until stacks stacks have a pass started at or after
// t0, printing progress every 10 s; it fails after o.timeout or when a
// replica exits. The stacks that passed are counted (a DISTINCT over every
// result since t0, 50-250 ms of PostgreSQL's CPU at 100,000) only once as
// many results were inserted since the start of the wait, as PostgreSQL's
// statistics count them (about a second late, and free to read): polled
// twice a second throughout, the DISTINCT took a fifth of PostgreSQL's
// CPU during a 30,000-stack pass, and a count of the results since t0
// still 6 % at 100,000.
func waitAllPassed(ctx context.Context, o options, env *benchEnv, reps []*replica, stacks int, t0 time.Time) error {
	deadline := t0.Add(o.timeout)
	lastPrint := time.Now()
	base := resultsInserted(ctx, env.db)
	for {
		n := resultsInserted(ctx, env.db) - base
		if n >= stacks {
			if n = countSince(ctx, env.db, t0); n >= stacks {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s only %d of %d stacks reconciled", o.timeout, n, stacks)
		}
		for _, r := range reps {
			select {
			case <-r.exited:
				return fmt.Errorf("replica %d exited; its log: %s", r.pid(), tail(r.log))
			default:
			}
		}
		if time.Since(lastPrint) >= 10*time.Second {
			lastPrint = time.Now()
			fmt.Printf("  %5.1f s: %d results, %d stacks\n", secs(time.Since(t0)), n, stacks)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// measureSteady reports the replicas' and PostgreSQL's CPU and memory
// while idle but for heartbeats until the schedule comes round
// (-steady-after the interval's worth, to catch scheduled passes), and
// what the schedule costs at N/interval passes per second, from the CPU
// per pass of the full pass (replicas and PostgreSQL).
func measureSteady(ctx context.Context, o options, env *benchEnv, reps []*replica, keys []stackKey, pass fullPass) {
	time.Sleep(o.steadyAfter)
	before := make([]proc.Proc, len(reps))
	for i, r := range reps {
		before[i] = proc.Read(r.pid())
	}
	pgBefore := proc.PostgresCPU()
	w0 := time.Now()
	time.Sleep(o.steady)
	window := time.Since(w0)
	pgSteady := proc.PostgresCPU() - pgBefore
	steadyPasses := countStarted(ctx, env.db, w0)
	fmt.Printf("steady state over %.0f s: %d passes started; PostgreSQL %.1f%% of a core\n", secs(window), steadyPasses, 100*secs(pgSteady)/secs(window))
	var totalRSS int64
	for i, r := range reps {
		p := proc.Read(r.pid())
		totalRSS += p.RSS
		fmt.Printf("  replica %d: %.2f%% of a core, RSS %.0f MiB (%.1f MiB per 1,000 of its %d stacks), peak %.0f MiB, %d threads\n",
			i+1, 100*secs(p.CPU-before[i].CPU)/secs(window), mib(p.RSS), mib(p.RSS)/float64(max(pass.owned[i], 1))*1000, pass.owned[i], mib(p.HWM), p.Threads)
	}
	fmt.Printf("  all three: RSS %.0f MiB, %.1f MiB per 1,000 stacks\n", mib(totalRSS), mib(totalRSS)/float64(len(keys))*1000)
	var repCPU time.Duration
	for _, p := range pass.procs {
		repCPU += p.CPU
	}
	rate := float64(len(keys)) / o.interval.Seconds()
	perPass, pgPerPass := secs(repCPU)/float64(pass.passes), secs(pass.pgCPU)/float64(pass.passes)
	fmt.Printf("CPU per pass during the full pass: replicas %.2f ms, PostgreSQL %.2f ms; the schedule's %.0f passes/s would cost %.0f%% of a core over the three replicas and %.0f%% in PostgreSQL\n",
		perPass*1000, pgPerPass*1000, rate, 100*rate*perPass, 100*rate*pgPerPass)
}

// runJoin measures a replica joining (issue 23, item 3): replica 3 stops
// (SIGTERM: its shards go to the other two, which pass its stacks); once
// they are done, it starts again. From its launch: the time until the
// first pass it committed, until it has passed every stack of the shards
// it took back, and the rows PostgreSQL read from states meanwhile (table
// and per-index statistics; passes read their own stack's row too).
func runJoin(ctx context.Context, o options, db *pgxpool.Pool, dir, storeURL string, reps []*replica, keys []stackKey) error {
	leaver := reps[2]
	leaver.stop()
	if err := waitQuiet(ctx, db, 3*time.Second, 5*time.Minute); err != nil {
		return err
	}
	before, err := statesReads(ctx, db)
	if err != nil {
		return err
	}
	t0 := time.Now()
	joiner, err := startReplica(o, storeURL, "", dir, 4, false)
	if err != nil {
		return err
	}
	defer joiner.stop()
	var first time.Duration
	for first == 0 {
		var done *time.Time
		if err := db.QueryRow(ctx, `SELECT min(completed_at) FROM reconciliations WHERE started_at >= $1`, t0).Scan(&done); err != nil {
			return err
		}
		if done != nil {
			first = done.Sub(t0)
			break
		}
		if time.Since(t0) > 2*time.Minute {
			return fmt.Errorf("the joining replica passed no stack in 2 minutes; its log: %s", tail(joiner.log))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := joiner.waitReady(time.Minute); err != nil {
		return err
	}
	if err := waitQuiet(ctx, db, 3*time.Second, 5*time.Minute); err != nil {
		return err
	}
	owned, err := stacksByReplica(ctx, db, []*replica{joiner}, keys)
	if err != nil {
		return err
	}
	var last *time.Time
	var passed int
	if err := db.QueryRow(ctx, `SELECT max(completed_at), count(DISTINCT (client_id, stack_id)) FROM reconciliations WHERE started_at >= $1`,
		t0).Scan(&last, &passed); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // table statistics are published within a second or so
	after, err := statesReads(ctx, db)
	if err != nil {
		return err
	}
	var lastAt time.Duration
	if last != nil {
		lastAt = last.Sub(t0)
	}
	fmt.Printf("join: replica launched; ready after %.2f s, first pass committed %.2f s after launch; it holds %d stacks, %d stacks passed after launch, the last %.1f s after launch\n",
		secs(joiner.ready.Sub(t0)), secs(first), owned[0], passed, secs(lastAt))
	fmt.Printf("  states rows read meanwhile (every replica): %d (through states_shard %d, the primary key %d, sequential %d)\n",
		after.total-before.total, after.shard-before.shard, after.pkey-before.pkey, after.seq-before.seq)
	return nil
}

// reads counts rows read from states.
type reads struct{ total, shard, pkey, seq int64 }

// statesReads reads states' table and index statistics.
func statesReads(ctx context.Context, db *pgxpool.Pool) (reads, error) {
	var r reads
	err := db.QueryRow(ctx, `SELECT coalesce(t.seq_tup_read, 0) + coalesce(t.idx_tup_fetch, 0), coalesce(t.seq_tup_read, 0),
	coalesce((SELECT sum(idx_tup_read) FROM pg_stat_user_indexes i WHERE i.relid = t.relid AND i.indexrelname = 'states_shard'), 0),
	coalesce((SELECT sum(idx_tup_read) FROM pg_stat_user_indexes i WHERE i.relid = t.relid AND i.indexrelname = 'states_pkey'), 0)
FROM pg_stat_user_tables t WHERE t.relid = 'states'::regclass`).Scan(&r.total, &r.seq, &r.shard, &r.pkey)
	return r, err
}

// waitQuiet waits until no pass has started for quiet.
func waitQuiet(ctx context.Context, db *pgxpool.Pool, quiet, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM reconciliations WHERE started_at >= $1`, time.Now().Add(-quiet)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("passes still running after %s", timeout)
}

// countSince is how many stacks have a result of a pass started at or
// after t.
func countSince(ctx context.Context, db *pgxpool.Pool, t time.Time) int {
	var n int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT client_id, stack_id FROM reconciliations WHERE started_at >= $1) s`, t).Scan(&n)
	return n
}

// resultsInserted is how many rows were ever inserted into the schema's
// reconciliations, by PostgreSQL's statistics (flushed about once a
// second by each backend).
func resultsInserted(ctx context.Context, db *pgxpool.Pool) int {
	var n int64
	_ = db.QueryRow(ctx, `SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables
WHERE relname = 'reconciliations' AND schemaname = current_schema()`).Scan(&n)
	return int(n)
}

// countStarted is how many passes started at or after t.
func countStarted(ctx context.Context, db *pgxpool.Pool, t time.Time) int {
	var n int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM reconciliations WHERE started_at >= $1`, t).Scan(&n)
	return n
}

// stacksByReplica counts the stacks of the shards each replica holds now
// (replica ids hold ":PID:").
func stacksByReplica(ctx context.Context, db *pgxpool.Pool, reps []*replica, keys []stackKey) ([]int, error) {
	owners, err := shardOwners(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(reps))
	for _, k := range keys {
		owner := owners[store.ShardOf(k.client, k.stack)]
		for i, r := range reps {
			if strings.Contains(owner, ":"+strconv.Itoa(r.pid())+":") {
				out[i]++
			}
		}
	}
	return out, nil
}

// shardOwners maps each shard with a live lease to its owner.
func shardOwners(ctx context.Context, db *pgxpool.Pool) (map[int]string, error) {
	rows, err := db.Query(ctx, `SELECT shard, owner FROM shard_leases WHERE expires_at > now() AND owner <> ''`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var shard int
		var owner string
		if err := rows.Scan(&shard, &owner); err != nil {
			return nil, err
		}
		out[shard] = owner
	}
	return out, rows.Err()
}

func joinDurations(reps []*replica, f func(*replica) time.Duration) string {
	var parts []string
	for _, r := range reps {
		parts = append(parts, fmt.Sprintf("%.2f s", secs(f(r))))
	}
	return strings.Join(parts, ", ")
}

// applyAPI posts the config blocks to POST /v1/config in chunks of at most
// limit bytes, one after another, and returns how many.
func applyAPI(base string, blocks []string, limit int) (int, error) {
	hc := &http.Client{Timeout: 5 * time.Minute}
	n := 0
	for len(blocks) > 0 {
		var body strings.Builder
		for len(blocks) > 0 && (body.Len() == 0 || body.Len()+len(blocks[0]) <= limit) {
			body.WriteString(blocks[0])
			blocks = blocks[1:]
		}
		req, err := http.NewRequest(http.MethodPost, base+"/v1/config", strings.NewReader(body.String()))
		if err != nil {
			return n, err
		}
		req.Header.Set("Content-Type", "application/yaml")
		req.Header.Set("X-Blackwell-Filename", fmt.Sprintf("chunk-%d.yaml", n))
		resp, err := hc.Do(req)
		if err != nil {
			return n, err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return n, fmt.Errorf("POST /v1/config chunk %d: %s: %s", n, resp.Status, msg)
		}
		n++
	}
	return n, nil
}

// fetchProfile writes a CPU profile of d from the pprof server at addr to
// path.
func fetchProfile(addr, path string, d time.Duration) error {
	if err := fetchPprof(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), path, d); err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	// The allocations since the replica started, the pass's first part
	// among them.
	if err := fetchPprof(fmt.Sprintf("http://%s/debug/pprof/allocs", addr), path+".allocs", 0); err != nil {
		return fmt.Errorf("allocation profile: %w", err)
	}
	return nil
}

// fetchPprof writes what url answers to path; d is how long it takes to
// answer.
func fetchPprof(url, path string, d time.Duration) error {
	hc := &http.Client{Timeout: d + 30*time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
