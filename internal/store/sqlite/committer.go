package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
)

// errClosed is returned by writes after Close.
var errClosed = errors.New("sqlite store is closed")

// maxBatch bounds how many writes share one transaction.
const maxBatch = 128

// A writeOp is one write method's transaction body, queued for the committer.
type writeOp struct {
	fn    func(ctx context.Context, tx *sql.Tx) error
	state atomic.Int32 // opQueued, then opRunning or opCancelled
	done  chan error   // buffered: the committer never blocks on it
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
type committer struct {
	writer  *sql.DB
	after   func() // called after each commit
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
func (c *committer) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{fn: fn, done: make(chan error, 1)}
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

func (c *committer) run() {
	defer close(c.stopped)
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-c.ops:
			batch = append(batch[:0], op)
		case <-c.stop:
			c.drain()
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-c.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		c.commit(batch)
		clear(batch)
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

	tx, err := c.writer.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", translate(err)))
		return
	}
	if len(ops) == 1 {
		// Alone: no savepoint needed, the transaction is the write's.
		if err := runOp(ctx, tx, ops[0]); err != nil {
			_ = tx.Rollback()
			fail(err)
			return
		}
	} else {
		for i, op := range ops {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
				_ = tx.Rollback()
				fail(fmt.Errorf("savepoint: %w", err))
				return
			}
			errs[i] = runOp(ctx, tx, op)
			if errs[i] != nil {
				// Some errors (I/O, a full disk) end the whole
				// transaction; then every write of the batch fails.
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO op`); err != nil {
					_ = tx.Rollback()
					fail(fmt.Errorf("%w (and rolling back: %v)", errs[i], err))
					return
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE op`); err != nil {
				_ = tx.Rollback()
				fail(fmt.Errorf("release savepoint: %w", err))
				return
			}
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

// runOp runs one write's body, turning a panic into its error so that one
// bad write cannot stop every other.
func runOp(ctx context.Context, tx *sql.Tx, op *writeOp) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite store: panic in write: %v", r)
		}
	}()
	return op.fn(ctx, tx)
}
