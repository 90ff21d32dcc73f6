package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
)

// errClosed is returned by writes after Close.
var errClosed = errors.New("sqlite store is closed")

// maxBatch bounds how many writes share one transaction.
const maxBatch = 128

// A writeOp is one write method's transaction body, queued for the committer.
type writeOp struct {
	fn func(ctx context.Context, tx *sql.Tx) error
	// durable: the write's commit must be synced before it is reported.
	durable bool
	// rerunnable: fn may run again in a new transaction after the one it
	// ran in rolled back (it only sets results it owns, by index). A batch
	// of rerunnable writes runs without savepoints; if one fails, the batch
	// is rolled back and run again with them.
	rerunnable bool
	// join, when set, runs this write together with the other writes of
	// its batch that have a join, in one go: join(ctx, tx, ops) does what
	// the fn of each of ops would (IngestEvents: one multi-row statement
	// for the events of all the calls, instead of a statement per event).
	// Every write with a join is an IngestEvents call and rerunnable; when
	// a joined run fails, each write of it runs alone (fn) in its own
	// savepoint, so that one bad write fails alone.
	join func(ctx context.Context, tx *sql.Tx, ops []*writeOp) error
	// ingest is the IngestEvents call of a write with a join.
	ingest *ingestCall
	state  atomic.Int32 // opQueued, then opRunning or opCancelled
	done   chan error   // buffered: the committer never blocks on it
}

const (
	opQueued int32 = iota
	opRunning
	opCancelled
)

// committer is group commit for the one writer connection: every write runs
// on its goroutine, and writes that queue up while a transaction commits
// share the next one, each inside its own savepoint. A write that fails
// rolls back to its savepoint and leaves the others alone; a write's result
// is reported only once its transaction has committed. A commit writes
// every page the transaction dirtied to the WAL, a large share of a small
// write's cost; in a batch, pages several writes touch (the tails of tables
// and indexes) are written once. An idle store commits a lone write at once,
// without waiting to fill a batch.
//
// The writer runs with synchronous=NORMAL: in WAL mode a commit survives a
// crash of the process but may be lost with the machine (the WAL is synced
// at checkpoints). A durable write (IngestEvents, whose commit precedes a
// webhook's acknowledgement) switches its batch to synchronous=FULL, which
// syncs the WAL at commit; every write sharing the batch shares that one
// sync, so concurrent deliveries pay for one fsync per batch, not each.
type committer struct {
	writer  *sql.DB
	after   func() // called after each commit
	full    bool   // the writer's synchronous setting is FULL (run's goroutine only)
	ops     chan *writeOp
	stop    chan struct{} // closed by Close
	stopped chan struct{} // closed when run returns
}

func newCommitter(writer *sql.DB, after func()) *committer {
	c := &committer{
		writer:  writer,
		after:   after,
		ops:     make(chan *writeOp, maxBatch),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go c.run()
	return c
}

// close stops the committer after the batch it is running; queued writes
// fail with errClosed.
func (c *committer) close() {
	close(c.stop)
	<-c.stopped
}

// do runs fn in a writer transaction and returns once that transaction has
// committed (nil) or fn's or the commit's error. If ctx ends before fn
// starts, fn never runs and do returns ctx's error; once fn runs it is not
// interrupted, so that do never reports a failure for a write that commits.
func (c *committer) do(ctx context.Context, durable bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return c.doOp(ctx, &writeOp{fn: fn, durable: durable})
}

// doOp is do for a prepared op (see writeOp's flags).
func (c *committer) doOp(ctx context.Context, op *writeOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.done = make(chan error, 1)
	select {
	case c.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return errClosed
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opCancelled) {
			return ctx.Err()
		}
		return <-op.done
	case <-c.stopped:
		// Queued as Close stopped the committer: it ran in the last
		// batch, or never will.
		select {
		case err := <-op.done:
			return err
		default:
			return errClosed
		}
	}
}

