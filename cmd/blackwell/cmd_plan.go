package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/config"
)

// Plan actions of a stack.
const (
	planCreate    = "create"
	planChange    = "change"
	planUnchanged = "unchanged"
	// planDelete: plan --prune, a stack of the file's clients the file no
	// longer declares.
	planDelete = "delete"
	// planKept: the file differs, but a rollback's hold pins the stack:
	// apply keeps it as it is (cmd_unpin.go).
	planKept = "kept"
)

// planChangeItem is one changed path of a stack's canonical spec or a
// policy's effective spec (config.DiffJSON).
type planChangeItem = config.Change

// planStack is what applying the file would do to one stack.
type planStack struct {
	ClientID       string           `json:"client_id"`
	StackID        string           `json:"stack_id"`
	Environment    string           `json:"environment"`
	Action         string           `json:"action"`
	CurrentVersion string           `json:"current_version,omitempty"`
	DesiredHash    string           `json:"desired_hash"`
	Changes        []planChangeItem `json:"changes"`
	// Drifts are the stack's open drifts: desired vs observed now.
	Drifts []wireDrift `json:"drifts"`
	// Pinned is the hold that keeps a kept stack as it is.
	Pinned *wireHold `json:"pinned,omitempty"`
}

type planSummary struct {
	Add       int `json:"add"`
	Change    int `json:"change"`
	Unchanged int `json:"unchanged"`
	// Delete counts the stacks plan --prune would delete.
	Delete int `json:"delete"`
}

type plan struct {
	Stacks []planStack `json:"stacks"`
	// Policies are the file's ReconciliationPolicy documents
	// (plan_policy.go); Channels its notification channels, which the
	// server does not keep, so they are listed, not compared.
	Policies []planPolicy          `json:"policies"`
	Channels []config.NamedChannel `json:"channels"`
	// Deletes are the stacks apply --prune would delete (plan --prune).
	Deletes []planStack `json:"deletes"`
	// Summary counts stacks and policies.
	Summary planSummary `json:"summary"`
}

