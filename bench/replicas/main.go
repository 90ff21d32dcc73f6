// Command replicas measures blackwell serve scaled out over several
// replicas on one PostgreSQL (issue 6, docs/PERFORMANCE.md): a full
// reconciliation pass of many stacks over three replicas with their CPU
// and memory, webhook ingest with durable commits against the bare
// net/http handler (through bench/ingest), failover after SIGKILL, and
// the event stream's fan-out to subscribers of every replica.
// Each benchmark runs in a fresh schema of the server's database, dropped
// at the end.
//
//	go build -o /tmp/bw ./cmd/blackwell
//	go run ./bench/replicas -blackwell /tmp/bw -bench scale -stacks 100000
//	go run ./bench/replicas -blackwell /tmp/bw -bench failover -kills 10
//	go run ./bench/replicas -blackwell /tmp/bw -bench outbox -backlog 100000 -steady 20s
//	go run ./bench/replicas -blackwell /tmp/bw -bench scale -stacks 100000 -steady 5s -join
//	go run ./bench/replicas -blackwell /tmp/bw -bench stream -stacks 10000
//	go build -o /tmp/ingest ./bench/ingest
//	(cd ../shared/bench/bare-httpd && go build -o /tmp/bare-httpd .)
//	go run ./bench/replicas -blackwell /tmp/bw -bench ingest -ingest /tmp/ingest -bare /tmp/bare-httpd
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type options struct {
	blackwell string
	server    string // PostgreSQL server URL (a schema is added)
	bench     string
	keep      bool
	serveArgs []string

	// scale
	stacks      int
	apply       string
	perClient   int
	interval    time.Duration
	steady      time.Duration
	steadyAfter time.Duration
	timeout     time.Duration
	profile     string // scale: write replica 1's CPU profile of the pass here
	join        bool   // scale: then measure a replica joining

	// failover
	kills          int
	failoverStacks int

	// outbox
	backlog int

	// ingest
	ingestBin  string
	bareBin    string
	ingestArgs []string
}

func main() {
	var o options
	var serveArgs, ingestArgs string
	flag.StringVar(&o.blackwell, "blackwell", "", "path of the blackwell binary (go build ./cmd/blackwell)")
	flag.StringVar(&o.server, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server; each benchmark makes a fresh schema in it and drops it after")
	flag.StringVar(&o.bench, "bench", "scale", "what to measure: scale, failover, outbox, ingest or stream")
	flag.BoolVar(&o.keep, "keep", false, "keep the schema (and print its name) instead of dropping it")
	flag.StringVar(&serveArgs, "serve-args", "", "more arguments for every blackwell serve, space-separated")
	flag.IntVar(&o.stacks, "stacks", 100000, "scale, stream: stacks in the config")
	flag.StringVar(&o.apply, "apply", "serve", "scale: how one replica applies the config first: serve (--config) or api (POST /v1/config in chunks)")
	flag.IntVar(&o.perClient, "per-client", 100, "stacks per client")
	flag.DurationVar(&o.interval, "interval", 5*time.Minute, "scheduled interval of every stack's policy")
	flag.DurationVar(&o.steady, "steady", 60*time.Second, "scale: window of the steady-state CPU after the pass")
	flag.DurationVar(&o.steadyAfter, "steady-after", 5*time.Second, "scale: wait this long after the pass before the steady-state window")
	flag.DurationVar(&o.timeout, "timeout", 8*time.Minute, "scale: give up on the pass after this long")
	flag.StringVar(&o.profile, "profile", "", "scale: write a CPU profile of replica 1 during the pass to this file, and its allocations since it started to FILE.allocs (go tool pprof FILE)")
	flag.BoolVar(&o.join, "join", false, "scale: after the steady state, stop replica 3 and start it again: its join (time to its first pass, rows read)")
	flag.IntVar(&o.kills, "kills", 10, "failover: replicas killed one after another")
	flag.IntVar(&o.failoverStacks, "failover-stacks", 3000, "failover: stacks in the config")
	flag.IntVar(&o.backlog, "backlog", 100000, "outbox: pending deliveries of the dead channel (and as many of another)")
	flag.StringVar(&o.ingestBin, "ingest", "", "ingest: path of the bench/ingest binary (go build ./bench/ingest)")
	flag.StringVar(&o.bareBin, "bare", "", "ingest: path of the bare-httpd binary")
	flag.StringVar(&ingestArgs, "ingest-args", "", "ingest: more arguments for bench/ingest, space-separated")
	flag.Parse()
	o.serveArgs, o.ingestArgs = strings.Fields(serveArgs), strings.Fields(ingestArgs)
	if o.blackwell == "" {
		fmt.Fprintln(os.Stderr, "replicas: -blackwell is required")
		os.Exit(2)
	}
	ctx := context.Background()
	var err error
	switch o.bench {
	case "scale":
		err = runScale(ctx, o)
	case "failover":
		err = runFailover(ctx, o)
	case "ingest":
		err = runIngest(ctx, o)
	case "outbox":
		err = runOutbox(ctx, o)
	case "stream":
		err = runStream(ctx, o)
	default:
		err = fmt.Errorf("unknown -bench %q: want scale, failover, outbox, ingest or stream", o.bench)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "replicas:", err)
		os.Exit(1)
	}
}

