package postgres

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

// The inputs of concurrent passes are read together (group): one round
// trip of six statements for a whole batch of stacks, instead of four
// round trips and seven statements per stack. Each statement takes the
// batch's stacks as arrays, unnest(...) WITH ORDINALITY k, and answers
// rows tagged with k.i, the call's position in the batch (1-based).
// One flight, as for CommitPass (maxPassFlights).
const (
	maxLoadFlights = 1
	maxLoadBatch   = 64
)

// loadKey is one LoadPass call.
type loadKey struct {
	clientID, stackID string
	since             time.Time
}

const qLoadStates = `SELECT k.i, ` + stateColumns + `
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY k(c, s, i)
JOIN states ON client_id = k.c AND stack_id = k.s`

const qLoadDrifts = `SELECT k.i, ` + driftColumns + `
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY k(c, s, i)
JOIN drifts ON client_id = k.c AND stack_id = k.s AND resolved_at IS NULL
ORDER BY k.i, id`

const qLoadForecasts = `SELECT k.i, ` + forecastColumns + `
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY k(c, s, i)
JOIN forecasts ON client_id = k.c AND stack_id = k.s AND cleared_at IS NULL
ORDER BY k.i, raised_at, id`

// qLoadActivity and qLoadUnchecked are EventActivity's statements for one
// stack, run for each of the batch's stacks (LATERAL): its parameters
// ($1 client, $2 stack, $3 since) become k's columns.
var (
	qLoadActivity  = lateral(qActivity, "unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY k(c, s, since, i)") + ` ORDER BY 1, 2, 3, 4`
	qLoadUnchecked = lateral(qUnchecked, "unnest($1::text[], $2::text[]) WITH ORDINALITY k(c, s, i)")
)

// param is a statement parameter, $N (with its cast, if any).
var param = regexp.MustCompile(`\$([0-9]+)(::timestamptz)?`)

// lateral runs query once per row of from, its parameters $1..$3 replaced
// by k's columns; it panics (at start-up) on any other parameter.
func lateral(query, from string) string {
	columns := map[string]string{"1": "k.c", "2": "k.s", "3": "k.since"}
	q := param.ReplaceAllStringFunc(query, func(p string) string {
		col, ok := columns[param.FindStringSubmatch(p)[1]]
		if !ok {
			panic(fmt.Sprintf("postgres: parameter %s of %q has no column of k", p, query))
		}
		return col
	})
	return `SELECT k.i, l.* FROM ` + from + ` CROSS JOIN LATERAL (` + q + `) l`
}

// LoadPass reads the stack's state, open drifts, event activity and open
// forecasts, in one
// round trip shared with the passes that load at the same time.
func (s *Store) LoadPass(ctx context.Context, clientID, stackID string, since time.Time) (store.PassInput, error) {
	in, err := s.loadQ.do(ctx, loadKey{clientID, stackID, since})
	if err != nil {
		return store.PassInput{}, fmt.Errorf("load pass %s/%s: %w", clientID, stackID, err)
	}
	return in, nil
}

// loadPasses is the load group's run.
func (s *Store) loadPasses(ctx context.Context, batch []*call[loadKey, store.PassInput]) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	l := newLoadBatch(batch)
	b := &pgx.Batch{}
	// The mark first: every event visible in it is visible to the reads
	// that follow.
	b.Queue(qActivityMark).QueryRow(func(row pgx.Row) error { return row.Scan(&l.mark) })
	b.Queue(qLoadStates, l.clients, l.stacks).Query(l.readStates)
	b.Queue(qLoadDrifts, l.clients, l.stacks).Query(l.readDrifts)
	b.Queue(qLoadActivity, l.clients, l.stacks, l.since).Query(l.readActivity)
	b.Queue(qLoadUnchecked, l.clients, l.stacks).Query(l.readUnchecked)
	b.Queue(qLoadForecasts, l.clients, l.stacks).Query(l.readForecasts)
	l.finish(s.pool.SendBatch(ctx, b).Close())
}

