package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
)

// defaultStoreURL is serve's default store.
const defaultStoreURL = "sqlite://./blackwell.db"

// storeFlag adds --store, as serve has it.
func storeFlag(f *pflag.FlagSet, p *string) {
	f.StringVar(p, "store", defaultStoreURL, "store URL: sqlite://PATH or postgres://USER@HOST/DB")
}

// sqlitePath returns the file of a SQLite store URL (sqlite://PATH or a
// bare path, as openStore reads them), or false for another scheme.
func sqlitePath(u string) (string, bool) {
	if p, ok := strings.CutPrefix(u, "sqlite://"); ok {
		return p, true
	}
	if strings.Contains(u, "://") {
		return "", false
	}
	return u, true
}

func newStoreCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Operate on a store directly: copy an installation to another store",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("store needs a subcommand: copy")}
		},
	}
	cmd.AddCommand(newStoreCopyCmd(g))
	return cmd
}

// chainReport is what verifying a store's audit chain found.
type chainReport struct {
	Entries  int64  `json:"entries"`
	FirstSeq int64  `json:"first_seq,omitempty"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
}

func (c chainReport) String() string {
	if c.Entries == 0 {
		return "audit chain: empty"
	}
	s := fmt.Sprintf("audit chain verifies: %d entries, head %d:%s", c.Entries, c.HeadSeq, c.HeadHash)
	if c.FirstSeq > 1 {
		s += fmt.Sprintf(" (from entry %d; earlier entries pruned)", c.FirstSeq)
	}
	return s
}

// verifyChain reads a store's whole audit chain, oldest first, and checks
// every entry's hash and link. A chain whose first entries were pruned is
// checked from the checkpoint that stands for them (whose signature "audit
// verify" checks with the server's key).
func verifyChain(ctx context.Context, st store.Store) (chainReport, error) {
	var rep chainReport
	v := &audit.Verifier{}
	switch cp, err := st.AuditCheckpoint(ctx); {
	case err == nil:
		v = audit.FromCheckpoint(cp)
	case !errors.Is(err, store.ErrNotFound):
		return rep, fmt.Errorf("read audit checkpoint: %w", err)
	}
	cursor := ""
	for {
		page, next, err := st.ListAudit(ctx, store.AuditQuery{Cursor: cursor, Limit: 1000})
		if err != nil {
			return rep, fmt.Errorf("read audit chain: %w", err)
		}
		for _, e := range page {
			if rep.FirstSeq == 0 {
				rep.FirstSeq = e.Seq
			}
			if err := v.Add(e); err != nil {
				return rep, err
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	rep.HeadSeq, rep.HeadHash, rep.Entries = v.Head()
	return rep, nil
}

// copyResult is the answer of store copy.
type copyResult struct {
	From string `json:"from"`
	To   string `json:"to"`
	store.CopyReport
	Audit chainReport `json:"audit"`
}

func newStoreCopyCmd(g *globals) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "copy --from URL --to URL",
		Short: "Copy every row of one store into a new, empty one (between SQLite, PostgreSQL and DynamoDB)",
		Long: `Move an installation to another store: every table (stacks, desired versions,
policies, events, content, drifts, reconciliations, the audit chain with its
hashes as they are, ...) is read from one snapshot of the source and written in
one transaction into the target, whose schema is created if needed. The target
must hold no rows (a non-empty target is refused, nothing written).

The copy is then verified: each table's row count and a digest of its rows are
compared between source and target, and the audit chain is verified on the
target. Rows written to the source after its snapshot are not copied: stop
"blackwell serve" on the source first. Both stores are brought to this
program's schema version. A DynamoDB source is read by scanning its tables
(not one snapshot), and a DynamoDB target is written item by item, the items
written deleted again if one fails (docs/DEPLOYMENT.md).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if from == "" || to == "" {
				return usageError{errors.New("store copy needs --from URL and --to URL")}
			}
			if from == to {
				return usageError{errors.New("--from and --to name the same store")}
			}
			ctx := cmd.Context()
			src, err := openExistingStore(ctx, from)
			if err != nil {
				return fmt.Errorf("source: %w", err)
			}
			defer src.Close()
			dst, err := openStore(ctx, to)
			if err != nil {
				return fmt.Errorf("target: %w", err)
			}
			defer dst.Close()

			res := copyResult{From: redactStoreURL(from), To: redactStoreURL(to)}
			res.CopyReport, err = store.Copy(ctx, src, dst)
			if err != nil {
				if errors.Is(err, store.ErrNotEmpty) {
					return fmt.Errorf("copy to %s refused, nothing written: %w (copy into a new database, schema or file)", res.To, err)
				}
				return fmt.Errorf("copy %s to %s: %w", res.From, res.To, err)
			}
			res.Audit, err = verifyChain(ctx, dst)
			if err != nil {
				return fmt.Errorf("copied %d rows to %s, but its audit chain does not verify: %w", res.Rows, res.To, err)
			}
			if asJSON {
				return writeJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "copied %s to %s (schema version %d)\n", res.From, res.To, res.SchemaVersion)
			writeTableCounts(g, res.Tables)
			fmt.Fprintf(g.stdout, "verified: row counts and digests equal in source and target; %s\n", res.Audit)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "store to copy: sqlite://PATH, postgres://... or dynamodb://PREFIX?region=R")
	f.StringVar(&to, "to", "", "empty store to copy into: sqlite://PATH, postgres://... or dynamodb://PREFIX?region=R")
	return cmd
}

// writeTableCounts prints rows per table and the total.
func writeTableCounts(g *globals, tables []store.TableCopy) {
	tw := newTable(g.stdout, "TABLE", "ROWS")
	var total int64
	for _, t := range tables {
		row(tw, t.Table, fmt.Sprint(t.Rows))
		total += t.Rows
	}
	row(tw, "total", fmt.Sprint(total))
	tw.Flush()
}
