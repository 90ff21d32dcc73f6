// Package postgres is the PostgreSQL store driver (jackc/pgx/v5), for
// installations that outgrow one machine: several replicas of blackwell
// share one database. It passes the same conformance suite (storetest) as
// the SQLite driver and means the same by every method, record and cursor.
//
// A Store is a pgxpool.Pool. Writes are plain READ COMMITTED transactions;
// PostgreSQL runs them concurrently, so there is no group commit here as in
// the SQLite driver. What SQLite gets from its single writer, this driver
// gets from row locks:
//
//   - optimistic concurrency: UPDATE ... WHERE revision = $n, which waits
//     for a concurrent writer of the same row and then finds the revision
//     changed (store.ErrConflict);
//   - the audit chain: every append first locks the one audit_head row, so
//     appends from every connection and process take turns and the chain
//     stays linear (see qReserveAudit);
//   - migrations: applied at Open under a transaction-scoped advisory lock,
//     so replicas starting at once apply them once (see migrate).
//
// A transaction is a few pipelined batches on one connection, the first
// beginning it and the last committing it (see txn). Statements that lock
// several rows lock them in key order; a deadlock or serialisation failure
// that happens anyway rolls the transaction back and runs it again.
//
// A commit waits for its WAL flush as the server's synchronous_commit says
// (on by default); concurrent commits share flushes, so write throughput
// grows with the pool. IngestEvents sets synchronous_commit on for its own
// transactions whatever the setting, as its contract requires: an operator
// may set synchronous_commit=off for the rest (in the URL, or on the role)
// and risk losing the last moments of passes, results and audit entries on
// a server crash, never an acknowledged webhook.
//
// Times are timestamptz written as store.Truncate of the Go time, JSON
// documents are text kept byte for byte, and identifiers sort bytewise
// (COLLATE "C"); migrations/0001_init.sql says why. One difference remains:
// text refuses invalid UTF-8 and NUL bytes, which SQLite stores, and
// json.Valid lets invalid UTF-8 through inside JSON strings. A write holding
// either fails whole, with PostgreSQL's error; outside input is to be
// checked before it reaches the store.
//
// # Connection settings
//
// Open takes a PostgreSQL URL, postgres://user:password@host:port/db?params
// (or postgresql://, or a key=value connection string). Besides libpq's
// parameters (sslmode, connect_timeout (here 10s unless set),
// application_name, ...) it reads:
//
//   - pool_max_conns (default max(4, number of CPUs)), pool_min_conns,
//     pool_max_conn_lifetime, pool_max_conn_idle_time,
//     pool_health_check_period: the connection pool (pgxpool);
//   - statement_timeout (for example 30s; default the server's): any other
//     parameter, like this one, search_path or lock_timeout, is set on every
//     connection as a run-time parameter.
//
// WithMaxConns and WithStatementTimeout override the URL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blackwellio/blackwell/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is the PostgreSQL driver of store.Store.
type Store struct {
	pool *pgxpool.Pool
	// streamPool reads the stream log (stream.go): connections of its
	// own, so that a replica's tail and the replays of stream clients
	// never wait for one behind the passes.
	streamPool *pgxpool.Pool
	now        func() time.Time

	triggers triggerChannel                             // NotifyTriggers and ListenTriggers (lease.go)
	ingestQ  group[*ingestOp, []bool]                   // group commit of IngestEvents (ingest_batch.go)
	loadQ    group[loadKey, store.PassInput]            // LoadPass of concurrent passes (load_pass.go)
	passQ    group[*passWrite, store.StateRecord]       // CommitPass of concurrent passes, and PutSnapshot (pass.go)
	compQ    group[stackKey, []store.ComplianceSegment] // RecordCompliance's first read (compliance.go)
	rollUp   rollUpQueries                              // the hourly roll-up's statements (pass_hours.go)
}

// defaultConnectTimeout bounds opening a connection when the URL sets no
// connect_timeout.
const defaultConnectTimeout = 10 * time.Second

// Option configures Open.
type Option func(*options)

type options struct {
	now              func() time.Time
	maxConns         int
	statementTimeout time.Duration
}

