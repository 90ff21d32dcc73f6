package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/config"
)

func newRollbackCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget, extra: 1, splitForm: true}
	var hold string
	cmd := &cobra.Command{
		Use:   "rollback CLIENT/STACK VERSION",
		Short: "Make a stored version of a stack the desired state again",
		Long: `Restore the desired composition of an earlier version ("blackwell versions
CLIENT/STACK" lists them). The rollback is itself recorded as a new version.

With --hold DURATION (at most 7d), the stack is pinned at the restored state
for that long: the server's config file, applied at start and on SIGHUP, and
"apply" leave it as it is, and auto-heal heals toward it. "blackwell unpin
CLIENT/STACK" ends the hold early.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, rest, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			req := map[string]string{"version": rest[0], "by": envOr("USER", "cli")}
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
				RestoredVersion string    `json:"restored_version"`
				Hold            *wireHold `json:"hold"`
				Warnings        []string  `json:"warnings"`
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
