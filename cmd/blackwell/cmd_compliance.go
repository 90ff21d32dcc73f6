package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// wireSeconds are (rule, stack)-seconds per status.
type wireSeconds struct {
	Compliant    float64 `json:"compliant"`
	Noncompliant float64 `json:"noncompliant"`
	Unknown      float64 `json:"unknown"`
	Excepted     float64 `json:"excepted"`
	Evaluated    float64 `json:"evaluated"`
}

// wireCompliance is GET /v1/compliance's answer.
type wireCompliance struct {
	From    time.Time   `json:"from"`
	To      time.Time   `json:"to"`
	Score   *float64    `json:"score"`
	Seconds wireSeconds `json:"seconds"`
	Items   []struct {
		ClientID string    `json:"client_id"`
		StackID  string    `json:"stack_id"`
		Rule     string    `json:"rule"`
		Mode     string    `json:"mode"`
		Status   string    `json:"status"`
		Message  string    `json:"message"`
		Since    time.Time `json:"since"`
		Current  bool      `json:"current"`
		Score    *float64  `json:"score"`
	} `json:"items"`
}

// percent formats a score, "-" when nothing was evaluated.
func percent(score *float64) string {
	if score == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f %%", *score*100)
}

func newComplianceCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: eitherTarget, optional: true}
	var (
		since        time.Duration
		policyReport bool
	)
	cmd := &cobra.Command{
		Use:   "compliance [CLIENT[/STACK]] [--since 720h] [--policy-report]",
		Short: "Show compliance with the organisation's rules: the score and each rule's status per stack",
		Long: `Show how the stacks (of CLIENT, or of one stack) complied with the
OrganizationPolicy's rules over the period (--since, default 30 days): the
score is compliant (rule, stack)-seconds over evaluated ones; time a rule
was unknown (nothing observed yet, an evaluation that failed) or excepted is
shown apart, never as compliant. Each (rule, stack) is listed with its
latest status. -o json prints the API's answer (GET /v1/compliance);
--policy-report prints the current statuses as a PolicyReport
(wgpolicyk8s.io/v1alpha2) instead.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, asJSON, c, err := ta.read(cmd, args, g)
			if err != nil {
				return err
			}
			q := t.query()
			if since <= 0 {
				return usageError{fmt.Errorf("--since must be positive, not %s", since)}
			}
			q.Set("from", time.Now().Add(-since).UTC().Format(time.RFC3339))
			if policyReport {
				q.Set("format", "policyreport")
			}
			var ans wireCompliance
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: "/v1/compliance", query: q}, &ans)
			if err != nil {
				return err
			}
			if asJSON || policyReport {
				return g.writeRaw(raw)
			}
			return printCompliance(g, t, ans)
		},
	}
	cmd.Flags().DurationVar(&since, "since", 30*24*time.Hour, "the period reported, up to now")
	cmd.Flags().BoolVar(&policyReport, "policy-report", false, "print the current statuses as a PolicyReport (wgpolicyk8s.io/v1alpha2)")
	bindEnv(cmd.Flags())
	return cmd
}

// printCompliance prints the score, the time per status and each (rule,
// stack).
func printCompliance(g *globals, t target, ans wireCompliance) error {
	scope := "every client"
	if t.client != "" {
		scope = t.String()
	}
	s := ans.Seconds
	fmt.Fprintf(g.stdout, "compliance of %s from %s to %s: %s\n", scope, formatTime(&ans.From), formatTime(&ans.To), percent(ans.Score))
	fmt.Fprintf(g.stdout, "(rule, stack)-seconds: %.0f compliant, %.0f noncompliant of %.0f evaluated; %.0f unknown and %.0f excepted, counted apart\n\n",
		s.Compliant, s.Noncompliant, s.Evaluated, s.Unknown, s.Excepted)
	if len(ans.Items) == 0 {
		_, err := fmt.Fprintln(g.stdout, "no rule was evaluated in the period (an OrganizationPolicy declares the rules)")
		return err
	}
	tw := newTable(g.stdout, "STACK", "RULE", "MODE", "STATUS", "SINCE", "SCORE", "MESSAGE")
	for _, it := range ans.Items {
		status := it.Status
		if !it.Current {
			status += " (no longer applies)"
		}
		row(tw, it.ClientID+"/"+it.StackID, it.Rule, it.Mode, status, formatTime(&it.Since), percent(it.Score), strings.TrimSpace(it.Message))
	}
	return tw.Flush()
}
