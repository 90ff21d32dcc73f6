package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/report"
)

func newReportCmd(g *globals) *cobra.Command {
	var from, to, out string
	ta := targetArgs{kind: clientTarget, optional: true}
	cmd := &cobra.Command{
		Use:   "report [CLIENT] [--from T] [--to T] [-o table|json|csv|html] [--output-file FILE]",
		Short: "The KPI report of a period (of CLIENT), computed from the audit log alone",
		Long: `Print the spec's KPIs for the period [--from, --to): drift detection time,
MTTD, MTTH, MTTR, auto-heal success rate, false-positive rate, automatic heals
against manual interventions, and configuration compliance, overall and per
client (of CLIENT only when given). The server computes every figure from the
audit log alone and names the chain head it read up to: check it with the
"blackwell audit verify --expect-head SEQ:HASH" the report prints.

--from and --to are RFC 3339 times or dates (2026-11-01, midnight UTC); --to is
excluded and defaults to now, --from to 30 days before --to.

-o table (the default) prints the KPIs and a line per client; -o json, csv or
html writes the report document (html: one page with inline SVG charts, no
script). docs/REPORTS.md defines each figure.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			format := g.output
			switch format {
			case "table", "", "json", "csv", "html":
			default:
				return usageError{fmt.Errorf("report writes -o table, json, csv or html, not %q", g.output)}
			}
			q := url.Values{}
			if err := reportPeriod(q, from, to); err != nil {
				return err
			}
			if t.client != "" {
				q.Set("client_id", t.client)
			}
			table := format == "table" || format == ""
			if table {
				q.Set("format", "json")
			} else {
				q.Set("format", format)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: "/v1/reports", query: q}, nil)
			if err != nil {
				return err
			}
			if table {
				var r report.Report
				if err := json.Unmarshal(raw, &r); err != nil {
					return fmt.Errorf("read the report: %w", err)
				}
				return writeReportTable(g.stdout, r)
			}
			return writeReportFile(g, out, raw)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the period's start: RFC 3339 or a date (default: 30 days before --to)")
	f.StringVar(&to, "to", "", "the period's end, excluded: RFC 3339 or a date (default: now)")
	f.StringVar(&out, "output-file", "-", "write the report to this file (- for stdout)")
	ta.clientFlag(g, cmd, "report") // DESIGN.md's spelling report --client C, with a warning
	return cmd
}

// reportPeriod puts --from and --to in the query as RFC 3339.
func reportPeriod(q url.Values, from, to string) error {
	for name, v := range map[string]string{"from": from, "to": to} {
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return usageError{fmt.Errorf("--%s wants an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01), not %q", name, v)}
			}
		}
		q.Set(name, t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// writeReportFile writes a report document to stdout or, atomically, to
// a file.
func writeReportFile(g *globals, out string, raw []byte) error {
	if out == "-" {
		_, err := g.stdout.Write(raw)
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	_, err := fmt.Fprintf(g.stdout, "wrote %s (%d bytes)\n", out, len(raw))
	return err
}

// writeReportTable prints the overall KPIs, a line per client, and the
// chain head with the command that checks it.
func writeReportTable(w io.Writer, r report.Report) error {
	fmt.Fprintf(w, "KPI report %s to %s (excluded)\n", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	tw := newTable(w, "KPI", "VALUE", "TARGET", "VERDICT", "OVER")
	for _, k := range r.Overall.KPIs {
		row(tw, k.Label, k.ValueText(), k.TargetText(), k.Verdict(), strconv.Itoa(k.Samples))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w, "CLIENT", "STACKS", "DRIFTS", "MTTD", "MTTH", "MTTR", "HEAL OK", "FALSE POS", "AUTOMATION", "COMPLIANCE")
	for _, f := range r.Clients {
		row(tw, f.ClientID, strconv.Itoa(f.Stacks), strconv.Itoa(f.DriftsDetected), report.Seconds(f.DetectionTime.MeanSeconds),
			report.Seconds(f.TimeToHeal.MeanSeconds), report.Seconds(f.TimeToRecovery.MeanSeconds), report.Percent(f.AutoHealSuccessRate),
			report.Percent(f.FalsePositiveRate), report.Percent(f.AutomationRate), report.Percent(f.Compliance))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range r.NotInAuditLog {
		fmt.Fprintf(w, "not in the audit log: %s\n", o.KPI)
	}
	_, err := fmt.Fprintf(w, "computed from audit entries %d to %d (%d read); check the head with: %s\n",
		r.Source.FirstSeq, r.Source.HeadSeq, r.Source.EntriesRead, r.Source.Verify)
	return err
}
