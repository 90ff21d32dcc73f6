package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify or export the hash-chained audit trail",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("audit needs a subcommand: verify or export")}
		},
	}
	cmd.AddCommand(newAuditVerifyCmd(g), newAuditExportCmd(g))
	return cmd
}

// eachAudit pages through GET /v1/audit, oldest first.
func eachAudit(ctx context.Context, c *apiClient, clientID, action string, fn func(store.AuditEntry) error) error {
	cursor := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if clientID != "" {
			q.Set("client_id", clientID)
		}
		if action != "" {
			q.Set("action", action)
		}
		var page wirePage[store.AuditEntry]
		if _, _, err := c.do(ctx, apiRequest{method: http.MethodGet, path: "/v1/audit", query: q}, &page); err != nil {
			return err
		}
		for _, e := range page.Items {
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var expectHead string
	cmd := &cobra.Command{
		Use:   "verify [--expect-head SEQ:HASH]",
		Short: "Prove that no audit entry was altered, removed or reordered",
		Long: `Read the whole audit chain from the server and check every entry's hash and
its link to the entry before it. On a break, name the first bad entry and exit 1.
Truncation of the chain's end cannot be seen from the chain alone: keep the head
this command prints and pass it back with --expect-head next time.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var v audit.Verifier
			var expectSeq int64 = -1
			var expectHash string
			if expectHead != "" {
				if n, _ := fmt.Sscanf(expectHead, "%d:%s", &expectSeq, &expectHash); n != 2 {
					return usageError{fmt.Errorf("--expect-head wants SEQ:HASH as printed by audit verify, not %q", expectHead)}
				}
			}
			var sawExpected bool
			verr := eachAudit(cmd.Context(), c, "", "", func(e store.AuditEntry) error {
				if err := v.Add(e); err != nil {
					return err
				}
				if e.Seq == expectSeq {
					if e.Hash != expectHash {
						return &audit.Break{Seq: e.Seq, Reason: "hash differs from the expected head (history rewritten)"}
					}
					sawExpected = true
				}
				return nil
			})
			if verr == nil && expectSeq >= 0 && !sawExpected {
				verr = fmt.Errorf("audit chain ends before the expected head %d (entries removed from the end)", expectSeq)
			}
			seq, hash, n := v.Head()
			if asJSON {
				out := map[string]any{"ok": verr == nil, "entries": n, "head_seq": seq, "head_hash": hash}
				if verr != nil {
					out["error"] = verr.Error()
				}
				if err := writeJSON(g.stdout, out); err != nil {
					return err
				}
			} else if verr == nil {
				fmt.Fprintf(g.stdout, "ok: %d entries verified; head %d:%s\n", n, seq, hash)
			}
			switch {
			case verr == nil:
				return nil
			case asJSON:
				return silentError{code: exitFailure} // the JSON says why
			default:
				return verr
			}
		},
	}
	cmd.Flags().StringVar(&expectHead, "expect-head", "", "a head SEQ:HASH printed by an earlier verify; fail if it is gone or changed")
	return cmd
}

func newAuditExportCmd(g *globals) *cobra.Command {
	var format, clientID, action, out string
	cmd := &cobra.Command{
		Use:   "export [--format jsonl|csv] [--client C] [--action A] [-f FILE]",
		Short: "Export audit entries as JSON Lines or CSV for compliance reporting",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "jsonl" && format != "csv" {
				return usageError{fmt.Errorf("--format must be jsonl or csv, not %q", format)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			w := g.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			write, flush := auditWriter(w, format)
			if err := eachAudit(cmd.Context(), c, clientID, action, write); err != nil {
				return err
			}
			return flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "jsonl", "jsonl or csv")
	f.StringVar(&clientID, "client", "", "only this client's entries")
	f.StringVar(&action, "action", "", "only entries of this action")
	f.StringVarP(&out, "file", "f", "-", "write to FILE instead of stdout")
	return cmd
}

// auditWriter returns a function writing one entry in the format and a
// flush for the end.
func auditWriter(w io.Writer, format string) (func(store.AuditEntry) error, func() error) {
	if format == "jsonl" {
		enc := json.NewEncoder(w)
		return func(e store.AuditEntry) error { return enc.Encode(e) }, func() error { return nil }
	}
	cw := csv.NewWriter(w)
	header := true
	return func(e store.AuditEntry) error {
			if header {
				header = false
				if err := cw.Write([]string{"seq", "timestamp", "action", "client_id", "stack_id", "triggered_by", "success",
					"changes_made", "approval_required", "approver", "reconciliation_id", "drift_id", "prev_hash", "hash"}); err != nil {
					return err
				}
			}
			return cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.Timestamp.UTC().Format(time.RFC3339Nano), e.Action,
				e.ClientID, e.StackID, e.TriggeredBy, strconv.FormatBool(e.Success), string(e.ChangesMade),
				strconv.FormatBool(e.ApprovalRequired), e.Approver, e.ReconciliationID, e.DriftID, e.PrevHash, e.Hash})
		}, func() error {
			cw.Flush()
			return cw.Error()
		}
}
