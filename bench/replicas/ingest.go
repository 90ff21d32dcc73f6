package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/bench/internal/proc"
)

// runIngest runs the webhook-ingest load generator (bench/ingest) with
// blackwell serve on a fresh PostgreSQL schema: deliveries committed
// durably (synchronous_commit as the server has it) against the bare
// net/http handler in the same run.
func runIngest(ctx context.Context, o options) error {
	if o.ingestBin == "" || o.bareBin == "" {
		return fmt.Errorf("-bench ingest needs -ingest (go build ./bench/ingest) and -bare (bare-httpd)")
	}
	sc, err := newSchema(ctx, o.server, o.keep)
	if err != nil {
		return err
	}
	defer sc.drop()
	db, err := sc.pool(ctx)
	if err != nil {
		return err
	}
	var syncCommit, fsync string
	err = db.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('fsync')`).Scan(&syncCommit, &fsync)
	db.Close()
	if err != nil {
		return err
	}
	fmt.Printf("PostgreSQL schema %s, synchronous_commit=%s, fsync=%s\n", sc.name, syncCommit, fsync)
	args := []string{"-blackwell", o.blackwell, "-bare", o.bareBin, "-store", sc.url}
	if len(o.serveArgs) > 0 {
		args = append(args, "-serve-args", strings.Join(o.serveArgs, " "))
	}
	cmd := exec.CommandContext(ctx, o.ingestBin, append(args, o.ingestArgs...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	pg0, t0 := proc.PostgresCPU(), time.Now()
	err = cmd.Run()
	pg, wall := proc.PostgresCPU()-pg0, time.Since(t0)
	// PostgreSQL's CPU per stored delivery, over the whole run (its bare
	// rounds too, and whatever else the server did meanwhile: an upper
	// bound).
	if db, derr := sc.pool(ctx); derr == nil {
		var events int
		if db.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events) == nil && events > 0 {
			fmt.Printf("PostgreSQL: %.1f s of CPU over the %.0f s run (%.0f%% of a core), %d deliveries stored: at most %.0f cpu-µs per delivery\n",
				secs(pg), secs(wall), 100*secs(pg)/secs(wall), events, float64(pg.Microseconds())/float64(events))
		}
		db.Close()
	}
	return err
}