// benchEnv is what every benchmark runs in: the local HTTP server the
// stacks' probes hit, a fresh schema, a pool on it and a temporary
// directory for configs and logs.
type benchEnv struct {
	target string
	schema *schema
	db     *pgxpool.Pool
	dir    string
	undo   []func()
}

func newBenchEnv(ctx context.Context, o options) (env *benchEnv, err error) {
	env = &benchEnv{}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	target, stopTarget, err := probeTarget()
	if err != nil {
		return nil, err
	}
	env.target, env.undo = target, append(env.undo, stopTarget)
	if env.schema, err = newSchema(ctx, o.server, o.keep); err != nil {
		return nil, err
	}
	env.undo = append(env.undo, env.schema.drop)
	if env.db, err = env.schema.pool(ctx); err != nil {
		return nil, err
	}
	env.undo = append(env.undo, env.db.Close)
	if env.dir, err = os.MkdirTemp("", "blackwell-"+o.bench+"-bench-"); err != nil {
		return nil, err
	}
	env.undo = append(env.undo, func() { os.RemoveAll(env.dir) })
	return env, nil
}

// close undoes newBenchEnv, last step first.
func (e *benchEnv) close() {
	for i := len(e.undo) - 1; i >= 0; i-- {
		e.undo[i]()
	}
}

// schema is a fresh schema of the server's database.
type schema struct {
	name, url string
	server    string
	keep      bool
}

func newSchema(ctx context.Context, server string, keep bool) (*schema, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s := &schema{name: "bench_" + hex.EncodeToString(b), server: server, keep: keep}
	if err := s.exec(ctx, `CREATE SCHEMA `+s.name); err != nil {
		return nil, err
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", s.name)
	u.RawQuery = q.Encode()
	s.url = u.String()
	return s, nil
}

func (s *schema) exec(ctx context.Context, q string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.server)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, q)
	return err
}

// drop drops the schema, unless it is to be kept.
func (s *schema) drop() {
	if s.keep {
		fmt.Println("schema kept:", s.name)
		return
	}
	if err := s.exec(context.Background(), `DROP SCHEMA `+s.name+` CASCADE`); err != nil {
		fmt.Fprintln(os.Stderr, "replicas: drop schema:", err)
	}
}

// pool opens a small pool on the schema for the harness's own queries.
func (s *schema) pool(ctx context.Context) (*pgxpool.Pool, error) {
	return pgxpool.New(ctx, s.url+"&pool_max_conns=2")
}

// replica is one blackwell serve process.
type replica struct {
	cmd     *exec.Cmd
	base    string
	log     string
	started time.Time
	ready   time.Time
	exited  chan struct{}
	pprof   string // its --pprof-listen address, if any
}

func (r *replica) pid() int { return r.cmd.Process.Pid }

// startReplica starts blackwell serve on the store. cfg is its --config, or
// "" for none (the process runs in dir, which has no blackwell.yaml). With
// pprof, it serves Go's profiles on a port of its own.
func startReplica(o options, storeURL, cfg, dir string, n int, pprof bool) (*replica, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--listen", "127.0.0.1:" + port, "--store", storeURL, "--log-level", "warn"}
	if cfg != "" {
		args = append(args, "--config", cfg)
	}
	var pprofAddr string
	if pprof {
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		pprofAddr = "127.0.0.1:" + pp
		args = append(args, "--pprof-listen", pprofAddr)
	}
	args = append(args, o.serveArgs...)
	cmd := exec.Command(o.blackwell, args...)
	cmd.Dir = dir
	logPath := filepath.Join(dir, fmt.Sprintf("replica-%d.log", n))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	r := &replica{cmd: cmd, base: "http://127.0.0.1:" + port, log: logPath, exited: make(chan struct{}), pprof: pprofAddr}
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { _ = cmd.Wait(); f.Close(); close(r.exited) }()
	return r, nil
}

// waitReady waits until the replica answers /readyz with 200.
func (r *replica) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("replica %d exited; its log: %s", r.pid(), tail(r.log))
		default:
		}
		if resp, err := hc.Get(r.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				r.ready = time.Now()
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("replica %d not ready after %s; its log: %s", r.pid(), timeout, tail(r.log))
}

// stop ends the replica with SIGTERM (it releases its shards), or SIGKILL
// after 20 s.
func (r *replica) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// kill ends the replica with SIGKILL: no goodbye.
func (r *replica) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// probeTarget is the one local HTTP server every stack's probe hits.
func probeTarget() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "replicas: probe target:", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/", func() { _ = srv.Close() }, nil
}
