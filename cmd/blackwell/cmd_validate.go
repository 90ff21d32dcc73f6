package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/compliance"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/notify"
	bwserver "github.com/blackwellio/blackwell/internal/server"
)

// configFlag adds --config (short -f), the blackwell.yaml the command
// reads, and its old spelling --file (docs/CLI.md). Call bindEnv after:
// BLACKWELL_CONFIG sets it.
func (g *globals) configFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "config", "f", "blackwell.yaml", "the config file")
	g.alias(cmd, "config", "file", "", cmd.Name()+" --file FILE", cmd.Name()+" -f FILE")
}

func newValidateCmd(g *globals) *cobra.Command {
	var (
		file    string
		tenancy tenancyFlags
	)
	cmd := &cobra.Command{
		Use:   "validate [-f FILE]",
		Short: "Check a blackwell.yaml without applying it",
		Long: `Parse and validate every document of a blackwell.yaml, locally. Secret
references (${VAR}) are resolved from the environment; credentials, webhook
secrets and build hook URLs must be such references, never literal secrets.
Give the same --allow-command-builds and --credential-hosts as serve. Prints
a summary, or every problem as file:line:column: message on stderr and exits 1.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			rules, err := tenancy.fileRules()
			if err != nil {
				return err
			}
			cfg, err := config.LoadWith(file, os.LookupEnv, rules)
			if err == nil {
				// The OrganizationPolicy's rules compile, its exceptions
				// have not expired.
				_, err = compliance.CheckConfig(cfg, time.Now())
			}
			if err != nil {
				var errs *config.Errors
				if !errors.As(err, &errs) {
					return err
				}
				if asJSON {
					problems := make([]configProblem, len(*errs))
					for i, e := range *errs {
						problems[i] = configProblem{File: e.File, Line: e.Line, Column: e.Column, Message: e.Message}
					}
					if err := writeJSON(g.stdout, map[string]any{"ok": false, "file": file, "errors": problems}); err != nil {
						return err
					}
				}
				for _, e := range *errs {
					fmt.Fprintln(g.stderr, e.Error())
				}
				return silentError{exitFailure}
			}
			// The channels are built as serve builds them (with the
			// secrets as resolved here), so what serve would refuse is
			// refused here first.
			if err := bwserver.CheckChannels(cfg, notify.ChannelOptions{}); err != nil {
				if asJSON {
					if err := writeJSON(g.stdout, map[string]any{"ok": false, "file": file,
						"errors": []configProblem{{File: file, Message: err.Error()}}}); err != nil {
						return err
					}
				}
				fmt.Fprintf(g.stderr, "%s: %v\n", file, err)
				return silentError{exitFailure}
			}
			notes := cfg.Notes()
			channels := len(cfg.AllChannels()) // NotificationChannel documents and inline ones
			if asJSON {
				return writeJSON(g.stdout, map[string]any{
					"ok": true, "file": file,
					"stacks": len(cfg.Stacks), "policies": len(cfg.Policies), "channels": channels,
					"pipelines": len(cfg.Pipelines), "notes": append([]string{}, notes...),
				})
			}
			printNotes(g, file, notes)
			pipelines := ""
			if n := len(cfg.Pipelines); n > 0 {
				pipelines = ", " + count(n, "pipeline")
			}
			_, err = fmt.Fprintf(g.stdout, "ok: %s, %s, %s%s\n", count(len(cfg.Stacks), "stack"),
				pluralPolicies(len(cfg.Policies)), count(channels, "channel"), pipelines)
			return err
		},
	}
	g.configFlag(cmd, &file)
	tenancy.register(cmd.Flags(), false) // as serve: tenancy.go
	bindEnv(cmd.Flags())
	return cmd
}

// printNotes prints, on stderr, what about a valid config may surprise
// (config.Config.Notes): "note: FILE: policy acme: ...".
func printNotes(g *globals, file string, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(g.stderr, "note: %s: %s\n", file, n)
	}
}

// pluralPolicies is "1 policy" or "n policies".
func pluralPolicies(n int) string {
	if n == 1 {
		return "1 policy"
	}
	return fmt.Sprintf("%d policies", n)
}
