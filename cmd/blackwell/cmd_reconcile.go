package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// wireResult is the API's ReconciliationResult.
type wireResult struct {
	ReconciliationID     string    `json:"reconciliation_id"`
	ClientID             string    `json:"client_id"`
	StackID              string    `json:"stack_id"`
	Trigger              string    `json:"trigger"`
	StartedAt            time.Time `json:"started_at"`
	CompletedAt          time.Time `json:"completed_at"`
	Status               string    `json:"status"`
	DriftDetected        bool      `json:"drift_detected"`
	DriftCount           int       `json:"drift_count"`
	AutoHealAttempted    bool      `json:"auto_heal_attempted"`
	AutoHealSuccessCount int       `json:"auto_heal_success_count"`
	Errors               []string  `json:"errors"`
	StateVersion         string    `json:"state_version"`
}

// resultsTable prints reconciliation results.
func resultsTable(g *globals, results []wireResult) error {
	tw := newTable(g.stdout, "STARTED", "STACK", "TRIGGER", "STATUS", "DRIFTS", "HEALED", "DURATION", "VERSION", "ID", "ERRORS")
	for _, r := range results {
		resultRow(tw, r)
	}
	return tw.Flush()
}

func resultRow(tw *tabwriter.Writer, r wireResult) {
	healed := "-"
	if r.AutoHealAttempted {
		healed = strconv.Itoa(r.AutoHealSuccessCount)
	}
	dur := "-"
	if !r.CompletedAt.IsZero() && !r.StartedAt.IsZero() {
		dur = r.CompletedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	}
	started := r.StartedAt
	row(tw, formatTime(&started), r.StackID, r.Trigger, r.Status, strconv.Itoa(r.DriftCount), healed, dur, r.StateVersion, r.ReconciliationID, truncate(strings.Join(r.Errors, "; "), 60))
}

func newReconcileCmd(g *globals) *cobra.Command {
	var wait time.Duration
	var once bool
	oo := onceOptions{}
	cmd := &cobra.Command{
		Use:   "reconcile CLIENT [STACK] [--wait DURATION] | reconcile --once [CLIENT [STACK]]",
		Short: "Ask for a reconcile pass of a client's stacks, or of one stack",
		Long: `Ask the server for a reconcile pass now. Without --wait the passes are queued
and the command returns at once; with --wait (at most 5m) it prints the
result of each pass.

With --once there is no server: the command applies --config (if the file
exists) to --store, runs one pass of every stack (of CLIENT, or one STACK),
runs the heals those passes decide under policy, verifies them with one more
pass, prints the results and exits (1 if a pass failed): for cron- or
Lambda-style runs.`,
		Args: rangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if once {
				if wait != 0 {
					return usageError{fmt.Errorf("--wait does not go with --once")}
				}
				oo.configRequired = cmd.Flags().Changed("config") || os.Getenv("BLACKWELL_CONFIG") != ""
				return reconcileOnce(cmd.Context(), g, oo, args)
			}
			if len(args) == 0 {
				return usageError{fmt.Errorf("reconcile needs CLIENT [STACK] (or --once)")}
			}
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if wait < 0 || wait > 5*time.Minute {
				return usageError{fmt.Errorf("--wait must be between 0 and 5m, not %s", wait)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			path := pathOf("clients", args[0], "reconcile")
			if len(args) == 2 {
				path = pathOf("stacks", args[0], args[1], "reconcile")
			}
			q := url.Values{}
			ctx := cmd.Context()
			if wait > 0 {
				q.Set("wait", wait.String())
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, wait+30*time.Second)
				defer cancel()
			}
			raw, status, err := c.do(ctx, apiRequest{method: http.MethodPost, path: path, query: q}, nil)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			if status == http.StatusAccepted {
				var acc struct {
					Accepted []string `json:"accepted"`
				}
				if err := json.Unmarshal(raw, &acc); err != nil {
					return fmt.Errorf("decode answer: %w", err)
				}
				for _, k := range acc.Accepted {
					fmt.Fprintln(g.stdout, "queued", k)
				}
				return nil
			}
			var results []wireResult
			if len(args) == 2 {
				var r wireResult
				if err := json.Unmarshal(raw, &r); err != nil {
					return fmt.Errorf("decode answer: %w", err)
				}
				results = []wireResult{r}
			} else {
				var page wirePage[wireResult]
				if err := json.Unmarshal(raw, &page); err != nil {
					return fmt.Errorf("decode answer: %w", err)
				}
				results = page.Items
			}
			if err := resultsTable(g, results); err != nil {
				return err
			}
			for _, r := range results {
				if r.Status == "failed" {
					return silentError{exitFailure}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&wait, "wait", 0, "wait up to this long for the results (at most 5m)")
	f.BoolVar(&once, "once", false, "run the passes here, on --store, without a server")
	f.StringVar(&oo.configPath, "config", envOr("BLACKWELL_CONFIG", "blackwell.yaml"), "with --once: configuration applied first (the default file only if it exists)")
	f.StringVar(&oo.storeURL, "store", envOr("BLACKWELL_STORE", "sqlite://./blackwell.db"), "with --once: the store (sqlite://PATH or postgres://...)")
	f.StringVar(&oo.encryptionKeyFile, "encryption-key-file", envOr("BLACKWELL_ENCRYPTION_KEY_FILE", ""), "with --once: serve's key file, when the store's payloads are sealed")
	f.StringVar(&oo.publicURL, "public-url", envOr("BLACKWELL_PUBLIC_URL", ""), "with --once: the server's public address, to recognise its webhook subscriptions")
	f.IntVar(&oo.workers, "workers", 8, "with --once: passes run at once")
	f.StringVar(&oo.egressAllow, "egress-allow", envOr("BLACKWELL_EGRESS_ALLOW", ""), "with --once: "+egressAllowUsage)
	oo.tenancy.register(f, false) // tenancy.go
	return cmd
}

func newHistoryCmd(g *globals) *cobra.Command {
	var stack string
	var limit int
	cmd := &cobra.Command{
		Use:   "history CLIENT [--stack STACK] [--limit N]",
		Short: "Show a client's reconcile passes, newest first",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if limit < 1 || limit > 1000 {
				return usageError{fmt.Errorf("--limit must be from 1 to 1000, not %d", limit)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if stack != "" {
				q.Set("stack_id", stack)
			}
			var page wirePage[wireResult]
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("clients", args[0], "reconciliations"), query: q}, &page)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			if len(page.Items) == 0 {
				_, err := fmt.Fprintf(g.stdout, "no reconcile passes for %s yet\n", args[0])
				return err
			}
			return resultsTable(g, page.Items)
		},
	}
	cmd.Flags().StringVar(&stack, "stack", "", "only this stack")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many passes to show")
	return cmd
}
