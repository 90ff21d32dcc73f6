package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"
)

// wireStackDeleted is DELETE /v1/stacks/{client_id}/{stack_id}'s answer.
type wireStackDeleted struct {
	ClientID        string      `json:"client_id"`
	StackID         string      `json:"stack_id"`
	StateVersion    string      `json:"state_version"`
	DriftsResolved  []wireDrift `json:"drifts_resolved"`
	HealsCancelled  []string    `json:"heals_cancelled"`
	ApprovalsClosed []string    `json:"approvals_closed"`
	PolicyDeleted   bool        `json:"policy_deleted"`
}

// describe says what the deletion did, on one line.
func (d wireStackDeleted) describe(w io.Writer) {
	fmt.Fprintf(w, "deleted %s/%s (was %s): %s resolved, %s cancelled, %s closed",
		d.ClientID, d.StackID, d.StateVersion, count(len(d.DriftsResolved), "open drift"),
		count(len(d.HealsCancelled), "pending heal"), count(len(d.ApprovalsClosed), "approval request"))
	if d.PolicyDeleted {
		fmt.Fprint(w, ", its own policy removed")
	}
	fmt.Fprintln(w, "; its history is kept")
}

// count is "1 thing" or "n things".
func count(n int, what string) string {
	return plural(n, what, what+"s")
}

// plural is "1 one" or "n many": plural(n, "entry", "entries").
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func newDeleteCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget}
	return &cobra.Command{
		Use:   "delete CLIENT/STACK",
		Short: "Remove a stack (its history is kept)",
		Long: `Remove a stack from the server: it is no longer reconciled or listed. Its open
drifts are resolved (announced once as resolved), its pending heal attempts
cancelled and its pending approval requests closed; the deletion is audited
(stack_deleted). Its desired versions, reconciliation results, events and audit
entries are kept, and a stack applied again under the same name continues its
versions after them. A stack still declared in the config file comes back on the
server's next SIGHUP or restart: remove it from the file too (or use
"apply --prune" with the file).`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			clientID, stackID := t.client, t.stack
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var res wireStackDeleted
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodDelete, path: pathOf("stacks", clientID, stackID)}, &res)
			var ae *wireError
			if errors.As(err, &ae) && ae.Status == http.StatusMethodNotAllowed {
				return fmt.Errorf("the server at %s cannot delete stacks (an older blackwell): %w", c.origin(), err)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			res.describe(g.stdout)
			return nil
		},
	}
}