// run takes the queued writes as a batch and commits it, and again. Under
// concurrent load (this batch or the last holds several writes) it first
// yields the processor, as long as that brings more writes: goroutines
// that are about to queue one (webhook deliveries between reading and
// committing) get to queue it and share this commit, instead of the next.
// A commit costs mostly per page it writes and per sync, so larger batches
// cost less per write (bench/ingest -compare, SQLite, three runs of 4
// rounds: 100.0 -> 85.8, 96.0 -> 88.8 and 100.9 -> 98.4 server cpu-µs per
// delivery, ack p99 lower each time; batches of ~14 became ~23). Unlike
// a timer, a yield costs nothing when no other goroutine is runnable: a
// lone writer commits at once.
func (c *committer) run() {
	defer close(c.stopped)
	batch := make([]*writeOp, 0, maxBatch)
	last := 0 // the size of the last batch
	for {
		select {
		case op := <-c.ops:
			batch = append(batch[:0], op)
		case <-c.stop:
			c.drain()
			return
		}
		c.fill(&batch)
		for len(batch) > 1 || last > 1 {
			n := len(batch)
			runtime.Gosched()
			if c.fill(&batch); len(batch) == n {
				break
			}
		}
		last = len(batch)
		c.commit(batch)
		clear(batch)
	}
}

// fill adds the queued writes to batch, up to maxBatch.
func (c *committer) fill(batch *[]*writeOp) {
	for len(*batch) < maxBatch {
		select {
		case op := <-c.ops:
			*batch = append(*batch, op)
		default:
			return
		}
	}
}

// drain fails the writes still queued at Close.
func (c *committer) drain() {
	for {
		select {
		case op := <-c.ops:
			op.done <- errClosed
		default:
			return
		}
	}
}

