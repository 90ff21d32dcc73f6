// Command heal measures the healing KPIs of issue 4 (docs/PERFORMANCE.md,
// "Healing KPIs"): one blackwell server in this process (internal/server,
// SQLite in a temp dir) over the internal/sim worlds of 200 stacks, into
// which 1,000 faults of every drift code are injected, one at a time per
// stack, at a steady pace. Each fault is followed until it is healed (or,
// for one that must not be healed, held while passes decide about it and
// then mended by the benchmark) and the stack is clean again; then the
// store's record (audit entries drift_detected and drift_resolved, heal
// attempts, approvals, reconciliation results) is matched to the faults.
//
//	go run ./bench/heal              # 200 stacks, 1,000 faults, ~2 minutes
//	go run ./bench/heal -stacks 20   # 100 faults, a quick look
//
// It prints the tables that docs/PERFORMANCE.md records, and exits 1 when a
// heal was decided for a fault that must not be healed or a drift was a
// false positive; latencies are reported, not judged.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/server"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

func main() {
	stacks := flag.Int("stacks", defaultStacks, fmt.Sprintf("stacks in the world (%d faults each)", faultsPerStack))
	dir := flag.String("dir", "", "directory of the server's config, store and log (default: a new temp dir, removed after)")
	flag.Parse()
	if *stacks <= 0 {
		fmt.Fprintf(os.Stderr, "heal: -stacks %d: want at least 1\n", *stacks)
		os.Exit(2)
	}
	if err := run(context.Background(), *stacks, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "heal:", err)
		os.Exit(1)
	}
}

