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

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/rollback"
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
// of every stack of the target (one stack, a client's, or every client's),
// runs the heals those passes decided, and verifies them with one more
// pass of the healed stacks. It prints each stack's last result.
func reconcileOnce(ctx context.Context, g *globals, o onceOptions, t target) error {
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
	cfg, err := o.loadConfig(getenv)
	if err != nil {
		return err
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
	keys, err := onceKeys(ctx, st, t)
	if err != nil {
		return err
	}
	results, err := passAndHeal(ctx, o.loop(st, svc, getenv, log, eg), keys, o.workers)
	if err != nil {
		return err
	}
	return printOnceResults(g, asJSON, keys, results)
}

// loadConfig reads --config: nil when the default file does not exist.
func (o onceOptions) loadConfig(getenv func(string) (string, bool)) (*config.Config, error) {
	rules, err := o.tenancy.fileRules()
	if err != nil {
		return nil, err
	}
	_, err = os.Stat(o.configPath)
	switch {
	case err == nil:
		cfg, err := config.LoadWith(o.configPath, getenv, rules)
		if err != nil {
			return nil, fmt.Errorf("config refused, nothing applied:\n%w", err)
		}
		return cfg, nil
	case errors.Is(err, fs.ErrNotExist) && !o.configRequired:
		return nil, nil
	}
	return nil, fmt.Errorf("config %s: %w", o.configPath, err)
}

// loop is the reconciler of the passes, with serve's providers, probes
// and heal actions.
func (o onceOptions) loop(st store.Store, svc *state.Service, getenv func(string) (string, bool), log *slog.Logger, eg *egress.Policy) *reconcile.Reconciler {
	prefix := ""
	if o.publicURL != "" {
		prefix = strings.TrimRight(o.publicURL, "/") + "/v1/webhooks"
	}
	providers := newProviderRegistry(getenv, log, eg)
	// As serve: heals of pinned stacks toward their snapshot, and
	// known-good snapshots of verified passes.
	parts := rollback.NewParts(st, providers, newBuilder(st, getenv, log, o.tenancy.allowCommandBuilds, nil, eg),
		build.NewDeployClient(eg.HTTPClient(), 0), prefix, log)
	return reconcile.New(reconcile.Options{
		Store: st, Policies: svc, Prober: probe.New(probe.Options{Egress: eg}), Providers: providers,
		Logger: log, ReceiverPrefix: prefix,
		Heal:      reconcile.HealOptions{Actions: parts.Actions},
		Snapshots: parts.Recorder,
	})
}

// onceKeys are the stacks of the target: one stack, or every stack of a
// client or of every client.
func onceKeys(ctx context.Context, st store.Store, t target) ([]string, error) {
	if t.stack != "" {
		return []string{reconcile.Key(t.client, t.stack)}, nil
	}
	recs, _, err := st.ListStates(ctx, t.client, "", 0)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(recs))
	for _, r := range recs {
		keys = append(keys, r.Key())
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no stacks to reconcile")
	}
	return keys, nil
}

// passAndHeal runs a pass of each stack, then the heals they decided, then
// a pass of each healed stack to verify them; it returns each stack's last
// result.
func passAndHeal(ctx context.Context, loop *reconcile.Reconciler, keys []string, workers int) (map[string]store.ReconciliationResult, error) {
	results := passAll(ctx, loop, keys, workers, reconcile.TriggerManual)
	n, err := loop.HealOnce(ctx)
	if err != nil || n == 0 {
		return results, err
	}
	var healed []string
	for _, k := range keys {
		if results[k].AutoHealAttempted {
			healed = append(healed, k)
		}
	}
	for k, r := range passAll(ctx, loop, healed, workers, reconcile.TriggerHeal) {
		results[k] = r
	}
	return results, nil
}

// printOnceResults prints the results in the order of keys; a failed pass
// makes the command fail.
func printOnceResults(g *globals, asJSON bool, keys []string, results map[string]store.ReconciliationResult) error {
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
