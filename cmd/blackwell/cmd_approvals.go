package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// wireApproval is the part of an approval request the CLI shows.
type wireApproval struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	StackID   string    `json:"stack_id"`
	DriftID   string    `json:"drift_id"`
	Code      string    `json:"code"`
	Component string    `json:"component"`
	Action    string    `json:"heal_action"`
	Class     string    `json:"approval_class"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expires_at"`
	DecidedBy string    `json:"decided_by"`
	Reason    string    `json:"reason"`
}

func newApprovalsCmd(g *globals) *cobra.Command {
	var status string
	ta := targetArgs{kind: eitherTarget, optional: true}
	cmd := &cobra.Command{
		Use:   "approvals [CLIENT[/STACK]] [--status S]",
		Short: "List heal approval requests (pending by default)",
		Args:  ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, asJSON, c, err := ta.read(cmd, args, g)
			if err != nil {
				return err
			}
			q := t.query()
			if status != "all" {
				q.Set("status", status)
			}
			var all []json.RawMessage
			if err := listAll(cmd, c, "/v1/approvals", q, &all); err != nil {
				return err
			}
			if asJSON {
				raw, err := json.Marshal(wirePage[json.RawMessage]{Items: all})
				if err != nil {
					return err
				}
				return g.writeRaw(raw)
			}
			if len(all) == 0 {
				what := "approval requests"
				if status != "all" {
					what = status + " " + what
				}
				_, err := fmt.Fprintf(g.stdout, "no %s\n", what)
				return err
			}
			tw := newTable(g.stdout, "ID", "CLIENT", "STACK", "CODE", "COMPONENT", "ACTION", "CLASS", "STATUS", "EXPIRES")
			for _, item := range all {
				var a wireApproval
				if err := json.Unmarshal(item, &a); err != nil {
					return fmt.Errorf("decode approval: %w", err)
				}
				row(tw, a.ID, a.ClientID, a.StackID, a.Code, a.Component, a.Action, a.Class, a.Status, formatTime(&a.ExpiresAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "pending", "pending, approved, rejected, expired, executed, or all")
	return cmd
}

// newDecisionCmd is approve or reject.
func newDecisionCmd(g *globals, approve bool) *cobra.Command {
	var reason, by string
	verb, short := "approve", "Approve a pending heal; the next pass runs it once"
	if !approve {
		verb, short = "reject", "Reject a pending heal (a reason is required)"
	}
	cmd := &cobra.Command{
		Use:   verb + " APPROVAL_ID [--reason TEXT]",
		Short: short,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if !approve && reason == "" {
				return usageError{fmt.Errorf("reject needs --reason")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if by == "" {
				by = envOr("USER", "cli")
			}
			body, err := json.Marshal(map[string]string{"by": by, "reason": reason})
			if err != nil {
				return err
			}
			var a wireApproval
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("approvals", args[0], verb), body: body}, &a)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			_, err = fmt.Fprintf(g.stdout, "%s %s: %s %s/%s %s %s\n", a.Status, a.ID, a.Action, a.ClientID, a.StackID, a.Code, a.Component)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log; required to reject)")
	cmd.Flags().StringVar(&by, "by", "", "who decides (default $USER)")
	return cmd
}