// run builds the world and the server, injects and follows the faults, and
// prints the report; the error says what went wrong or which guarantee
// was broken.
func run(ctx context.Context, nStacks int, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "blackwell-heal-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rng := rand.New(rand.NewPCG(4, 2026))
	world, err := newWorld(nStacks)
	if err != nil {
		return err
	}
	defer world.Close()

	// The fakes hold subscriptions to the server's address from the
	// start, so it is chosen before the server listens on it.
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	prefix := "http://" + listen + "/v1/webhooks"
	world.Seed(prefix)
	cfgPath, err := writeConfig(world, dir)
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "blackwell.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	env := world.Env()
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	srv, err := server.New(ctx, server.Options{
		ConfigPath: cfgPath, ConfigRequired: true, Listen: listen,
		StoreURL: "sqlite://" + filepath.Join(dir, "blackwell.db"),
		Logger:   slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Getenv:   getenv, Version: "bench",
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer srv.Shutdown(ctx)

	loop := srv.Loop()
	r := &bench{store: srv.Store(), state: srv.State(), loop: loop, world: world, getenv: getenv, prefix: prefix,
		builder: server.NewBuilder(srv.Store(), getenv, slog.New(slog.DiscardHandler), false,
			func(c, s string) { loop.Trigger(c, s, reconcile.TriggerEvent) }, nil)}
	for _, w := range world.Stacks {
		r.stacks = append(r.stacks, &benchStack{world: w})
	}
	kinds := faultKinds()
	if err := assignFaults(rng, kinds, r.stacks); err != nil {
		return err
	}
	if err := r.settle(ctx); err != nil {
		return err
	}
	rep, err := r.measure(ctx, rng, logPath)
	if err != nil {
		return err
	}
	rep.print(os.Stdout, kinds)
	return rep.check()
}

// newWorld is the benchmark's world of nStacks stacks: Sanity and
// Contentful in turn, each build hook flavour in turn.
func newWorld(nStacks int) (*sim.World, error) {
	specs := make([]sim.WorldStack, nStacks)
	flavors := []sim.BuildHookFlavor{sim.FlavorNetlify, sim.FlavorVercel, sim.FlavorCloudflare}
	for i := range specs {
		cms := sim.CMSSanity
		if i%2 == 1 {
			cms = sim.CMSContentful
		}
		specs[i] = sim.WorldStack{ClientID: fmt.Sprintf("kpi-%03d", i), StackID: "web", Environment: "prod",
			CMS: cms, BuildFlavor: flavors[i%len(flavors)]}
	}
	return sim.NewWorld(specs)
}

// writeConfig writes the world's blackwell.yaml, every stack with the
// benchmark's policy, into dir and returns its path.
func writeConfig(world *sim.World, dir string) (string, error) {
	var cfg strings.Builder
	for i, s := range world.Stacks {
		if i > 0 {
			cfg.WriteString("---\n")
		}
		cfg.WriteString(s.StackConfig())
		fmt.Fprintf(&cfg, policyDoc, s.ClientID, passInterval, maxStaleness)
	}
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return "", err
	}
	return cfgPath, nil
}

// settle builds every site (content_stale needs a last build) and waits
// for every stack to be healthy; then for two more passes of every stack,
// so that the passes the builds triggered are behind and each stack is on
// its schedule.
func (r *bench) settle(ctx context.Context) error {
	for _, s := range r.stacks {
		res, err := r.builder.Trigger(ctx, r.ssg(s))
		if err != nil {
			return fmt.Errorf("first build of %s: %w", s.world.ClientID, err)
		}
		if res.Status != build.StatusSucceeded {
			return fmt.Errorf("first build of %s: %s", s.world.ClientID, res.Status)
		}
	}
	if err := r.waitAllHealthy(ctx, 60*time.Second); err != nil {
		return err
	}
	for range 2 {
		if err := r.waitAllPassed(ctx, time.Now(), 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// measure injects and follows the faults, measuring wall and CPU time and
// the load, and analyses the store's record of them.
func (r *bench) measure(ctx context.Context, rng *rand.Rand, logPath string) (*report, error) {
	for _, s := range r.stacks {
		s.quietSince = time.Now()
	}
	load0 := loadAvg()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	benchStart := time.Now()
	r.inject(ctx, rng)
	faultsDone := time.Now()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	// The passes in flight commit: every stack passes once more.
	if err := r.waitAllPassed(ctx, faultsDone, 30*time.Second); err != nil {
		return nil, err
	}

	rep, err := r.analyse(ctx, benchStart)
	if err != nil {
		return nil, err
	}
	rep.wall = faultsDone.Sub(benchStart)
	rep.cpu = cpu
	rep.warnings = logLines(logPath)
	rep.load = [2]string{load0, loadAvg()}
	return rep, nil
}

// freeAddr is a loopback address with a port free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitAllHealthy waits for every stack to have passed after now and to
// have no open drift.
func (r *bench) waitAllHealthy(ctx context.Context, within time.Duration) error {
	since := time.Now()
	healthy := 0
	err := poll.WaitEvery(pollEvery, within, "every stack healthy", func() bool {
		recs, err := store.All(func(cursor store.Page) ([]store.StateRecord, store.Page, error) {
			return r.store.ListStates(ctx, "", cursor, 1000)
		})
		if err != nil {
			return false
		}
		healthy = 0
		for _, rec := range recs {
			if rec.Status == store.StatusHealthy && rec.LastVerified != nil && rec.LastVerified.After(since) {
				healthy++
			}
		}
		return healthy == len(r.stacks)
	})
	if err != nil {
		return fmt.Errorf("only %d of %d stacks healthy: %w", healthy, len(r.stacks), err)
	}
	return nil
}

// waitAllPassed waits until every stack has committed a pass that started
// after since.
func (r *bench) waitAllPassed(ctx context.Context, since time.Time, within time.Duration) error {
	passed := map[*benchStack]bool{}
	err := poll.WaitEvery(pollEvery, within, "a pass of every stack", func() bool {
		for _, s := range r.stacks {
			if passed[s] {
				continue
			}
			res, _, err := r.store.ListReconciliations(ctx, s.world.ClientID, s.world.StackID, "", 1)
			if err != nil || len(res) == 0 || !res[0].StartedAt.After(since) {
				return false
			}
			passed[s] = true
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%d of %d stacks passed: %w", len(passed), len(r.stacks), err)
	}
	return nil
}

// inject runs the faults: every faultEvery, the next fault of a
// random stack with no fault in flight starts; it is followed to its end
// on its own goroutine.
func (r *bench) inject(ctx context.Context, rng *rand.Rand) {
	var mu sync.Mutex
	busy := map[*benchStack]bool{}
	next := map[*benchStack]int{}
	tainted := map[*benchStack]bool{}
	var wg sync.WaitGroup
	tick := time.NewTicker(faultEvery)
	defer tick.Stop()
	for range tick.C {
		mu.Lock()
		var free []*benchStack
		left := false
		for _, s := range r.stacks {
			if next[s] >= len(s.faults) || tainted[s] {
				continue
			}
			left = true
			if !busy[s] {
				free = append(free, s)
			}
		}
		if !left {
			mu.Unlock()
			break
		}
		if len(free) == 0 {
			mu.Unlock()
			continue
		}
		s := free[rng.IntN(len(free))]
		f := s.faults[next[s]]
		next[s]++
		busy[s] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			clean := r.follow(ctx, f)
			mu.Lock()
			busy[s] = false
			if !clean {
				// A stack that did not come back clean would blur the next
				// fault's measurements: its remaining faults are skipped.
				tainted[s] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// follow injects one fault and follows it: detection, then healing (or a
// hold and a mend for faults that must not be healed), then until the
// stack is clean. It reports whether the stack is clean (or was meant to
// stay as it is).
func (r *bench) follow(ctx context.Context, f *fault) bool {
	s, k := f.stack, f.kind
	comp := k.component(s)
	f.quietSince = s.quietSince
	f.injectStart = time.Now()
	at, err := k.inject(r, ctx, s)
	f.injected = time.Now()
	if err != nil {
		f.outcome = "inject failed: " + err.Error()
		f.cleanAt = time.Now()
		return true
	}
	f.eventAt = at

	// Detected: the drift was confirmed by a pass after the stack was last
	// clean. It may be healed (resolved) before this poll sees it open.
	w := s.world
	err = poll.WaitEvery(pollEvery, detectTimeout, "detected", func() bool {
		all, err := r.store.ListDrifts(ctx, store.DriftQuery{ClientID: w.ClientID, StackID: w.StackID, IncludeResolved: true})
		return err == nil && slices.ContainsFunc(all, func(d drift.Drift) bool {
			return d.Code == k.code && d.Component == comp && d.Confirmed && d.LastSeen.After(s.quietSince)
		})
	})
	if err != nil {
		f.outcome = "not detected"
		return r.mendAndClean(ctx, f)
	}
	switch k.class {
	case healable:
		healed := r.poll(ctx, healTimeout, func(open []drift.Drift, heals []store.HealAttempt) bool {
			return len(open) == 0 && !slices.ContainsFunc(heals, func(a store.HealAttempt) bool { return a.Status.Open() }) &&
				slices.ContainsFunc(heals, func(a store.HealAttempt) bool { return a.Status == store.HealSucceeded })
		}, s, f.quietSince)
		if healed {
			f.outcome = "healed"
			f.cleanAt = time.Now()
			s.quietSince = f.cleanAt
			return true
		}
		f.outcome = "not healed in time"
	case needsApproval, alertOnly:
		// Held while passes decide about it (none may heal it).
		time.Sleep(hold)
		f.outcome = "held"
		f.heldUntil = time.Now()
		if k.mend == nil {
			return true // left in place; the stack's last fault
		}
	case unfixable:
		exhausted := r.poll(ctx, healTimeout, func(open []drift.Drift, heals []store.HealAttempt) bool {
			return slices.ContainsFunc(open, func(d drift.Drift) bool {
				return d.Code == k.code && d.Component == comp && d.HealStatus == reconcile.ExhaustedStatus
			}) && !slices.ContainsFunc(heals, func(a store.HealAttempt) bool { return a.Status.Open() })
		}, s, f.quietSince)
		f.outcome = "exhausted"
		if !exhausted {
			f.outcome = "not exhausted in time"
		}
	}
	return r.mendAndClean(ctx, f)
}

// mendAndClean mends the fault from outside and waits until the stack is
// clean.
func (r *bench) mendAndClean(ctx context.Context, f *fault) bool {
	if f.kind.mend != nil {
		if err := f.kind.mend(r, ctx, f.stack); err != nil {
			f.outcome += "; mend failed: " + err.Error()
		}
	}
	clean := r.poll(ctx, cleanTimeout, func(open []drift.Drift, heals []store.HealAttempt) bool {
		return len(open) == 0 && !slices.ContainsFunc(heals, func(a store.HealAttempt) bool { return a.Status.Open() })
	}, f.stack, f.quietSince)
	if clean {
		f.cleanAt = time.Now()
		f.stack.quietSince = f.cleanAt
	} else {
		f.outcome += "; stack not clean after the mend"
	}
	return clean
}

// poll reads the stack's open drifts and its heal attempts since a time
// every pollEvery until cond holds (true) or within passes (false).
func (r *bench) poll(ctx context.Context, within time.Duration, cond func([]drift.Drift, []store.HealAttempt) bool, s *benchStack, since time.Time) bool {
	w := s.world
	return poll.WaitEvery(pollEvery, within, "the stack's drifts and heals", func() bool {
		open, err := r.store.ListDrifts(ctx, store.DriftQuery{ClientID: w.ClientID, StackID: w.StackID})
		if err != nil {
			return false
		}
		heals, _, err := r.store.ListHeals(ctx, store.HealQuery{ClientID: w.ClientID, StackID: w.StackID, Since: since, Limit: 100})
		return err == nil && cond(open, heals)
	}) == nil
}

// loadAvg is the machine's load average (1, 5, 15 minutes), as the other
// work on the machine bears on the latencies.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}

// logLines counts the server log's lines per level.
func logLines(path string) map[string]int {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for line := range strings.SplitSeq(string(data), "\n") {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Error any    `json:"error"`
			// Errors: a failed pass's errors.
			Errors any `json:"errors"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Level != "" {
			key := l.Level + ": " + l.Msg
			if l.Error == nil {
				l.Error = l.Errors
			}
			if l.Error != nil {
				e := fmt.Sprint(l.Error)
				if len(e) > 160 {
					e = e[:160] + "..."
				}
				key += ": " + e
			}
			out[key]++
		}
	}
	return out
}
