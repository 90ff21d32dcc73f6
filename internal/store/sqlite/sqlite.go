// Package sqlite is the embedded store driver: one SQLite file in WAL mode,
// pure Go (modernc.org/sqlite), migrations embedded and applied at Open.
//
// A Store holds three kinds of connection to the file. One writer
// connection runs every write; its transactions begin IMMEDIATE (they take
// the write lock at BEGIN, so a read-then-write transaction never fails to
// upgrade), and writes that arrive while one commits share the next
// transaction, each in a savepoint (group commit, see committer). A pool of
// query_only reader connections serves reads: in WAL mode readers neither
// block the writer nor wait for it, so reads never queue behind writes. A
// last connection checkpoints the WAL in the background (see checkpointer).
// Several Stores, or processes, may open one file: busy_timeout serialises
// their writers.
//
// Times are stored as INTEGER unix microseconds in UTC (store.Truncate), JSON
// documents as TEXT, byte for byte. Statements are prepared once per pool
// and reused.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/blackwellio/blackwell/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is the SQLite driver of store.Store.
type Store struct {
	writer *sql.DB // one connection: every write, serialised
	reader *sql.DB // query_only connections
	wstmts *stmtCache
	rstmts *stmtCache
	writes *committer
	closed sync.Once
	ckpt   *checkpointer
	ckptDB *sql.DB // the checkpointer's connection
	now    func() time.Time

	triggers store.TriggerHub // NotifyTriggers to ListenTriggers (lease.go)
	stream   streamHub        // commits of stream events to WatchStream (stream.go)
	rollUp   rollUpQueries
}

// Option configures Open.
type Option func(*options)

type options struct {
	now     func() time.Time
	readers int
	log     *slog.Logger
}

// WithClock sets the clock that stamps CreatedAt, UpdatedAt and defaulted
// times (time.Now by default).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets where the store reports what it cannot return as an
// error: background WAL checkpoints that fail (discarded by default).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithReaders sets the size of the reader pool (default max(4, 2*GOMAXPROCS)).
func WithReaders(n int) Option { return func(o *options) { o.readers = n } }

// Open opens (creating if needed) the database at path and applies
// migrations. path ":memory:" is not supported; use a temp file.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{now: time.Now, readers: max(4, 2*runtime.GOMAXPROCS(0)), log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.readers < 1 {
		o.readers = 1
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open sqlite store: path %q: want a file path", path)
	}
	s, err := open(ctx, "file:"+escapePath(path), o)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return s, nil
}

func open(ctx context.Context, name string, o options) (_ *Store, err error) {
	var dbs []*sql.DB
	pool := func(dsn string, conns int) (*sql.DB, error) {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(conns)
		db.SetMaxIdleConns(conns)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
		dbs = append(dbs, db)
		return db, nil
	}
	s := &Store{now: o.now, rollUp: newRollUpQueries()}
	defer func() {
		if err != nil {
			if s.wstmts != nil {
				s.wstmts.close()
			}
			for _, db := range dbs {
				db.Close()
			}
		}
	}()

	// The writer sets the persistent journal mode before any reader opens.
	// Its automatic checkpoint is only a safety net (see checkpointer), set
	// high (16,000 pages, 64 MB) so that a burst of writes does not
	// checkpoint inside its commits before the background checkpointer
	// runs; the WAL is truncated to journal_size_limit when it restarts.
	// temp_store(memory) keeps savepoints' sub-journals (one per write of a
	// shared batch, see committer) in memory rather than in temp files.
	if s.writer, err = pool(name+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"+
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=wal_autocheckpoint(16000)&_pragma=temp_store(memory)"+
		"&_pragma=journal_size_limit(67108864)&_txlock=immediate", 1); err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	s.wstmts = newStmtCache(s.writer)
	for _, q := range writerQueries() {
		if _, err := s.wstmts.get(ctx, q); err != nil {
			return nil, err
		}
	}

	if s.reader, err = pool(name+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)", o.readers); err != nil {
		return nil, fmt.Errorf("readers: %w", err)
	}
	if err := s.reader.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("readers: %w", err)
	}
	s.rstmts = newStmtCache(s.reader)

	if s.ckptDB, err = pool(name+"?_pragma=busy_timeout(5000)", 1); err != nil {
		return nil, fmt.Errorf("checkpointer: %w", err)
	}
	s.ckpt = newCheckpointer(s.ckptDB, o.log)
	s.writes = newCommitter(s.writer, func() {
		s.ckpt.wrote()
		s.stream.committed()
	})
	return s, nil
}

// escapePath makes path safe inside a file: URI, where '?' starts the query,
// '#' the fragment and '%' an escape.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// Ping checks both pools reach the file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite writer: %w", err)
	}
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite readers: %w", err)
	}
	return nil
}

// Close waits for the write being committed, fails the queued ones, and
// closes the statements and the connections. Calling it again does nothing.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		s.writes.close()
		s.ckpt.close()
		s.rstmts.close()
		s.wstmts.close()
		err = errors.Join(s.ckptDB.Close(), s.reader.Close(), s.writer.Close())
	})
	return err
}

// stmtCache prepares each distinct query once per pool. database/sql keeps a
// prepared statement per connection and re-prepares on a new connection;
// Tx.StmtContext reuses the one prepared on the transaction's connection.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

func (c *stmtCache) lookup(query string) (*sql.Stmt, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st, ok := c.m[query]
	return st, ok
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.m[query]
	c.mu.RUnlock()
	if ok {
		return st, nil
	}
	// Prepared without the lock, which would make every reader wait for a
	// free connection; a statement prepared twice at once is closed again.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", firstLine(query), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i >= 0 {
		q = q[:i]
	}
	return q
}

// read returns the reader pool's prepared statement for query.
func (s *Store) read(ctx context.Context, query string) (*sql.Stmt, error) {
	return s.rstmts.get(ctx, query)
}

// write returns the writer's prepared statement for query, bound to tx.
// Statements of a transaction are closed with it. The writer's statements
// are prepared at Open (writerQueries): preparing one on the pool now would
// wait forever for the one connection, which tx holds. A query missing from
// that list is prepared for this transaction only.
func (s *Store) write(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, ok := s.wstmts.lookup(query)
	if !ok {
		st, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", firstLine(query), err)
		}
		return st, nil
	}
	return tx.StmtContext(ctx, st), nil
}

// inTx runs fn in a writer transaction (BEGIN IMMEDIATE), possibly shared
// with other writes (see committer), and returns nil once it has committed,
// or fn's error after rolling fn's writes back. fn gets the context its
// statements must use: it is not cancelled while fn runs.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.writes.do(ctx, false, fn)
}

// migrateTx runs fn in a transaction of its own, before the committer
// starts.
func (s *Store) migrateTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", translate(err))
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", translate(err))
	}
	return nil
}

// translate maps driver errors to the store's sentinels: no rows is
// ErrNotFound, a unique or primary key violation is ErrConflict. Other errors
// pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", store.ErrConflict, err)
		}
	}
	return err
}

// micros is how a time is stored: store.Truncate, as unix microseconds.
func micros(t time.Time) int64 { return store.Truncate(t).UnixMicro() }

// fromMicros reads a stored time back; it equals store.Truncate of what was
// written.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
