package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/config"
)

func newRollbackCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget, extra: 1, splitForm: true}
	var hold string
	cmd := &cobra.Command{
		Use:   "rollback CLIENT/STACK VERSION|SNAPSHOT",
		Short: "Make a stored version of a stack, and what the providers ran with it, current again",
		Long: `Restore the desired composition of an earlier version ("blackwell versions
CLIENT/STACK" lists them). The rollback is itself recorded as a new version.

When a known-good snapshot is kept (the SNAPSHOT named, or the newest of the
VERSION named; "blackwell snapshots CLIENT/STACK" lists them), the providers
are rolled back too, in dependency order: the CMS environment alias, the
webhook subscriptions, the deployed build (the host's recorded deployment
made live again, or a CodeBuild build of the recorded commit). A pass then
verifies the stack. Each component's outcome is printed; a rollback that
fails exits 1.

With --hold DURATION (at most 7d), the stack is pinned at the restored state
for that long: the server's config file, applied at start and on SIGHUP, and
"apply" leave it as it is, and auto-heal heals toward it. "blackwell unpin
CLIENT/STACK" ends the hold early.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, rest, asJSON, c, err := ta.readArgs(cmd, args, g)
			if err != nil {
				return err
			}
			req := map[string]string{"version": rest[0], "by": envOr("USER", "cli")}
			if strings.HasPrefix(rest[0], "snap-") {
				req = map[string]string{"snapshot": rest[0], "by": envOr("USER", "cli")}
			}
			if hold != "" {
				if _, err := config.ParseDuration(hold); err != nil {
					return usageError{fmt.Errorf("--hold: %w", err)}
				}
				req["hold"] = hold
			}
			body, err := json.Marshal(req)
			if err != nil {
				return err
			}
			var res struct {
				wireApplyResult
				RestoredVersion string        `json:"restored_version"`
				Hold            *wireHold     `json:"hold"`
				Rollback        *wireRollback `json:"rollback"`
				Warnings        []string      `json:"warnings"`
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("stacks", t.client, t.stack, "rollback"), body: body}, &res)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			printWarnings(g, res.Warnings)
			if res.Hold != nil {
				defer fmt.Fprintf(g.stdout, "%s/%s is %s\n", res.ClientID, res.StackID, res.Hold.describe())
			}
			if res.Rollback != nil {
				return printRollback(g, *res.Rollback)
			}
			if !res.Changed {
				_, err := fmt.Fprintf(g.stdout, "%s/%s already has the desired state of %s (%s)\n", res.ClientID, res.StackID, res.RestoredVersion, res.Version)
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "rolled back %s/%s to the desired state of %s: now %s\n", res.ClientID, res.StackID, res.RestoredVersion, res.Version)
			return err
		},
	}
	cmd.Flags().StringVar(&hold, "hold", "", "pin the stack at the restored state for this long (for example 24h or 3d; at most 7d)")
	return cmd
}

// wireRollback is a rollback across providers as the API answers it
// (store.RollbackRecord).
type wireRollback struct {
	ID              string `json:"id"`
	ClientID        string `json:"client_id"`
	StackID         string `json:"stack_id"`
	SnapshotID      string `json:"snapshot_id"`
	RestoredVersion string `json:"restored_version"`
	NewVersion      string `json:"new_version"`
	Status          string `json:"status"`
	Error           string `json:"error"`
	Steps           []struct {
		Component string `json:"component"`
		Outcome   string `json:"outcome"`
		Detail    string `json:"detail"`
	} `json:"steps"`
}

// printRollback prints a rollback's components and their outcomes; a
// rollback that did not verify is an error (exit 1).
func printRollback(g *globals, rb wireRollback) error {
	fmt.Fprintf(g.stdout, "rolled back %s/%s to snapshot %s (the desired state of %s, now %s): %s\n",
		rb.ClientID, rb.StackID, rb.SnapshotID, rb.RestoredVersion, rb.NewVersion, rb.Status)
	tw := newTable(g.stdout, "COMPONENT", "OUTCOME", "DETAIL")
	for _, st := range rb.Steps {
		row(tw, st.Component, st.Outcome, st.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch rb.Status {
	case "verified":
		return nil
	case "running":
		return fmt.Errorf("rollback %s did not finish in time: it goes on, and resumes at the server's next start (blackwell rollbacks %s/%s)", rb.ID, rb.ClientID, rb.StackID)
	}
	return fmt.Errorf("rollback %s failed: %s", rb.ID, rb.Error)
}
