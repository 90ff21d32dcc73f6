package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// Kind is the type of a column as the stores exchange it, whatever each
// dialect stores: ExportRows gives and ImportRows takes a string for Text,
// an int64 for Int, a bool for Bool, a time.Time (UTC, microseconds) for
// Time, and nil for NULL in a nullable column.
type Kind int

// The column kinds.
const (
	KindText Kind = iota + 1
	KindInt
	KindBool
	KindTime
)

func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindInt:
		return "int"
	case KindBool:
		return "bool"
	case KindTime:
		return "time"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Column is one column of a Table.
type Column struct {
	Name string
	Kind Kind
	Null bool
}

// Table is a table as store copy moves it: the same name, columns and
// meaning in every driver (the migrations of both drivers keep them so).
type Table struct {
	Name    string
	Columns []Column
	// Order is the columns rows are read in, unique per row: insertion
	// order (seq) where the table has one, so identities are kept, else
	// the primary key.
	Order []string
}

// CopyTables is every table of the schema that holds facts, in the order
// store copy moves them. A migration that adds a table adds its entry here:
// "name", "order columns", "column kind [null], ...". Each driver's tests
// compare this list with the tables and columns its migrations create, so
// a table left out fails them. Left out on purpose: schema_migrations
// (each store has its own), driver bookkeeping that ImportRows rebuilds
// from the rows (PostgreSQL's audit_head and identity counters), and the
// stream log (stream, stream_head: live events of the last hours, not
// facts; the copy starts a log of its own).
func CopyTables() []Table {
	return []Table{
		table("states", "client_id, stack_id", `client_id text, stack_id text, environment text,
			desired_hash text, applied_hash text, state_version text, previous_versions text,
			desired text, resources text, last_applied time null, last_verified time null,
			created_at time, updated_at time, status text, drift_details text, last_error text,
			reconciliation_policy text, observability text, revision int, last_known text, shard int,
			hold text`),
		table("desired_versions", "seq", `seq int, client_id text, stack_id text, version text,
			hash text, document text, created_at time, created_by text`),
		table("policies", "client_id, stack_id", `client_id text, stack_id text, document text, updated_at time`),
		table("events", "seq", `seq int, event_id text, client_id text, stack_id text,
			provider_name text, event_type text, content_id text, content_type text,
			timestamp time, environment text, drift_checked bool, payload text null,
			received_at time, ttl_timestamp int`),
		table("content", "client_id, provider_name, source, content_id", `client_id text,
			provider_name text, source text, content_id text, content_type text,
			updated_at time, version int, deleted bool, event_id text, received_at time`),
		table("drifts", "client_id, stack_id, id", `client_id text, stack_id text, id text,
			code text, type text, component text, expected text, observed text, severity text,
			cause text, detected_at time, first_seen time, last_seen time, observations int,
			confirmed bool, acknowledged bool, acknowledged_by text, acknowledged_at time null,
			resolved_at time null, heal_status text`),
		table("reconciliations", "seq", `seq int, reconciliation_id text, client_id text,
			stack_id text, pass_trigger text, started_at time, completed_at time, status text,
			drift_detected bool, drift_count int, auto_heal_attempted bool,
			auto_heal_success_count int, errors text, state_version text`),
		// The hourly roll-up of results (migration 0013), copied as it is:
		// it equals the aggregate of the results copied with it.
		table("pass_hours", "client_id, hour, duration_class", `client_id text, hour time,
			duration_class int, passes int, failed int, partial int, clean int, drift_detected int`),
		table("audit", "seq", `seq int, timestamp time, action text, client_id text,
			stack_id text, triggered_by text, success bool, changes_made text null,
			approval_required bool, approver text, reconciliation_id text, drift_id text,
			prev_hash text, hash text`),
		table("audit_checkpoint", "one", `one bool, seq int, hash text, count int, created_at time,
			key_id text, signature text`),
		table("audit_heads", "seq, key_id", `seq int, key_id text, hash text, signed_at time, signature text`),
		table("tokens", "id", `id text, name text, role text, client_id text, secret_hash text,
			created_at time, created_by text, last_used_at time null, revoked_at time null`),
		table("heals", "id", `id text, drift_id text, client_id text, stack_id text, code text,
			component text, provider text, action text, attempt int, status text,
			reconciliation_id text, approval_id text, triggered_by text, drift_detail text null,
			not_before time, owner text, lease_until time null, claims int, created_at time,
			started_at time null, completed_at time null, verified_at time null, detail text,
			error text`),
		table("approvals", "id", `id text, client_id text, stack_id text, drift_id text, code text,
			component text, action text, approval_class text, diff text null, triggered_by text,
			reconciliation_id text, status text, created_at time, expires_at time,
			decided_at time null, decided_by text, reason text, heal_id text`),
		table("drift_returns", "seq", `seq int, client_id text, stack_id text, drift_id text,
			returned_at time`),
		// Forecasts of drift (migration 0016); confidence in basis points.
		table("forecasts", "id", `id text, client_id text, stack_id text, code text, component text,
			eta time, confidence int, class text, evidence text, raised_at time, cleared_at time null`),
		// The organisation's policy and the compliance timeline.
		table("organization_policy", "one", `one bool, name text, document text, updated_at time`),
		table("compliance", "seq", `seq int, client_id text, stack_id text, rule text, mode text, status text,
			message text, started_at time, ended_at time null`),
		// Pipelines and promotions of applications (migration 0019).
		table("pipelines", "client_id, app", `client_id text, app text, document text, updated_at time`),
		table("promotions", "id", `id text, client_id text, app text, to_stack text, status text,
			unfinished bool, created_at time, revision int, document text`),
		// Known-good snapshots and rollback records.
		table("snapshots", "id", `id text, client_id text, stack_id text, state_version text,
			desired_hash text, components text, reconciliation_id text, taken_at time, confirmed_at time`),
		table("rollbacks", "id", `id text, client_id text, stack_id text, snapshot_id text,
			restored_version text, new_version text, hold text, triggered_by text, status text,
			steps text, error text, started_at time, updated_at time`),
		table("subscriber_cursors", "name", `name text, seq int, updated_at time`),
		table("subscriber_states", "subscriber, key", `subscriber text, key text, doc text, updated_at time`),
		table("outbox", "seq", `seq int, id text, subscriber text, channel text, payload text, created_at time`),
		// Wrapped data keys: a copy of sealed rows needs them (and the
		// key-encryption keys, which are never in the store).
		table("data_keys", "id", `id text, kek_id text, wrapped text, created_at time`),
		table("notify_channel_sets", "subscriber", `subscriber text, hash text, names text, set_by text, set_at time`),
		// Runtime state of work distribution, copied so that epochs (fencing
		// tokens) keep increasing on the target.
		table("replicas", "id", `id text, heartbeat time, expires_at time`),
		table("shard_leases", "shard", `shard int, owner text, epoch int, expires_at time`),
	}
}