// loadBatch is one run of the load group: its calls, their keys as the
// statements' array parameters, and what the answers said so far.
type loadBatch struct {
	calls           []*call[loadKey, store.PassInput]
	clients, stacks []string
	since           []time.Time
	found           []bool // the call's state was read
	mark            string
}

func newLoadBatch(batch []*call[loadKey, store.PassInput]) *loadBatch {
	n := len(batch)
	l := &loadBatch{calls: batch, found: make([]bool, n),
		clients: make([]string, n), stacks: make([]string, n), since: make([]time.Time, n)}
	for i, c := range batch {
		l.clients[i], l.stacks[i], l.since[i] = c.in.clientID, c.in.stackID, ts(c.in.since)
	}
	return l
}

// at returns the call at position i (1-based, as k.i counts).
func (l *loadBatch) at(i int64) (*call[loadKey, store.PassInput], error) {
	if i < 1 || int(i) > len(l.calls) {
		return nil, fmt.Errorf("row for call %d of %d", i, len(l.calls))
	}
	return l.calls[i-1], nil
}

func (l *loadBatch) readStates(rows pgx.Rows) error {
	var (
		i int64
		r stateRow
	)
	_, err := pgx.ForEachRow(rows, append([]any{&i}, r.dest()...), func() error {
		c, err := l.at(i)
		if err != nil {
			return err
		}
		if c.out.State, err = r.decode(); err != nil {
			return err
		}
		l.found[i-1] = true
		return nil
	})
	return err
}

func (l *loadBatch) readDrifts(rows pgx.Rows) error {
	for rows.Next() {
		var i int64
		d, err := scanDrift(prefixed{rows, &i})
		if err != nil {
			return err
		}
		c, err := l.at(i)
		if err != nil {
			return err
		}
		c.out.Drifts = append(c.out.Drifts, d)
	}
	return rows.Err()
}

func (l *loadBatch) readForecasts(rows pgx.Rows) error {
	for rows.Next() {
		var i int64
		f, err := scanForecast(prefixed{rows, &i})
		if err != nil {
			return err
		}
		c, err := l.at(i)
		if err != nil {
			return err
		}
		c.out.Forecasts = append(c.out.Forecasts, f)
	}
	return rows.Err()
}

func (l *loadBatch) readActivity(rows pgx.Rows) error {
	var (
		i int64
		a store.Activity
	)
	_, err := pgx.ForEachRow(rows, []any{&i, &a.ProviderName, &a.EventType, &a.ContentType, &a.Count, &a.Last}, func() error {
		c, err := l.at(i)
		if err != nil {
			return err
		}
		a.Last = utc(a.Last)
		c.out.Activity.Activity = append(c.out.Activity.Activity, a)
		return nil
	})
	return err
}

func (l *loadBatch) readUnchecked(rows pgx.Rows) error {
	var (
		i      int64
		count  int
		oldest *time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&i, &count, &oldest}, func() error {
		c, err := l.at(i)
		if err != nil {
			return err
		}
		c.out.Activity.Unchecked, c.out.Activity.OldestUnchecked = count, utcPtr(oldest)
		return nil
	})
	return err
}

// finish answers every call once the batch has run (err is its error).
func (l *loadBatch) finish(err error) {
	for i, c := range l.calls {
		switch {
		case err != nil:
			c.out, c.err = store.PassInput{}, translate(err)
		case !l.found[i]:
			c.out, c.err = store.PassInput{}, fmt.Errorf("get state: %w", store.ErrNotFound)
		case c.out.Activity.Unchecked > 0:
			c.out.Activity.Mark = store.EventMark(l.mark)
		}
	}
}

// prefixed scans a row whose first column is the call's position, then
// the columns sc expects.
type prefixed struct {
	rows pgx.Rows
	i    *int64
}

func (p prefixed) Scan(dest ...any) error { return p.rows.Scan(append([]any{p.i}, dest...)...) }
