package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blackwellio/blackwell/bench/internal/proc"
	"github.com/blackwellio/blackwell/internal/store"
)

// runStream measures the event stream's fan-out over three replicas
// (issue 23, item 1): one subscriber of GET /v1/stream on each replica;
// a reconcile of every client, asked of the replicas in turn, passes every
// stack once; each subscriber must receive every pass's
// reconciliation.completed, whichever replica committed it. Per
// subscriber: the events it received per second, and for the events of
// the other replicas' passes the time from their commit (the stream log
// row's created_at, PostgreSQL's clock as the transaction commits)
// to their arrival.
func runStream(ctx context.Context, o options) error {
	env, err := newBenchEnv(ctx, o)
	if err != nil {
		return err
	}
	defer env.close()
	w, err := startStreamWorld(ctx, o, env)
	if err != nil {
		return err
	}
	defer w.stop()
	if err := w.subscribe(); err != nil {
		return err
	}
	t1 := time.Now()
	if err := w.reconcileEveryClient(); err != nil {
		return err
	}
	if err := w.waitEveryPass(o.timeout); err != nil {
		return err
	}
	pgCPU := proc.PostgresCPU() - w.pg0
	return w.report(ctx, t1, pgCPU)
}

// streamWorld is the stream benchmark's replicas, stacks and subscribers.
type streamWorld struct {
	db      *pgxpool.Pool
	keys    []stackKey
	reps    []*replica
	subs    []*subscriber
	secret  string
	head    int64 // the stream log's head before the reconciles
	clients []string
	cpu0    []proc.Proc
	lag0    []map[string]float64
	pg0     time.Duration
}

