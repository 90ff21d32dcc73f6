package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// backupResult is the answer of blackwell backup.
type backupResult struct {
	sqlite.BackupInfo
	// Verified: the backup was opened as a store, its tables counted and
	// its audit chain verified. A backup at another schema version than
	// this program's is not opened (opening would migrate it).
	Verified bool              `json:"verified"`
	Reason   string            `json:"reason,omitempty"`
	Tables   []store.TableCopy `json:"tables,omitempty"`
	Audit    *chainReport      `json:"audit,omitempty"`
}

// dynamoBackupHelp is what backup says for a DynamoDB store: store copy
// into a new SQLite file, or DynamoDB's own backups.
func dynamoBackupHelp(storeURL string) string {
	return fmt.Sprintf(`blackwell backup writes SQLite backups only; back up DynamoDB by copying every row
into a new SQLite file (verified: row counts, digests and the audit chain; stop
writers first, a scan is not a snapshot):

  blackwell store copy --from '%s' --to sqlite://blackwell-backup.db

or with DynamoDB's point-in-time recovery or on-demand backups of the three tables.
Restore with store copy from the file into new, empty tables (another prefix).`, storeURL)
}

// pgDumpHelp is what backup says for a PostgreSQL store: the pg_dump and
// pg_restore commands, with a URL they accept (postgres.DumpURL).
func pgDumpHelp(storeURL string) string {
	dump, dropped := postgres.DumpURL(storeURL)
	var b strings.Builder
	fmt.Fprintf(&b, `blackwell backup writes SQLite backups only; back up PostgreSQL with its own tools:

  pg_dump --format=custom --file=blackwell.dump '%s'
`, dump)
	if strings.Contains(dump, ":xxxxx@") {
		b.WriteString("\n(the password is not printed: set PGPASSWORD or use ~/.pgpass)")
	}
	if len(dropped) > 0 {
		fmt.Fprintf(&b, "\n(%s left out: pg_dump does not accept them)", strings.Join(dropped, ", "))
	}
	b.WriteString(`
(add --schema=NAME when the URL's search_path names a schema). Restore into an
empty database with:

  pg_restore --no-owner --dbname="$NEW_STORE_URL" blackwell.dump

or move the installation with "blackwell store copy --from URL --to URL".
See docs/DEPLOYMENT.md.`)
	return b.String()
}

func newBackupCmd(g *globals) *cobra.Command {
	var storeURL, to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE [--store sqlite://PATH]",
		Short: "Write a consistent copy of a SQLite store while it is in use",
		Long: `Write a consistent backup of a SQLite store to a new file, online: a running
"blackwell serve" goes on writing meanwhile. The backup holds every row
committed when it started (SQLite's VACUUM INTO, one read snapshot), is
written beside FILE under a temporary name and then linked into place, and
is checked: integrity_check, and when its schema version is this program's,
it is opened as a store, its tables counted and its audit chain verified.

The store is not migrated, so a running older server is safe. To restore,
stop the server and put the backup file in place of the store's file (remove
the old file's -wal and -shm files), or "blackwell store copy" it anywhere.

For PostgreSQL, use pg_dump (the command is printed; see docs/DEPLOYMENT.md).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if to == "" {
				return usageError{errors.New("backup needs --to FILE")}
			}
			path, ok := sqlitePath(storeURL)
			if !ok && strings.HasPrefix(storeURL, "dynamodb://") {
				fmt.Fprintln(g.stderr, dynamoBackupHelp(storeURL))
				return silentError{code: exitFailure}
			}
			if !ok {
				fmt.Fprintln(g.stderr, pgDumpHelp(storeURL))
				return silentError{code: exitFailure}
			}
			ctx := cmd.Context()
			info, err := sqlite.Backup(ctx, path, to)
			if err != nil {
				return err
			}
			res := backupResult{BackupInfo: info}
			if latest := sqlite.LatestSchemaVersion(); info.SchemaVersion != latest {
				res.Reason = fmt.Sprintf("schema version %d, this program's is %d: not opened (integrity checked only)", info.SchemaVersion, latest)
			} else {
				b, err := sqlite.Open(ctx, to)
				if err != nil {
					return fmt.Errorf("open backup %s: %w", to, err)
				}
				defer b.Close()
				if res.Tables, err = store.Digest(ctx, b); err != nil {
					return fmt.Errorf("read backup %s: %w", to, err)
				}
				chain, err := verifyChain(ctx, b)
				if err != nil {
					return fmt.Errorf("backup %s written, but its audit chain does not verify: %w", to, err)
				}
				res.Audit, res.Verified = &chain, true
			}
			if asJSON {
				return writeJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "backup of %s written to %s (%d bytes, schema version %d)\n", path, info.Path, info.Bytes, info.SchemaVersion)
			if !res.Verified {
				fmt.Fprintf(g.stdout, "not verified: %s\n", res.Reason)
				return nil
			}
			writeTableCounts(g, res.Tables)
			fmt.Fprintf(g.stdout, "verified: integrity check ok; %s\n", res.Audit)
			return nil
		},
	}
	f := cmd.Flags()
	storeFlag(f, &storeURL)
	bindEnv(f) // --store only
	f.StringVar(&to, "to", "", "backup file to write (must not exist)")
	return cmd
}
