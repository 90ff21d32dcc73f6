package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

func newRollbackCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget, extra: 1, splitForm: true}
	return &cobra.Command{
		Use:   "rollback CLIENT/STACK VERSION",
		Short: "Make a stored version of a stack the desired state again",
		Long: `Restore the desired composition of an earlier version ("blackwell versions
CLIENT/STACK" lists them). The rollback is itself recorded as a new version.`,
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
			body, err := json.Marshal(map[string]string{"version": rest[0], "by": envOr("USER", "cli")})
			if err != nil {
				return err
			}
			var res struct {
				wireApplyResult
				RestoredVersion string `json:"restored_version"`
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("stacks", t.client, t.stack, "rollback"), body: body}, &res)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			if !res.Changed {
				_, err := fmt.Fprintf(g.stdout, "%s/%s already has the desired state of %s (%s)\n", res.ClientID, res.StackID, res.RestoredVersion, res.Version)
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "rolled back %s/%s to the desired state of %s: now %s\n", res.ClientID, res.StackID, res.RestoredVersion, res.Version)
			return err
		},
	}
}