func newPlanCmd(g *globals) *cobra.Command {
	var (
		file    string
		prune   bool
		tenancy tenancyFlags
	)
	cmd := &cobra.Command{
		Use:   "plan [-f FILE] [--prune]",
		Short: "Show what applying a blackwell.yaml would change",
		Long: `Validate a blackwell.yaml locally (secret references are checked, not
resolved: the server resolves them), then compare each stack's declared
composition with the desired state the server holds, and show the open drift
of each stack (what is declared vs what is observed). Nothing is changed.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			// Secrets are resolved by the server, from its environment:
			// here only their references' syntax is checked.
			// A command build is the server's to refuse (serve
			// --allow-command-builds); plan shows it.
			rules, err := tenancy.fileRules()
			if err != nil {
				return err
			}
			rules.CommandBuilds = true
			cfg, err := config.LoadWith(file, nil, rules)
			if err != nil {
				var errs *config.Errors
				if errors.As(err, &errs) {
					for _, e := range *errs {
						fmt.Fprintln(g.stderr, e.Error())
					}
					return silentError{exitFailure}
				}
				return err
			}
			printNotes(g, file, cfg.Notes())
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := makePlan(cmd, c, cfg)
			if err != nil {
				return err
			}
			if prune {
				if err := planPrune(cmd, c, cfg, &p); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(g.stdout, p)
			}
			_, noColor := os.LookupEnv("NO_COLOR")
			printPlan(g.stdout, p, isTerminal(g.stdout) && !noColor)
			return nil
		},
	}
	g.configFlag(cmd, &file)
	cmd.Flags().BoolVar(&prune, "prune", false, "also show the stacks apply --prune would delete: the file's clients' stacks it no longer declares")
	tenancy.register(cmd.Flags(), false) // --credential-hosts as serve: tenancy.go
	bindEnv(cmd.Flags())
	return cmd
}

// makePlan compares each stack of cfg with the server's state.
func makePlan(cmd *cobra.Command, c *apiClient, cfg *config.Config) (plan, error) {
	p := plan{Stacks: []planStack{}, Policies: []planPolicy{}, Channels: []config.NamedChannel{}, Deletes: []planStack{}}
	drifts := map[string][]wireDrift{} // client -> open drifts, read once per client
	for _, st := range cfg.Stacks {
		canonical, sum, err := config.Hash(st.Spec)
		if err != nil {
			return plan{}, fmt.Errorf("hash stack %s: %w", st.Metadata.Key(), err)
		}
		ps := planStack{
			ClientID: st.Metadata.ClientID, StackID: st.Metadata.StackID, Environment: st.Metadata.Environment,
			DesiredHash: sum, Changes: []planChangeItem{}, Drifts: []wireDrift{},
		}
		var rec wireState
		_, _, err = c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("stacks", ps.ClientID, ps.StackID)}, &rec)
		var ae *wireError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			ps.Action = planCreate
			p.Summary.Add++
			p.Stacks = append(p.Stacks, ps)
			continue
		case err != nil:
			return plan{}, err
		}
		ps.CurrentVersion = rec.StateVersion
		if rec.Environment != ps.Environment {
			ps.Changes = append(ps.Changes, planChangeItem{Op: "~", Path: "metadata.environment", From: rec.Environment, To: ps.Environment})
		}
		if rec.DesiredHash != sum {
			var from, to any
			if err := json.Unmarshal(rec.Desired, &from); err != nil && len(rec.Desired) > 0 {
				return plan{}, fmt.Errorf("decode desired state of %s: %w", st.Metadata.Key(), err)
			}
			if err := json.Unmarshal(canonical, &to); err != nil {
				return plan{}, fmt.Errorf("decode canonical spec of %s: %w", st.Metadata.Key(), err)
			}
			ps.Changes = append(ps.Changes, config.DiffJSON("", from, to)...)
		}
		switch {
		case len(ps.Changes) > 0 && rec.Hold != nil:
			ps.Action, ps.Pinned = planKept, rec.Hold
			p.Summary.Unchanged++
		case len(ps.Changes) > 0:
			ps.Action = planChange
			p.Summary.Change++
		default:
			ps.Action = planUnchanged
			p.Summary.Unchanged++
		}
		open, ok := drifts[ps.ClientID]
		if !ok {
			status, _, err := c.getDrift(cmd, ps.ClientID, false)
			if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusNotFound) {
				return plan{}, err
			}
			open = status.DriftDetails
			drifts[ps.ClientID] = open
		}
		for _, d := range open {
			if d.StackID == ps.StackID {
				ps.Drifts = append(ps.Drifts, d)
			}
		}
		p.Stacks = append(p.Stacks, ps)
	}
	if err := planPolicies(cmd, c, cfg, &p); err != nil {
		return plan{}, err
	}
	return p, nil
}

// ANSI colours of plan lines.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiReset  = "\x1b[0m"
)

// printPlan writes a plan like terraform plan does.
func printPlan(w io.Writer, p plan, color bool) {
	paint := func(op string) string {
		if !color {
			return op
		}
		switch op {
		case "+":
			return ansiGreen + op + ansiReset
		case "~":
			return ansiYellow + op + ansiReset
		case "-":
			return ansiRed + op + ansiReset
		}
		return op
	}
	for _, s := range p.Stacks {
		key := s.ClientID + "/" + s.StackID
		switch s.Action {
		case planCreate:
			fmt.Fprintf(w, "%s %s (%s) will be created\n", paint("+"), key, orDash(s.Environment))
		case planChange:
			fmt.Fprintf(w, "%s %s (%s) will change: %s -> a new version\n", paint("~"), key, orDash(s.Environment), s.CurrentVersion)
			printChanges(w, s.Changes, paint)
		case planKept:
			fmt.Fprintf(w, "  %s (%s) kept at %s: %s (blackwell unpin %s ends it); the file differs:\n",
				key, orDash(s.Environment), s.CurrentVersion, s.Pinned.describe(), key)
			printChanges(w, s.Changes, paint)
		default:
			fmt.Fprintf(w, "  %s (%s) unchanged at %s\n", key, orDash(s.Environment), s.CurrentVersion)
		}
		for _, d := range s.Drifts {
			ack := ""
			if d.Acknowledged {
				ack = ", acknowledged"
			}
			fmt.Fprintf(w, "    ! drift %s %s (%s%s): expected %s, observed %s\n", d.Code, d.Component, d.Severity, ack, planValue(d.Expected), planValue(d.Observed))
		}
	}
	printPlanPolicies(w, p, paint)
	for _, s := range p.Deletes {
		fmt.Fprintf(w, "%s %s/%s (%s) will be deleted: %s, %s (history kept)\n", paint("-"), s.ClientID, s.StackID, orDash(s.Environment),
			s.CurrentVersion, count(len(s.Drifts), "open drift"))
	}
	fmt.Fprintf(w, "\nPlan: %d to add, %d to change, %d unchanged", p.Summary.Add, p.Summary.Change, p.Summary.Unchanged)
	if p.Summary.Delete > 0 {
		fmt.Fprintf(w, ", %d to delete", p.Summary.Delete)
	}
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// planValue renders a JSON value on one line.
func planValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return truncate(strings.TrimSpace(string(b)), 80)
}
