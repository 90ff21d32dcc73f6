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
	ta := targetArgs{kind: eitherTarget, optional: true, splitForm: true}
	cmd := &cobra.Command{
		Use:   "reconcile CLIENT[/STACK] [--wait DURATION] | reconcile --once [CLIENT[/STACK]]",
		Short: "Ask for a reconcile pass of a client's stacks, or of one stack",
		Long: `Ask the server for a reconcile pass now. Without --wait the passes are queued
and the command returns at once; with --wait (at most 5m) it prints the
result of each pass.

With --once there is no server: the command applies --config (if the file
exists) to --store, runs one pass of every stack (of CLIENT, or of
CLIENT/STACK), runs the heals those passes decide under policy, verifies
them with one more pass, prints the results and exits (1 if a pass failed):
for cron- or Lambda-style runs.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			if once {
				if wait != 0 {
					return usageError{fmt.Errorf("--wait does not go with --once")}
				}
				oo.configRequired = cmd.Flags().Changed("config") || os.Getenv("BLACKWELL_CONFIG") != ""
				return reconcileOnce(cmd.Context(), g, oo, t)
			}
			if t.client == "" {
				return usageError{fmt.Errorf("reconcile needs CLIENT[/STACK] (or --once)")}
			}
			if wait < 0 || wait > 5*time.Minute {
				return usageError{fmt.Errorf("--wait must be between 0 and 5m, not %s", wait)}
			}
			return requestReconcile(cmd, g, t, wait)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&wait, "wait", 0, "wait up to this long for the results (at most 5m)")
	f.BoolVar(&once, "once", false, "run the passes here, on --store, without a server")
	oo.register(cmd, "with --once: ")
	return cmd
}

// register adds reconcile --once's flags (and lambda's), their usage
// starting with when.
func (oo *onceOptions) register(cmd *cobra.Command, when string) {
	f := cmd.Flags()
	f.StringVarP(&oo.configPath, "config", "f", "blackwell.yaml", when+"configuration applied first (the default file only if it exists)")
	f.StringVar(&oo.storeURL, "store", defaultStoreURL, when+"the store (sqlite://PATH or postgres://...)")
	f.StringVar(&oo.encryptionKeyFile, "encryption-key-file", "", when+"serve's key file, when the store's payloads are sealed")
	f.StringVar(&oo.publicURL, "public-url", "", when+"the server's public address, to recognise its webhook subscriptions")
	f.IntVar(&oo.workers, "workers", 8, when+"passes run at once")
	f.StringVar(&oo.egressAllow, "egress-allow", "", when+egressAllowUsage)
	oo.tenancy.register(f, false) // tenancy.go
	bindEnv(f)
}

// requestReconcile asks the server for passes of a client's stacks or of
// one stack, and prints what was queued or, with wait, the results.
func requestReconcile(cmd *cobra.Command, g *globals, t target, wait time.Duration) error {
	asJSON, err := g.jsonOutput()
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	path := pathOf("clients", t.client, "reconcile")
	if t.stack != "" {
		path = pathOf("stacks", t.client, t.stack, "reconcile")
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
	results, err := decodeResults(raw, t.stack != "")
	if err != nil {
		return err
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
}

// decodeResults reads the results of a waited reconcile: one result for a
// stack, a list for a client.
func decodeResults(raw json.RawMessage, one bool) ([]wireResult, error) {
	if one {
		var r wireResult
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("decode answer: %w", err)
		}
		return []wireResult{r}, nil
	}
	var page wirePage[wireResult]
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	return page.Items, nil
}

func newHistoryCmd(g *globals) *cobra.Command {
	var stack string
	var limit int
	ta := targetArgs{kind: eitherTarget}
	cmd := &cobra.Command{
		Use:   "history CLIENT[/STACK] [--limit N]",
		Short: "Show the reconcile passes of a client's stacks, or of one stack, newest first",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := ta.validate(g)(cmd, args); err != nil {
				return err
			}
			if stack != "" && len(args) == 1 && strings.Contains(args[0], "/") {
				return usageError{fmt.Errorf("give the stack once: as CLIENT/STACK, not also with --stack")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			if stack != "" {
				t.stack = stack // the old --stack
			}
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
			if t.stack != "" {
				q.Set("stack_id", t.stack)
			}
			var page wirePage[wireResult]
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("clients", t.client, "reconciliations"), query: q}, &page)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			if len(page.Items) == 0 {
				_, err := fmt.Fprintf(g.stdout, "no reconcile passes for %s yet\n", t)
				return err
			}
			return resultsTable(g, page.Items)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many passes to show")
	g.aliasVar(cmd, stringVar{&stack}, nil, "", "stack", "", "history CLIENT --stack STACK", "history CLIENT/STACK")
	return cmd
}
