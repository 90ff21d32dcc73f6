// Command ingest is the load generator of the webhook-ingest benchmark
// (docs/PERFORMANCE.md): it starts blackwell serve (a durable SQLite store
// in a temp dir) and the bare net/http handler of
// ../shared/bench/bare-httpd side by side, then drives each in turn,
// alternating, with the same signed deliveries from the same number of
// concurrent senders, each on its own keep-alive connection, and reports
// deliveries per second, acknowledgement latency and the ratio
// blackwell / bare. With -compare, a second blackwell binary (another
// build, e.g. the commit before a change) runs beside the first, with a
// store of its own, and takes its turn in every round: changes are judged
// against a baseline measured under the same load.
//
//	go build -o /tmp/bw ./cmd/blackwell
//	(cd ../shared/bench && go build -o /tmp/bare-httpd ./bare-httpd)
//	go run ./bench/ingest -blackwell /tmp/bw -bare /tmp/bare-httpd
package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blackwellio/blackwell/bench/internal/proc"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

const (
	shopifySecret = "bench-shopify-secret"
	genericSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// options are the command's flags.
type options struct {
	blackwellBin, bareBin string
	compareBin            string // a second blackwell binary, measured beside the first
	senders               int
	duration, warmup      time.Duration
	rounds                int
	provider              string
	dir                   string // blackwell's store directory; empty: a new temp dir
	serveArgs             []string
	storeURL              string // blackwell's store when not SQLite in dir
	compareStore          string // the -compare binary's store when not SQLite in dir
}

func main() {
	var (
		o         options
		serveArgs string
	)
	flag.StringVar(&o.blackwellBin, "blackwell", "", "path of the blackwell binary (go build ./cmd/blackwell)")
	flag.StringVar(&o.bareBin, "bare", "", "path of the bare-httpd binary (../shared/bench/bare-httpd)")
	flag.IntVar(&o.senders, "c", 64, "concurrent senders, one connection each")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of one measured run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	flag.IntVar(&o.rounds, "rounds", 3, "runs per target, alternating bare, blackwell, bare, ...")
	flag.StringVar(&o.provider, "provider", "shopify", "deliveries to send: shopify (products/update) or generic (Standard Webhooks)")
	flag.StringVar(&o.dir, "dir", "", "directory of blackwell's store (default: a new temp dir, removed after)")
	flag.StringVar(&serveArgs, "serve-args", "", "more arguments for blackwell serve, space-separated (e.g. --webhook-trigger-interval 1m)")
	flag.StringVar(&o.compareBin, "compare", "", "path of a second blackwell binary to measure in every round (its store: SQLite in -dir, or -compare-store)")
	flag.StringVar(&o.compareStore, "compare-store", "", "store URL for the -compare binary (default: SQLite in -dir; a PostgreSQL one should be a database of its own)")
	flag.StringVar(&o.storeURL, "store", "", "store URL for blackwell serve, e.g. postgres://... (default: SQLite in -dir)")
	flag.Parse()
	o.serveArgs = strings.Fields(serveArgs)
	if o.blackwellBin == "" || o.bareBin == "" {
		fmt.Fprintln(os.Stderr, "ingest: -blackwell and -bare are required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "blackwell-ingest-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	bare, err := startBare(o.bareBin)
	if err != nil {
		return err
	}
	defer stop(bare.cmd)
	servers, err := startServers(o)
	defer func() {
		for _, s := range servers {
			stop(s.cmd)
		}
	}()
	if err != nil {
		return err
	}
	if err := waitReady(bare.url, http.MethodPost); err != nil {
		return fmt.Errorf("bare-httpd: %w", err)
	}
	totals := measure(o, append([]target{bare}, servers...))
	return report(o, totals)
}

// target is a server under load: bare-httpd or a blackwell serve.
type target struct {
	name, url string
	cmd       *exec.Cmd
}

// startBare starts the bare net/http handler on a free port.
func startBare(bin string) (target, error) {
	port, err := freePort()
	if err != nil {
		return target{}, err
	}
	bare := exec.Command(bin, "-addr", "127.0.0.1:"+port)
	bare.Stderr = os.Stderr
	if err := bare.Start(); err != nil {
		return target{}, fmt.Errorf("start bare-httpd: %w", err)
	}
	return target{"bare", bareURL(port), bare}, nil
}

// benchConfig is the one stack every blackwell serve applies.
const benchConfig = `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: bench, stack_id: shop, environment: prod}
spec:
  providers:
    ecommerce: {name: shopify, webhook_secret: "${BENCH_SHOPIFY_SECRET}"}
    cms: {name: generic, webhook_secret: "${BENCH_GENERIC_SECRET}"}
  content_types: [product, page]
`

// startServers starts blackwell serve, and the -compare binary if any,
// each on a store of its own, and waits until they are ready. It answers
// those it started even with an error: the caller stops them.
func startServers(o options) ([]target, error) {
	cfg := filepath.Join(o.dir, "blackwell.yaml")
	if err := os.WriteFile(cfg, []byte(benchConfig), 0o600); err != nil {
		return nil, err
	}
	servers := []struct{ name, bin, store string }{
		{"blackwell", o.blackwellBin, cmp.Or(o.storeURL, "sqlite://"+filepath.Join(o.dir, "blackwell.db"))},
	}
	if o.compareBin != "" {
		if o.storeURL != "" && o.compareStore == "" {
			return nil, errors.New("-compare with -store needs -compare-store (a store of its own)")
		}
		servers = append(servers, struct{ name, bin, store string }{"compare", o.compareBin,
			cmp.Or(o.compareStore, "sqlite://"+filepath.Join(o.dir, "compare.db"))})
	}
	var out []target
	for _, sv := range servers {
		port, err := freePort()
		if err != nil {
			return out, err
		}
		bw := exec.Command(sv.bin, append([]string{"serve", "--config", cfg, "--listen", "127.0.0.1:" + port,
			"--store", sv.store, "--log-level", "warn"}, o.serveArgs...)...)
		bw.Env = append(os.Environ(), "BENCH_SHOPIFY_SECRET="+shopifySecret, "BENCH_GENERIC_SECRET="+genericSecret)
		bw.Stderr = os.Stderr
		if err := bw.Start(); err != nil {
			return out, fmt.Errorf("start %s: %w", sv.name, err)
		}
		out = append(out, target{sv.name, "http://127.0.0.1:" + port + "/v1/webhooks/" + o.provider + "/bench", bw})
		if err := waitReady("http://127.0.0.1:"+port+"/readyz", http.MethodGet); err != nil {
			return out, fmt.Errorf("%s: %w", sv.name, err)
		}
	}
	return out, nil
}

// measure loads each target in turn, o.rounds times, and answers the
// results of each, by name.
func measure(o options, targets []target) map[string]*result {
	usesPostgres := strings.HasPrefix(o.storeURL, "postgres")
	gen := &generator{provider: o.provider}
	fmt.Printf("senders %d, %s per run after %s warm-up, %d rounds, %s deliveries (%d-byte bodies), blackwell serve %s\n",
		o.senders, o.duration, o.warmup, o.rounds, o.provider, len(gen.next().body), strings.Join(o.serveArgs, " "))
	totals := map[string]*result{}
	for _, t := range targets {
		totals[t.name] = &result{}
	}
	for r := 1; r <= o.rounds; r++ {
		for _, target := range targets {
			pid := target.cmd.Process.Pid
			load(target.url, gen, o.senders, o.warmup)
			before, self, pg := proc.CPU(pid), proc.CPU(os.Getpid()), proc.PostgresCPU()
			res := load(target.url, gen, o.senders, o.duration)
			res.serverCPU, res.loadCPU, res.pgCPU = proc.CPU(pid)-before, proc.CPU(os.Getpid())-self, proc.PostgresCPU()-pg
			totals[target.name].add(res)
			pgCol := ""
			if usesPostgres {
				pgCol = fmt.Sprintf("  postgres %5.1f", res.cpuPer(res.pgCPU))
			}
			fmt.Printf("round %d %-9s %8.0f deliveries/s  p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms  server %5.1f cpu-µs/delivery%s  load generator %5.1f  non-2xx %d  errors %d\n",
				r, target.name, res.rate(), ms(res.quantile(0.5)), ms(res.quantile(0.99)), ms(res.quantile(1)),
				res.cpuPer(res.serverCPU), pgCol, res.cpuPer(res.loadCPU), res.non2xx, res.errors)
		}
	}
	return totals
}

// report prints the totals of each target and the ratios to bare; it
// fails if a blackwell answered a delivery with other than 2xx.
func report(o options, totals map[string]*result) error {
	for _, name := range []string{"bare", "blackwell", "compare"} {
		res := totals[name]
		if res == nil {
			continue
		}
		pgCol := ""
		if strings.HasPrefix(o.storeURL, "postgres") {
			pgCol = fmt.Sprintf("  postgres %5.1f", res.cpuPer(res.pgCPU))
		}
		fmt.Printf("total     %-9s %8.0f deliveries/s  p99 %6.2f ms  server %5.1f cpu-µs/delivery%s\n", name, res.rate(), ms(res.quantile(0.99)), res.cpuPer(res.serverCPU), pgCol)
	}
	b, w := totals["bare"], totals["blackwell"]
	fmt.Printf("ratio blackwell/bare %.2f\n", w.rate()/b.rate())
	if c := totals["compare"]; c != nil {
		fmt.Printf("ratio compare/bare %.2f\n", c.rate()/b.rate())
		if c.non2xx+c.errors > 0 {
			return fmt.Errorf("compare answered %d deliveries with non-2xx and %d failed", c.non2xx, c.errors)
		}
	}
	if w.non2xx+w.errors > 0 {
		return fmt.Errorf("blackwell answered %d deliveries with non-2xx and %d failed", w.non2xx, w.errors)
	}
	return nil
}

func bareURL(port string) string { return "http://127.0.0.1:" + port + "/webhook" }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// delivery is one signed request.
type delivery struct {
	header http.Header
	body   []byte
}

// generator makes unique signed deliveries: products/update of one of
// 1,000 products (so content-cache rows are updated, not only inserted), or
// Standard Webhooks content.updated events.
type generator struct {
	provider string
	n        atomic.Int64
}

var epoch = time.Now().Unix()

func (g *generator) next() delivery {
	n := g.n.Add(1)
	id := "bench-" + strconv.FormatInt(epoch, 36) + "-" + strconv.FormatInt(n, 10)
	now := time.Now().UTC()
	switch g.provider {
	case "generic":
		body := fmt.Appendf(nil, `{"event_id":%q,"client_id":"bench","provider_name":"legacy-cms","event_type":"content.updated",`+
			`"content_id":"page-%d","content_type":"page","timestamp":%q,"metadata":{"author":"bench","collection":"pages","tags":["a","b"]}}`,
			id, n%1000, now.Format(time.RFC3339Nano))
		h, err := stdwebhook.Header(genericSecret, id, now, body)
		if err != nil {
			panic(err)
		}
		return delivery{h, body}
	default:
		// The products/update example of shopify.dev's delivery-structure
		// page, fleshed out to a typical size.
		body := fmt.Appendf(nil, `{"id":%d,"title":"T-Shirt %d","body_html":"<p>Soft cotton tee.</p>","vendor":"Acme","product_type":"Shirts",`+
			`"handle":"t-shirt-%d","status":"active","tags":"cotton, summer","created_at":"2025-04-01T10:00:00-05:00","updated_at":%q,`+
			`"published_at":"2025-04-01T10:00:00-05:00","admin_graphql_api_id":"gid://shopify/Product/%d",`+
			`"variants":[{"id":%d,"title":"M","price":"29.99","sku":"TS-M","inventory_quantity":12},{"id":%d,"title":"L","price":"29.99","sku":"TS-L","inventory_quantity":7}],`+
			`"options":[{"name":"Size","values":["M","L"]}],"images":[]}`,
			9554194432293+n%1000, n, n%1000, now.Format(time.RFC3339), 9554194432293+n%1000, 40000000000+2*n, 40000000001+2*n)
		d := shopify.Delivery{Topic: "products/update", ShopDomain: "bench.myshopify.com", APIVersion: "2025-07",
			WebhookID: id, EventID: id, TriggeredAt: now}
		return delivery{d.Header(shopifySecret, body), body}
	}
}

// result is one run's outcome.
type result struct {
	ok, non2xx, errors int
	elapsed            time.Duration
	latencies          []time.Duration
	sorted             bool
	serverCPU, loadCPU time.Duration
	// pgCPU is the CPU the PostgreSQL server's processes used during the
	// run (the bare rounds' is whatever else it did meanwhile).
	pgCPU time.Duration
}

func (r *result) cpuPer(d time.Duration) float64 {
	if r.ok == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(r.ok)
}

func (r *result) add(o *result) {
	r.ok += o.ok
	r.non2xx += o.non2xx
	r.errors += o.errors
	r.elapsed += o.elapsed
	r.serverCPU += o.serverCPU
	r.loadCPU += o.loadCPU
	r.pgCPU += o.pgCPU
	r.latencies = append(r.latencies, o.latencies...)
	r.sorted = false
}

func (r *result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r *result) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	if !r.sorted {
		slices.Sort(r.latencies)
		r.sorted = true
	}
	i := int(q * float64(len(r.latencies)-1))
	return r.latencies[i]
}

// load sends deliveries to url from senders goroutines for d, each on its
// own connection, and measures each from sending to the end of the answer.
func load(url string, gen *generator, senders int, d time.Duration) *result {
	tr := &http.Transport{MaxIdleConns: senders, MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	parts := make([]*result, senders)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range senders {
		res := &result{}
		parts[i] = res
		wg.Go(func() {
			for ctx.Err() == nil {
				dl := gen.next()
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(dl.body))
				if err != nil {
					panic(err)
				}
				req.Header = dl.header
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						res.errors++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat := time.Since(t0)
				if resp.StatusCode/100 != 2 {
					res.non2xx++
					continue
				}
				res.ok++
				res.latencies = append(res.latencies, lat)
			}
		})
	}
	wg.Wait()
	total := &result{}
	for _, p := range parts {
		total.add(p)
	}
	total.elapsed = time.Since(start)
	return total
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

func waitReady(url, method string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(method, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not ready after 60s")
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
