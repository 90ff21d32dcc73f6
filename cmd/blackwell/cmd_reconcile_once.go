package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/seal"
	bwserver "github.com/blackwellio/blackwell/internal/server"
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
	once := bwserver.NewOnce(bwserver.OnceOptions{Store: st, State: svc, Getenv: getenv, Logger: log, Egress: eg,
		PublicURL: o.publicURL, Workers: o.workers, AllowCommandBuilds: o.tenancy.allowCommandBuilds})
	keys, err := once.Keys(ctx, t.client, t.stack)
	if err != nil {
		return err
	}
	results, err := once.Run(ctx, keys)
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