// startStreamWorld applies the stacks with one replica, starts three
// without a config, and waits until they have passed every stack once and
// gone quiet.
func startStreamWorld(ctx context.Context, o options, env *benchEnv) (*streamWorld, error) {
	w := &streamWorld{db: env.db}
	blocks := configBlocks(o.stacks, o.perClient, env.target, o.interval, &w.keys)
	cfgPath := filepath.Join(env.dir, "stacks.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(blocks, "")), 0o644); err != nil {
		return nil, err
	}
	fmt.Printf("%d stacks (%d per client, interval %s), schema %s, serve %s\n", len(w.keys), o.perClient, o.interval, env.schema.name, strings.Join(o.serveArgs, " "))
	r0, err := startReplica(o, env.schema.url, cfgPath, env.dir, 0, false)
	if err != nil {
		return nil, err
	}
	err = r0.waitReady(10 * time.Minute)
	r0.stop()
	if err != nil {
		return nil, err
	}
	if w.secret, err = createToken(o.blackwell, env.schema.url, env.dir); err != nil {
		return nil, err
	}
	t0 := time.Now()
	for i := range 3 {
		r, err := startReplica(o, env.schema.url, "", env.dir, i+1, false)
		if err != nil {
			w.stop()
			return nil, err
		}
		w.reps = append(w.reps, r)
	}
	if err := w.waitFirstPass(ctx, t0, o.timeout); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

// waitFirstPass waits for the replicas to be ready, to pass every stack
// (they do at start) and to go quiet; then it reads the log's head.
func (w *streamWorld) waitFirstPass(ctx context.Context, t0 time.Time, timeout time.Duration) error {
	for _, r := range w.reps {
		if err := r.waitReady(2 * time.Minute); err != nil {
			return err
		}
	}
	for countSince(ctx, w.db, t0) < len(w.keys) {
		if time.Since(t0) > timeout {
			return fmt.Errorf("the first pass did not finish in %s", timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := waitQuiet(ctx, w.db, 2*time.Second, 5*time.Minute); err != nil {
		return err
	}
	return w.db.QueryRow(ctx, `SELECT seq FROM stream_head`).Scan(&w.head)
}

// stop ends the subscribers and the replicas.
func (w *streamWorld) stop() {
	for _, s := range w.subs {
		s.stop()
	}
	for _, r := range w.reps {
		r.stop()
	}
}

// subscribe opens one subscriber on each replica and, once all are
// connected, reads the replicas' and PostgreSQL's CPU and lag histograms.
func (w *streamWorld) subscribe() error {
	for _, r := range w.reps {
		s := newSubscriber(r.base, w.secret)
		w.subs = append(w.subs, s)
		go s.run(context.Background())
	}
	for _, s := range w.subs {
		select {
		case <-s.connected:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("a stream did not connect")
		}
	}
	w.cpu0 = make([]proc.Proc, len(w.reps))
	w.lag0 = make([]map[string]float64, len(w.reps))
	for i, r := range w.reps {
		w.cpu0[i] = proc.Read(r.pid())
		var err error
		if w.lag0[i], err = lagBuckets(r.base, w.secret); err != nil {
			return err
		}
	}
	w.pg0 = proc.PostgresCPU()
	return nil
}

// reconcileEveryClient asks each client's reconcile of the replicas in
// turn.
func (w *streamWorld) reconcileEveryClient() error {
	seen := map[string]bool{}
	for _, k := range w.keys {
		if !seen[k.client] {
			seen[k.client] = true
			w.clients = append(w.clients, k.client)
		}
	}
	hc := &http.Client{Timeout: time.Minute}
	for n, c := range w.clients {
		req, _ := http.NewRequest(http.MethodPost, w.reps[n%len(w.reps)].base+"/v1/clients/"+c+"/reconcile", nil)
		req.Header.Set("Authorization", "Bearer "+w.secret)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("reconcile %s: %s", c, resp.Status)
		}
	}
	return nil
}

// waitEveryPass waits until every subscriber has every stack's pass.
func (w *streamWorld) waitEveryPass(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var got []string
		done := true
		for _, s := range w.subs {
			n := s.passes(w.head)
			done = done && n >= len(w.keys)
			got = append(got, strconv.Itoa(n))
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s the subscribers had %s of %d passes", timeout, strings.Join(got, ", "), len(w.keys))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// report prints when the events committed and, per subscriber, when they
// arrived: the passes of other replicas apart from its own replica's.
func (w *streamWorld) report(ctx context.Context, t1 time.Time, pgCPU time.Duration) error {
	committed, err := streamCommits(ctx, w.db, w.head)
	if err != nil {
		return err
	}
	producer, err := w.producers(ctx)
	if err != nil {
		return err
	}
	var first, last time.Time
	if err := w.db.QueryRow(ctx, `SELECT min(created_at), max(created_at) FROM stream WHERE seq > $1`, w.head).Scan(&first, &last); err != nil {
		return err
	}
	fmt.Printf("reconcile of %d clients asked at +0 s; %d events committed from +%.2f s to +%.2f s (%.0f events/s); PostgreSQL CPU %.1f s\n",
		len(w.clients), len(committed), secs(first.Sub(t1)), secs(last.Sub(t1)), float64(len(committed))/secs(last.Sub(first)), secs(pgCPU))
	var allOthers []time.Duration
	for i := range w.subs {
		others, err := w.reportSubscriber(i, committed, producer)
		if err != nil {
			return err
		}
		allOthers = append(allOthers, others...)
	}
	fmt.Printf("commit to arrival at a subscriber of another replica, all subscribers (%d): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		len(allOthers), ms(quantile(allOthers, 0.5)), ms(quantile(allOthers, 0.99)), ms(quantile(allOthers, 1)))
	return nil
}

// producers says which replica (its index) committed a stack's events:
// the owner of the stack's shard; -1 for none of them.
func (w *streamWorld) producers(ctx context.Context) (func(streamArrival) int, error) {
	owners, err := shardOwners(ctx, w.db)
	if err != nil {
		return nil, err
	}
	return func(e streamArrival) int {
		owner := owners[store.ShardOf(e.client, e.stack)]
		for i, r := range w.reps {
			if strings.Contains(owner, ":"+strconv.Itoa(r.pid())+":") {
				return i
			}
		}
		return -1
	}, nil
}

// reportSubscriber prints subscriber i's figures and returns the delays
// of the other replicas' passes it received.
func (w *streamWorld) reportSubscriber(i int, committed map[int64]time.Time, producer func(streamArrival) int) ([]time.Duration, error) {
	s := w.subs[i]
	evs := s.after(w.head)
	var others, own []time.Duration
	var firstAt, lastAt time.Time
	for j, e := range evs {
		if j == 0 {
			firstAt = e.at
		}
		lastAt = e.at
		at, ok := committed[e.seq]
		if !ok || e.kind != "reconciliation.completed" {
			continue
		}
		if p := producer(e); p >= 0 && p != i {
			others = append(others, e.at.Sub(at))
		} else if p == i {
			own = append(own, e.at.Sub(at))
		}
	}
	p := proc.Read(w.reps[i].pid())
	lag, err := lagBuckets(w.reps[i].base, w.secret)
	if err != nil {
		return nil, err
	}
	fmt.Printf("  subscriber of replica %d: %d events (%d reconnections, %d duplicates, %d out of order), %.0f events/s over %.2f s; "+
		"commit to arrival, other replicas' passes (%d): p50 %.1f ms, p99 %.1f ms, max %.1f ms; its own (%d): p50 %.1f ms, p99 %.1f ms; replica CPU %.1f s; "+
		"commit to publication on the replica's bus (blackwell_stream_lag_seconds): p50 <= %s, p99 <= %s\n",
		i+1, len(evs), s.reconnects(), s.duplicates(), s.disorder(), float64(len(evs))/secs(lastAt.Sub(firstAt)), secs(lastAt.Sub(firstAt)),
		len(others), ms(quantile(others, 0.5)), ms(quantile(others, 0.99)), ms(quantile(others, 1)),
		len(own), ms(quantile(own, 0.5)), ms(quantile(own, 0.99)), secs(p.CPU-w.cpu0[i].CPU),
		bucketQuantile(w.lag0[i], lag, 0.5), bucketQuantile(w.lag0[i], lag, 0.99))
	return others, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// lagBuckets reads the cumulative buckets of blackwell_stream_lag_seconds
// from the replica's /metrics, by upper bound.
func lagBuckets(base, token string) (map[string]float64, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `blackwell_stream_lag_seconds_bucket{le="`)
		if !ok {
			continue
		}
		le, count, _ := strings.Cut(rest, `"} `)
		v, _ := strconv.ParseFloat(count, 64)
		out[le] = v
	}
	return out, sc.Err()
}

// bucketQuantile is the upper bound of the bucket holding the q-quantile of
// the observations between two reads of a histogram's buckets.
func bucketQuantile(before, after map[string]float64, q float64) string {
	type bucket struct {
		le float64
		n  float64
	}
	var bs []bucket
	for le, n := range after {
		v, err := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			v, err = math.Inf(1), nil
		}
		if err == nil {
			bs = append(bs, bucket{v, n - before[le]})
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return "-"
	}
	total := bs[len(bs)-1].n
	for _, b := range bs {
		if b.n >= q*total {
			return strconv.FormatFloat(b.le*1000, 'f', -1, 64) + " ms"
		}
	}
	return "+Inf"
}

// createToken makes an admin API token in the store with the CLI.
func createToken(bin, storeURL, dir string) (string, error) {
	file := filepath.Join(dir, "bench.secret")
	out, err := exec.Command(bin, "token", "create", "--store", storeURL, "--name", "bench", "--role", "admin",
		"--secret-file", file, "-o", "json").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("token create: %w: %s", err, out)
	}
	b, err := os.ReadFile(file)
	return strings.TrimSpace(string(b)), err
}

// streamCommits maps the seqs of the stream log after head to their
// created_at.
func streamCommits(ctx context.Context, db *pgxpool.Pool, head int64) (map[int64]time.Time, error) {
	rows, err := db.Query(ctx, `SELECT seq, created_at FROM stream WHERE seq > $1`, head)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var seq int64
		var at time.Time
		if err := rows.Scan(&seq, &at); err != nil {
			return nil, err
		}
		out[seq] = at
	}
	return out, rows.Err()
}

// streamArrival is an event as a subscriber received it.
type streamArrival struct {
	seq                 int64
	kind, client, stack string
	at                  time.Time
}

// subscriber reads one replica's stream as a client would: it reconnects
// with Last-Event-ID when the stream drops.
type subscriber struct {
	base, token string
	connected   chan struct{}
	once        sync.Once
	cancel      context.CancelFunc

	mu                        sync.Mutex
	events                    []streamArrival
	seen                      map[int64]bool
	last                      int64
	reconnected, dups, behind int
}

func newSubscriber(base, token string) *subscriber {
	return &subscriber{base: base, token: token, connected: make(chan struct{}), seen: map[int64]bool{}}
}

func (s *subscriber) run(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	for ctx.Err() == nil {
		_ = s.read(ctx)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.reconnected++
		s.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *subscriber) stop() {
	if s.cancel != nil {
		s.cancel()
	}
}

func (s *subscriber) read(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/v1/stream", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	s.mu.Lock()
	if s.last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(s.last, 10))
	}
	s.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stream: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		id   int64
		kind string
	)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			id, kind = 0, ""
		case string(line) == ": connected":
			s.once.Do(func() { close(s.connected) })
		case len(line) > 4 && string(line[:4]) == "id: ":
			id, _ = strconv.ParseInt(string(line[4:]), 10, 64)
		case len(line) > 7 && string(line[:7]) == "event: ":
			kind = string(line[7:])
		case len(line) > 6 && string(line[:6]) == "data: ":
			at := time.Now()
			var e struct {
				ClientID string `json:"client_id"`
				StackID  string `json:"stack_id"`
			}
			_ = json.Unmarshal(line[6:], &e)
			s.mu.Lock()
			switch {
			case s.seen[id]:
				s.dups++
			default:
				if id < s.last {
					s.behind++
				}
				s.seen[id] = true
				s.last = max(s.last, id)
				s.events = append(s.events, streamArrival{seq: id, kind: kind, client: e.ClientID, stack: e.StackID, at: at})
			}
			s.mu.Unlock()
		}
	}
	return sc.Err()
}

// passes counts the distinct stacks of the reconciliation events after head.
func (s *subscriber) passes(head int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	stacks := map[stackKey]bool{}
	for _, e := range s.events {
		if e.seq > head && e.kind == "reconciliation.completed" {
			stacks[stackKey{e.client, e.stack}] = true
		}
	}
	return len(stacks)
}

func (s *subscriber) after(head int64) []streamArrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []streamArrival
	for _, e := range s.events {
		if e.seq > head {
			out = append(out, e)
		}
	}
	return out
}

func (s *subscriber) reconnects() int { s.mu.Lock(); defer s.mu.Unlock(); return s.reconnected }
func (s *subscriber) duplicates() int { s.mu.Lock(); defer s.mu.Unlock(); return s.dups }
func (s *subscriber) disorder() int   { s.mu.Lock(); defer s.mu.Unlock(); return s.behind }