// commit runs a batch in one transaction. The statements run under a
// context that is never cancelled: a caller that gives up only withdraws a
// write that has not started.
func (c *committer) commit(batch []*writeOp) {
	ctx := context.Background()
	var ops []*writeOp
	for _, op := range batch {
		if op.state.CompareAndSwap(opQueued, opRunning) {
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return
	}
	errs := make([]error, len(ops))
	fail := func(err error) {
		for _, op := range ops {
			op.done <- err
		}
	}
	if err := c.setDurable(ctx, ops); err != nil {
		fail(err)
		return
	}

	tx, err := c.writer.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", translate(err)))
		return
	}
	units := group(ops)
	switch {
	case len(ops) == 1:
		// Alone: no savepoint needed, the transaction is the write's.
		if err := runOp(ctx, tx, ops[0]); err != nil {
			_ = tx.Rollback()
			fail(err)
			return
		}
	case allRerunnable(ops) && runPlain(ctx, tx, ops, units):
	default:
		if allRerunnable(ops) {
			// One of the plain run failed: start again, each write in
			// its savepoint.
			_ = tx.Rollback()
			if tx, err = c.writer.BeginTx(ctx, nil); err != nil {
				fail(fmt.Errorf("begin: %w", translate(err)))
				return
			}
			units = nil // the joined run may be what failed
		}
		if err := runSavepointed(ctx, tx, ops, units, errs); err != nil {
			_ = tx.Rollback()
			fail(err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", translate(err))
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	} else {
		c.after()
	}
	for i, op := range ops {
		op.done <- errs[i]
	}
}

// allRerunnable reports whether every write of a batch may run again.
func allRerunnable(ops []*writeOp) bool {
	for _, op := range ops {
		if !op.rerunnable {
			return false
		}
	}
	return true
}

// group lists the writes of a batch (indexes into ops) in the order they
// run: each alone, except the writes with a join, which run together where
// the first of them is.
func group(ops []*writeOp) [][]int {
	units := make([][]int, 0, len(ops))
	joined := -1
	for i, op := range ops {
		switch {
		case op.join == nil:
			units = append(units, []int{i})
		case joined < 0:
			joined = len(units)
			units = append(units, []int{i})
		default:
			units[joined] = append(units[joined], i)
		}
	}
	return units
}

// runPlain runs a batch of rerunnable writes without savepoints, which
// cost two statements and a sub-journal per write; false when one failed
// (the transaction must then be rolled back).
func runPlain(ctx context.Context, tx *sql.Tx, ops []*writeOp, units [][]int) bool {
	for _, u := range units {
		if err := runUnit(ctx, tx, ops, u); err != nil {
			return false
		}
	}
	return true
}

// runSavepointed runs each write of a batch in its own savepoint, so that
// one failing rolls back only itself; errs[i] is op i's error. A unit of
// several writes (units: see group; nil: each write alone) runs joined in
// one savepoint first; if that fails, each of its writes runs again alone.
// It returns an error that ends the whole transaction.
func runSavepointed(ctx context.Context, tx *sql.Tx, ops []*writeOp, units [][]int, errs []error) error {
	if units == nil {
		units = make([][]int, len(ops))
		for i := range ops {
			units[i] = []int{i}
		}
	}
	var rb *rollbackError
	for _, u := range units {
		if len(u) > 1 {
			err := savepointed(ctx, tx, func() error { return runUnit(ctx, tx, ops, u) })
			if err == nil {
				continue
			}
			if errors.As(err, &rb) {
				return err
			}
		}
		for _, i := range u {
			errs[i] = savepointed(ctx, tx, func() error { return runOp(ctx, tx, ops[i]) })
			if errors.As(errs[i], &rb) {
				return errs[i]
			}
		}
	}
	return nil
}

// rollbackError is a failure of a savepoint statement: it ends the whole
// transaction.
type rollbackError struct{ err error }

func (e *rollbackError) Error() string { return e.err.Error() }
func (e *rollbackError) Unwrap() error { return e.err }

// savepointed runs fn in a savepoint: fn's error after rolling fn's writes
// back, or a *rollbackError when the savepoint itself fails.
func savepointed(ctx context.Context, tx *sql.Tx, fn func() error) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
		return &rollbackError{fmt.Errorf("savepoint: %w", err)}
	}
	ferr := fn()
	if ferr != nil {
		// Some errors (I/O, a full disk) end the whole transaction;
		// then every write of the batch fails.
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO op`); err != nil {
			return &rollbackError{fmt.Errorf("%w (and rolling back: %v)", ferr, err)}
		}
	}
	if _, err := tx.ExecContext(ctx, `RELEASE op`); err != nil {
		return &rollbackError{fmt.Errorf("release savepoint: %w", err)}
	}
	return ferr
}

// runUnit runs a unit of group: one write's fn, or the join of several.
func runUnit(ctx context.Context, tx *sql.Tx, ops []*writeOp, u []int) error {
	if len(u) == 1 {
		return runOp(ctx, tx, ops[u[0]])
	}
	joined := make([]*writeOp, len(u))
	for k, i := range u {
		joined[k] = ops[i]
	}
	return runJoin(ctx, tx, joined)
}

// setDurable sets the writer's synchronous mode for a batch: FULL when a
// write of it is durable, NORMAL otherwise. The pragma is only issued when
// the mode changes, and takes effect at the batch's commit.
func (c *committer) setDurable(ctx context.Context, ops []*writeOp) error {
	durable := false
	for _, op := range ops {
		if op.durable {
			durable = true
			break
		}
	}
	if durable == c.full {
		return nil
	}
	mode := "NORMAL"
	if durable {
		mode = "FULL"
	}
	if _, err := c.writer.ExecContext(ctx, "PRAGMA synchronous = "+mode); err != nil {
		return fmt.Errorf("set synchronous %s: %w", mode, err)
	}
	c.full = durable
	return nil
}

// runOp runs one write's body, turning a panic into its error so that one
// bad write cannot stop every other.
func runOp(ctx context.Context, tx *sql.Tx, op *writeOp) (err error) {
	defer recoverWrite(&err)
	return op.fn(ctx, tx)
}

// runJoin runs writes with a join together, a panic turned into an error.
func runJoin(ctx context.Context, tx *sql.Tx, ops []*writeOp) (err error) {
	defer recoverWrite(&err)
	return ops[0].join(ctx, tx, ops)
}

func recoverWrite(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("sqlite store: panic in write: %v", r)
	}
}