// WithClock sets the clock that stamps CreatedAt, UpdatedAt and defaulted
// times (time.Now by default). Times come from the replica, as in the
// SQLite driver, not from the database server's clock.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMaxConns sets the most connections the pool opens (the URL's
// pool_max_conns; by default max(4, number of CPUs)). Several replicas
// share the server's max_connections.
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithStatementTimeout sets statement_timeout on every connection: a
// statement running longer is cancelled by the server and fails. Zero
// leaves the URL's or the server's setting.
func WithStatementTimeout(d time.Duration) Option {
	return func(o *options) { o.statementTimeout = d }
}

// Open connects to the database at connString, checks it answers, and
// applies the pending migrations (see migrate). It fails if the database's
// schema is newer than this program's (ErrSchemaTooNew). Errors name the
// database without its password or parameters.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	name := Redact(connString)
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", name, parseError(err))
	}
	if o.maxConns > 0 {
		cfg.MaxConns = int32(min(o.maxConns, 1<<30))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Otherwise pgx waits as long as ctx allows: a host that drops
		// packets would hold each new connection for the kernel's TCP
		// timeout.
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		// The store's statements are short; JIT compiles a statement whose
		// estimate passes jit_above_cost on every execution. The stream
		// tail's read crossed it as the log grew (its one-row head is
		// estimated at a page's worth of rows): 5-100 ms of compilation a
		// read, most of PostgreSQL's CPU in some 100k-stack passes. A
		// connection string that sets jit keeps its own.
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if o.statementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(o.statementTimeout.Milliseconds(), 1), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", name, err)
	}
	streamCfg := cfg.Copy()
	streamCfg.MaxConns, streamCfg.MinConns = streamConns, 0
	streamPool, err := pgxpool.NewWithConfig(ctx, streamCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", name, err)
	}
	s := &Store{pool: pool, streamPool: streamPool, now: o.now, rollUp: newRollUpQueries()}
	s.ingestQ = s.newIngestGroup()
	s.loadQ = group[loadKey, store.PassInput]{maxFlights: maxLoadFlights, maxBatch: maxLoadBatch, run: s.loadPasses}
	s.passQ = group[*passWrite, store.StateRecord]{maxFlights: maxPassFlights, maxBatch: maxPassBatch, run: s.commitPasses}
	s.compQ = group[stackKey, []store.ComplianceSegment]{maxFlights: maxComplianceFlights, maxBatch: maxComplianceBatch, run: s.readOpenCompliance}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		streamPool.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", name, err)
	}
	return s, nil
}

// parseError keeps what went wrong in a connection string that did not
// parse, without the string itself: pgx redacts the password but keeps the
// rest, which may hold other secrets.
func parseError(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Error()
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		msg = msg[i+3:]
	}
	return errors.New("invalid connection string: " + msg)
}

// Redact returns a connection string fit for logs and errors: scheme, host
// and database of a URL, without user, password or parameters.
func Redact(connString string) string {
	u, err := url.Parse(connString)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Path == "") {
		return "(postgres connection string)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for the connections in use to be
// released. Calling it again does nothing.
func (s *Store) Close() error {
	s.pool.Close()
	s.streamPool.Close()
	return nil
}

// translate maps driver errors to the store's sentinels: no rows is
// store.ErrNotFound, a unique violation is store.ErrConflict. Other errors
// pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	return err
}

// ts is how a time is written: store.Truncate (UTC, microseconds).
func ts(t time.Time) time.Time { return store.Truncate(t) }

// tsPtr is ts of an optional time; nil is NULL.
func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// collectRows reads every row of rows with fn and closes rows
// (pgx.CollectRows), answering nil for none, as the SQLite driver does.
func collectRows[T any](rows pgx.Rows, fn pgx.RowToFunc[T]) ([]T, error) {
	return pgx.AppendRows([]T(nil), rows, fn)
}

// utc reads a stored time back: pgx returns timestamptz in time.Local; in
// UTC it equals store.Truncate of what was written.
func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// micros is a time in a cursor: unix microseconds, as the SQLite driver
// keeps it, so a cursor means the same in both drivers.
func micros(t time.Time) int64 { return store.Truncate(t).UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// params numbers the arguments of a query built from optional conditions.
type params struct {
	args  []any
	conds []string
}

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// where adds a condition written with placeholders from add.
func (p *params) where(cond string) { p.conds = append(p.conds, cond) }

func (p *params) clause() string {
	if len(p.conds) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(p.conds, ` AND `)
}
