package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// txn is a READ COMMITTED transaction on one connection of the pool, driven
// by batches (pipelined statements, one round trip each): the first batch
// begins it and the last one commits it, so BEGIN and COMMIT cost no round
// trip of their own. A write is then as many round trips as it has steps
// that depend on what the database answered: CommitPass two, a plain write
// one.
//
// A statement that fails makes the server skip the rest of its batch (its
// COMMIT too) and leaves the transaction failed; inTx then rolls it back.
type txn struct {
	conn  *pgxpool.Conn
	begun bool // a batch has been sent, so BEGIN has run
	done  bool // COMMIT has been sent
}

// batch returns a new batch for t: the transaction's first one starts with
// BEGIN.
func (t *txn) batch() *pgx.Batch {
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue(`BEGIN`)
	}
	return b
}

// send sends b (made by t.batch) and reads all its results, running their
// callbacks; the first error stops it.
func (t *txn) send(ctx context.Context, b *pgx.Batch) error {
	t.begun = true
	return t.conn.SendBatch(ctx, b).Close()
}

// commit sends b (made by t.batch) with COMMIT at its end. Nothing may be
// sent after it.
func (t *txn) commit(ctx context.Context, b *pgx.Batch) error {
	b.Queue(`COMMIT`)
	t.done = true
	if err := t.send(ctx, b); err != nil {
		return err
	}
	// A COMMIT of a failed transaction answers ROLLBACK without an error;
	// it cannot be failed here (the failing statement's error stops send),
	// but the connection's state says for sure.
	if st := t.conn.Conn().PgConn().TxStatus(); st != 'I' {
		return fmt.Errorf("commit: transaction status %q after COMMIT", st)
	}
	return nil
}

// rollback ends the transaction, so the connection can answer queries
// outside it.
func (t *txn) rollback(ctx context.Context) error {
	t.done = true
	if !t.begun || t.conn.Conn().PgConn().TxStatus() == 'I' {
		return nil
	}
	if _, err := t.conn.Exec(ctx, `ROLLBACK`); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// maxAttempts bounds how often inTx and retry run a transaction that failed
// on a deadlock or serialisation failure.
const maxAttempts = 5

// errRetry is returned by a transaction body that found the database
// changed under it in a way that running again resolves (ApplyDesired: a
// stack created by a concurrent transaction).
var errRetry = errors.New("concurrent change, retry")

// retryable reports whether running the transaction again may succeed: the
// server rolled it back to break a deadlock or a serialisation conflict, or
// the body asked for it. A lost connection is not retried: a COMMIT in
// flight may have committed.
func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// retry runs fn, and again (up to maxAttempts) after a short random pause
// while it fails with a retryable error. fn must be a whole transaction:
// nothing of a failed attempt is left behind.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
		pause := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
}

// inTx runs fn in a transaction on a connection of the pool. fn sends
// batches made by t.batch and ends with t.commit; if it returns nil without
// committing, inTx commits what it sent. If fn fails, the transaction is rolled back; a
// deadlock or serialisation failure runs fn again in a new transaction, so
// fn must not keep state from one run to the next.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, t *txn) error) error {
	return s.retry(ctx, func() error {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		// A connection released inside a transaction is closed by the pool,
		// whatever happens below.
		defer conn.Release()
		t := &txn{conn: conn}
		err = fn(ctx, t)
		if err == nil && t.begun && !t.done {
			err = t.commit(ctx, t.batch())
		}
		if err != nil {
			if t.begun && conn.Conn().PgConn().TxStatus() != 'I' {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_, _ = conn.Exec(rctx, `ROLLBACK`)
			}
			return err
		}
		return nil
	})
}
