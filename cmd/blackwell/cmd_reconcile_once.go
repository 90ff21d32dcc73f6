package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/heal"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/seal"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// onceOptions are reconcile --once's: the store and config it runs on,
// without a server (cron- or Lambda-style).
type onceOptions struct {
	configPath string
	// configRequired: --config (or BLACKWELL_CONFIG) named the file, so
	// a missing file is an error rather than "no config to apply".
	configRequired bool
	storeURL       string
	publicURL      string
	workers        int
	tenancy        tenancyFlags
	// egressAllow is --egress-allow, as serve's: where probes, provider
	// APIs and builds may connect (empty: everywhere).
	egressAllow string
	// encryptionKeyFile: the store's payloads are sealed (sealing.go).
	encryptionKeyFile string
}

// reconcileOnce applies the config (when the file exists), runs one pass
// of every stack of the client (or of one stack, or of every client),
// runs the heals those passes decided, and verifies them with one more
// pass of the healed stacks. It prints each stack's last result.
func reconcileOnce(ctx context.Context, g *globals, o onceOptions, args []string) error {
	asJSON, err := g.jsonOutput()
	if err != nil {
		return err
	}
	eg, err := parseEgressAllow(o.egressAllow) // egress.go
	if err != nil {
		return err
	}
	getenv := os.LookupEnv
	log := slog.New(slog.NewJSONHandler(g.stderr, logOptions(slog.LevelWarn)))
	var cfg *config.Config
	rules, err := o.tenancy.fileRules()
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.configPath); err == nil {
		if cfg, err = config.LoadWith(o.configPath, getenv, rules); err != nil {
			return fmt.Errorf("config refused, nothing applied:\n%w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) || o.configRequired {
		return fmt.Errorf("config %s: %w", o.configPath, err)
	}
	st, err := openExistingStore(ctx, o.storeURL)
	if err != nil {
		return err
	}
	if st, err = seal.OpenFile(ctx, st, o.encryptionKeyFile, log); err != nil {
		return err
	}
	defer st.Close()
	svc := state.New(st, state.Options{Logger: log})
	if cfg != nil {
		if _, err := svc.Apply(ctx, cfg, "config:"+o.configPath); err != nil {
			return fmt.Errorf("apply %s: %w", o.configPath, err)
		}
	}
	prefix := ""
	if o.publicURL != "" {
		prefix = strings.TrimRight(o.publicURL, "/") + "/v1/webhooks"
	}
	providers := newProviderRegistry(getenv, log, eg)
	loop := reconcile.New(reconcile.Options{
		Store: st, Policies: svc, Prober: probe.New(probe.Options{Egress: eg}), Providers: providers,
		Logger: log, ReceiverPrefix: prefix,
		Heal: reconcile.HealOptions{Actions: heal.New(heal.Options{Registry: providers,
			Builder: newBuilder(st, getenv, log, o.tenancy.allowCommandBuilds, nil, eg), ReceiverPrefix: prefix})},
	})

	var keys []string
	clientID := ""
	if len(args) > 0 {
		clientID = args[0]
	}
	if len(args) == 2 {
		keys = []string{reconcile.Key(args[0], args[1])}
	} else {
		recs, _, err := st.ListStates(ctx, clientID, "", 0)
		if err != nil {
			return err
		}
		for _, r := range recs {
			keys = append(keys, r.Key())
		}
		if len(keys) == 0 {
			return fmt.Errorf("no stacks to reconcile")
		}
	}
	results := passAll(ctx, loop, keys, o.workers, reconcile.TriggerManual)
	if n, err := loop.HealOnce(ctx); err != nil {
		return err
	} else if n > 0 {
		// Verify what the heals did.
		var healed []string
		for _, k := range keys {
			if results[k].AutoHealAttempted {
				healed = append(healed, k)
			}
		}
		for k, r := range passAll(ctx, loop, healed, o.workers, reconcile.TriggerHeal) {
			results[k] = r
		}
	}
	out := make([]wireResult, 0, len(keys))
	failed := false
	for _, k := range keys {
		r := results[k]
		failed = failed || r.Status == store.ResultFailed
		out = append(out, wireResult{ReconciliationID: r.ReconciliationID, ClientID: r.ClientID, StackID: r.StackID,
			Trigger: r.Trigger, StartedAt: r.StartedAt, CompletedAt: r.CompletedAt, Status: string(r.Status),
			DriftDetected: r.DriftDetected, DriftCount: r.DriftCount, AutoHealAttempted: r.AutoHealAttempted,
			AutoHealSuccessCount: r.AutoHealSuccessCount, Errors: r.Errors, StateVersion: r.StateVersion})
	}
	if asJSON {
		if err := writeJSON(g.stdout, wirePage[wireResult]{Items: out}); err != nil {
			return err
		}
	} else if err := resultsTable(g, out); err != nil {
		return err
	}
	if failed {
		return silentError{exitFailure}
	}
	return nil
}

// passAll runs one pass of each stack, workers at a time.
func passAll(ctx context.Context, loop *reconcile.Reconciler, keys []string, workers int, trigger string) map[string]store.ReconciliationResult {
	if workers <= 0 {
		workers = 8
	}
	var mu sync.Mutex
	out := make(map[string]store.ReconciliationResult, len(keys))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, _, err := loop.Reconcile(ctx, k, trigger)
			if res.ReconciliationID == "" && err != nil {
				c, s, _ := strings.Cut(k, "/")
				res = store.ReconciliationResult{ClientID: c, StackID: s, Trigger: trigger, Status: store.ResultFailed, Errors: []string{err.Error()}}
			}
			mu.Lock()
			out[k] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
