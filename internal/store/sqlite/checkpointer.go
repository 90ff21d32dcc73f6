package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// checkpointGap is the least time between two background checkpoints.
const checkpointGap = 100 * time.Millisecond

// checkpointer copies the WAL back into the database file off the write
// path. By default SQLite checkpoints inside the commit that crosses
// wal_autocheckpoint pages, so every thousandth commit or so pays for
// copying pages and two fsyncs while every other write waits. Here the
// writer's threshold is high (a safety net) and this goroutine, on its own
// connection, runs a PASSIVE checkpoint (never blocking readers or the
// writer) after writes, at most every checkpointGap.
type checkpointer struct {
	db      *sql.DB
	log     *slog.Logger
	kick    chan struct{} // capacity 1: "there are new commits"
	stop    chan struct{}
	stopped chan struct{}
	lastErr string // the last failure logged, so a repeating one is logged once
}

func newCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{
		db:      db,
		log:     log,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go c.run()
	return c
}

// wrote tells the checkpointer a transaction has committed; it never blocks.
func (c *checkpointer) wrote() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) close() {
	close(c.stop)
	<-c.stopped
}

func (c *checkpointer) run() {
	defer close(c.stopped)
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		select {
		case <-gap.C:
		case <-c.stop:
			return
		}
		c.checkpoint()
		gap.Reset(checkpointGap)
	}
}

func (c *checkpointer) checkpoint() {
	var busy, logFrames, done int
	err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done)
	switch {
	case err != nil && err.Error() != c.lastErr:
		c.lastErr = err.Error()
		c.log.Warn("sqlite wal checkpoint failed", "err", err)
	case err == nil && c.lastErr != "":
		c.lastErr = ""
		c.log.Info("sqlite wal checkpoint works again")
	}
}