// table builds a Table from its spec; a malformed spec is a programming
// error caught by the tests of CopyTables.
func table(name, order, columns string) Table {
	t := Table{Name: name}
	for _, o := range strings.Split(order, ",") {
		t.Order = append(t.Order, strings.TrimSpace(o))
	}
	for _, c := range strings.Split(columns, ",") {
		f := strings.Fields(c)
		if len(f) < 2 || len(f) > 3 || (len(f) == 3 && f[2] != "null") {
			panic(fmt.Sprintf("store: table %s: bad column spec %q", name, c))
		}
		col := Column{Name: f[0], Null: len(f) == 3}
		switch f[1] {
		case "text":
			col.Kind = KindText
		case "int":
			col.Kind = KindInt
		case "bool":
			col.Kind = KindBool
		case "time":
			col.Kind = KindTime
		default:
			panic(fmt.Sprintf("store: table %s: unknown kind %q", name, f[1]))
		}
		t.Columns = append(t.Columns, col)
	}
	return t
}

// ColumnNames are the names of t's columns in order.
func (t Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// TableCopy is what Copy moved of one table.
type TableCopy struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	// Digest is an order-independent digest of the rows' values, equal in
	// source and target.
	Digest string `json:"digest"`
}

// CopyReport is what Copy did.
type CopyReport struct {
	// SchemaVersion is the version of the rows' schema (RowsSchemaVersion:
	// the SQL drivers' numbering, which the DynamoDB driver's rows follow).
	SchemaVersion int         `json:"schema_version"`
	Tables        []TableCopy `json:"tables"`
	Rows          int64       `json:"rows"`
}

// RowsVersioner is a store whose own schema versions do not number the
// tables store copy moves (the DynamoDB driver's are its own): it says
// which schema version of the SQL drivers its rows are, failing when its
// own schema is not the one this program knows.
type RowsVersioner interface {
	RowsSchemaVersion(ctx context.Context) (int, error)
}

// RowsSchemaVersion is the schema version of the rows s exports and
// imports: its SchemaVersion, or what a RowsVersioner says.
func RowsSchemaVersion(ctx context.Context, s Store) (int, error) {
	if rv, ok := s.(RowsVersioner); ok {
		return rv.RowsSchemaVersion(ctx)
	}
	return s.SchemaVersion(ctx)
}

