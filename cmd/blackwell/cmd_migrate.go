package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/dynamodb"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// migrateResult is the answer of blackwell migrate.
type migrateResult struct {
	Store         string `json:"store"`
	SchemaVersion int    `json:"schema_version"`
	// Latest is this program's last migration.
	Latest     int               `json:"latest"`
	AppliedNow []string          `json:"applied_now"`
	Migrations []store.Migration `json:"migrations"`
}

func newMigrateCmd(g *globals) *cobra.Command {
	var (
		storeURL string
		create   bool
	)
	cmd := &cobra.Command{
		Use:   "migrate [--store URL] [--create]",
		Short: "Apply pending schema migrations and print the schema version",
		Long: `Bring the store's schema to this program's version and print it, with the
migrations applied now. Migrations run in one transaction; replicas starting
at once take turns. "blackwell serve" applies them too at start; run this
first to upgrade on your own schedule (and back up before: see "blackwell
backup"). A store migrated by a newer blackwell is refused: serve and migrate
exit with an error rather than run against a schema they do not know.

A SQLite store that does not exist is refused (a typo must not create an
empty store) unless --create is given.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// Migrations applied from now on were applied by this run
			// (applied_at is stamped with this machine's clock).
			start := store.Truncate(time.Now())
			open := openExistingStore
			if create {
				open = openStore
			}
			st, err := open(ctx, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			res := migrateResult{Store: redactStoreURL(storeURL), AppliedNow: []string{}}
			if res.SchemaVersion, err = st.SchemaVersion(ctx); err != nil {
				return err
			}
			if res.Migrations, err = st.Migrations(ctx); err != nil {
				return err
			}
			res.Latest = sqlite.LatestSchemaVersion()
			switch _, ok := sqlitePath(storeURL); {
			case strings.HasPrefix(storeURL, "dynamodb://"):
				res.Latest = dynamodb.LatestSchemaVersion()
			case !ok:
				res.Latest = postgres.LatestSchemaVersion()
			}
			for _, m := range res.Migrations {
				if !m.AppliedAt.Before(start) {
					res.AppliedNow = append(res.AppliedNow, m.Name)
				}
			}
			if asJSON {
				return writeJSON(g.stdout, res)
			}
			tw := newTable(g.stdout, "VERSION", "NAME", "APPLIED")
			for _, m := range res.Migrations {
				row(tw, fmt.Sprint(m.Version), m.Name, formatTime(&m.AppliedAt))
			}
			tw.Flush()
			now := "none, already up to date"
			if len(res.AppliedNow) > 0 {
				now = strings.Join(res.AppliedNow, ", ")
			}
			fmt.Fprintf(g.stdout, "%s: schema version %d (this program's latest: %d); applied now: %s\n",
				res.Store, res.SchemaVersion, res.Latest, now)
			return nil
		},
	}
	f := cmd.Flags()
	storeFlag(f, &storeURL)
	f.BoolVar(&create, "create", false, "create the store when it does not exist (SQLite)")
	bindEnv(f)
	return cmd
}