// Copy moves every row of from into to, which must be empty (ErrNotEmpty
// otherwise) and whose rows are at the same schema version
// (RowsSchemaVersion), the report's SchemaVersion. The rows are read from one
// snapshot of from and written in one transaction of to; then to is read
// back and each table's row count and digest must equal what was read
// from from, or Copy fails. Rows written to from after its snapshot are not
// copied: stop writers first.
func Copy(ctx context.Context, from, to Store) (CopyReport, error) {
	frv, err := RowsSchemaVersion(ctx, from)
	if err != nil {
		return CopyReport{}, fmt.Errorf("source: %w", err)
	}
	trv, err := RowsSchemaVersion(ctx, to)
	if err != nil {
		return CopyReport{}, fmt.Errorf("target: %w", err)
	}
	if frv != trv {
		return CopyReport{}, fmt.Errorf("source schema version %d differs from target's %d", frv, trv)
	}
	tables := CopyTables()
	read := newTableDigests(tables)
	err = to.ImportRows(ctx, tables, func(emit func(Table, []any) error) error {
		return from.ExportRows(ctx, tables, func(t Table, row []any) error {
			if err := read.add(t, row); err != nil {
				return fmt.Errorf("source: %w", err)
			}
			return emit(t, row)
		})
	})
	if err != nil {
		return CopyReport{}, err
	}
	written := newTableDigests(tables)
	if err := to.ExportRows(ctx, tables, written.add); err != nil {
		return CopyReport{}, fmt.Errorf("read target back: %w", err)
	}
	rep := CopyReport{SchemaVersion: frv}
	var errs []error
	for _, t := range tables {
		r, w := read[t.Name], written[t.Name]
		switch {
		case r.rows != w.rows:
			errs = append(errs, fmt.Errorf("table %s: %d rows read, %d in the target", t.Name, r.rows, w.rows))
		case r.sum != w.sum:
			errs = append(errs, fmt.Errorf("table %s: the target's rows differ from the source's", t.Name))
		}
		rep.Tables = append(rep.Tables, TableCopy{Table: t.Name, Rows: r.rows, Digest: r.hex()})
		rep.Rows += r.rows
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("verify copy: %w", err)
	}
	return rep, nil
}

// Digest reads every row of s and returns each table's count and digest,
// as Copy compares them.
func Digest(ctx context.Context, s Store) ([]TableCopy, error) {
	tables := CopyTables()
	d := newTableDigests(tables)
	if err := s.ExportRows(ctx, tables, d.add); err != nil {
		return nil, err
	}
	out := make([]TableCopy, 0, len(tables))
	for _, t := range tables {
		out = append(out, TableCopy{Table: t.Name, Rows: d[t.Name].rows, Digest: d[t.Name].hex()})
	}
	return out, nil
}

// tableDigest counts a table's rows and sums their SHA-256 modulo 2^256: a
// digest of the set of rows that does not depend on the order they are
// read in (dialects may order text differently outside the keys).
type tableDigest struct {
	rows int64
	sum  [4]uint64
}

func (d *tableDigest) hex() string {
	var b [32]byte
	for i, w := range d.sum {
		binary.BigEndian.PutUint64(b[8*i:], w)
	}
	return hex.EncodeToString(b[:])
}

type tableDigests map[string]*tableDigest

func newTableDigests(tables []Table) tableDigests {
	m := tableDigests{}
	for _, t := range tables {
		m[t.Name] = &tableDigest{}
	}
	return m
}

// add checks a row against its table's columns and adds it to the digest.
func (m tableDigests) add(t Table, row []any) error {
	d, ok := m[t.Name]
	if !ok {
		return fmt.Errorf("table %s: not a copied table", t.Name)
	}
	b, err := EncodeRow(t, row)
	if err != nil {
		return err
	}
	h := sha256.Sum256(b)
	var carry uint64
	for i := 3; i >= 0; i-- {
		d.sum[i], carry = bits.Add64(d.sum[i], binary.BigEndian.Uint64(h[8*i:]), carry)
	}
	d.rows++
	return nil
}

// EncodeRow is the canonical bytes of a row of t: each value tagged with
// its kind, lengths prefixed. It fails when a value is not of its column's
// Kind, or nil in a column that is not nullable.
func EncodeRow(t Table, row []any) ([]byte, error) {
	if len(row) != len(t.Columns) {
		return nil, fmt.Errorf("table %s: row has %d values for %d columns", t.Name, len(row), len(t.Columns))
	}
	var b []byte
	for i, c := range t.Columns {
		v := row[i]
		if v == nil {
			if !c.Null {
				return nil, fmt.Errorf("table %s: column %s: NULL in a column that is not nullable", t.Name, c.Name)
			}
			b = append(b, 0)
			continue
		}
		ok := false
		switch c.Kind {
		case KindText:
			var s string
			if s, ok = v.(string); ok {
				b = append(b, 1)
				b = binary.AppendUvarint(b, uint64(len(s)))
				b = append(b, s...)
			}
		case KindInt:
			var n int64
			if n, ok = v.(int64); ok {
				b = append(b, 2)
				b = binary.AppendVarint(b, n)
			}
		case KindBool:
			var x bool
			if x, ok = v.(bool); ok {
				b = append(b, 3)
				if x {
					b = append(b, 1)
				} else {
					b = append(b, 0)
				}
			}
		case KindTime:
			var tm time.Time
			if tm, ok = v.(time.Time); ok {
				b = append(b, 4)
				b = binary.AppendVarint(b, Truncate(tm).UnixMicro())
			}
		}
		if !ok {
			return nil, fmt.Errorf("table %s: column %s: %T is not %s", t.Name, c.Name, v, c.Kind)
		}
	}
	return b, nil
}
