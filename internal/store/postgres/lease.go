package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/store"
)

// replicaRetention is how long an expired replica's row is kept (for
// readers of the replicas table to name who held what) before a heartbeat
// deletes it.
const replicaRetention = time.Hour

// Heartbeat records replica as alive until now+ttl, deletes replicas
// expired for longer than replicaRetention, and returns the replicas alive
// at now, sorted by ID. One transaction, one round trip.
func (s *Store) Heartbeat(ctx context.Context, replica string, now time.Time, ttl time.Duration) ([]store.Replica, error) {
	if err := store.CheckHeartbeat(replica, ttl); err != nil {
		return nil, err
	}
	var out []store.Replica
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		out = nil
		b := t.batch()
		b.Queue(`INSERT INTO replicas (id, heartbeat, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat, expires_at = excluded.expires_at`,
			replica, ts(now), ts(now.Add(ttl)))
		b.Queue(`DELETE FROM replicas WHERE expires_at <= $1`, ts(now.Add(-replicaRetention)))
		b.Queue(`SELECT id, heartbeat, expires_at FROM replicas WHERE expires_at > $1 ORDER BY id`, ts(now)).Query(func(rows pgx.Rows) error {
			var err error
			out, err = collectRows(rows, func(row pgx.CollectableRow) (store.Replica, error) {
				var r store.Replica
				err := row.Scan(&r.ID, &r.Heartbeat, &r.ExpiresAt)
				r.Heartbeat, r.ExpiresAt = utc(r.Heartbeat), utc(r.ExpiresAt)
				return r, err
			})
			return err
		})
		return t.commit(ctx, b)
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeat %s: %w", replica, err)
	}
	return out, nil
}

// LeaveReplica deletes replica's heartbeat.
func (s *Store) LeaveReplica(ctx context.Context, replica string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM replicas WHERE id = $1`, replica); err != nil {
		return fmt.Errorf("leave replica %s: %w", replica, err)
	}
	return nil
}

// qClaimShards claims shards ($1, sorted, without duplicates) for $2 until
// $4 in one statement: a new row at epoch 1, or the stored one if it is
// $2's, released (empty owner) or expired at $3; its epoch stays only when
// $2 renews its own live lease. A row held by another replica is not
// updated and not returned.
//
// Concurrent claimers are safe under READ COMMITTED: an insert that meets
// a row another transaction is inserting or updating waits for it, then
// evaluates the WHERE against the row as committed, so a shard is taken
// by one claimer only. Rows are locked in shard order, the same in every
// claim, so claimers do not deadlock.
const qClaimShards = `INSERT INTO shard_leases (shard, owner, epoch, expires_at)
SELECT sh, $2, 1, $4 FROM unnest($1::bigint[]) AS sh ORDER BY sh
ON CONFLICT (shard) DO UPDATE SET
	epoch = CASE WHEN shard_leases.owner = excluded.owner AND shard_leases.expires_at > $3
		THEN shard_leases.epoch ELSE shard_leases.epoch + 1 END,
	owner = excluded.owner,
	expires_at = excluded.expires_at
WHERE shard_leases.owner = excluded.owner OR shard_leases.owner = '' OR shard_leases.expires_at <= $3
RETURNING shard, owner, epoch, expires_at`

// qRenewShards extends owner's ($2) live leases (at $3) among shards ($1)
// until $4, leaving the epoch alone. It sets no key column (the epoch is
// one: the unique index shard_leases_epoch), so it takes FOR NO KEY UPDATE
// locks, which do not wait for the FOR KEY SHARE locks of passes
// committing under these leases (queueFences): a renewal does not queue
// behind the commits in flight, which under load made renewals later than
// the lease's margin. A takeover changes the epoch, takes FOR UPDATE, and
// still waits for them. Rows are locked in shard order, as qClaimShards
// locks them.
const qRenewShards = `WITH mine AS (
	SELECT shard FROM shard_leases WHERE shard = ANY($1::bigint[]) AND owner = $2 AND expires_at > $3
	ORDER BY shard FOR NO KEY UPDATE)
UPDATE shard_leases l SET expires_at = $4 FROM mine WHERE l.shard = mine.shard
RETURNING l.shard, l.owner, l.epoch, l.expires_at`

// ClaimShards claims each of shards that is free, released, expired at now
// or owner's, until now+ttl, and returns owner's leases among them,
// ordered by shard. owner's live leases are renewed first (qRenewShards);
// the rest are claimed by qClaimShards.

func (s *Store) ClaimShards(ctx context.Context, owner string, shards []int, now time.Time, ttl time.Duration) ([]store.Lease, error) {
	shards, err := store.CheckClaim(owner, shards, ttl)
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(shards))
	for i, sh := range shards {
		ids[i] = int64(sh)
	}
	var out []store.Lease
	err = s.retry(ctx, func() error {
		out = nil
		rest := ids
		for _, q := range []string{qRenewShards, qClaimShards} {
			rows, err := s.pool.Query(ctx, q, rest, owner, ts(now), ts(now.Add(ttl)))
			if err != nil {
				return err
			}
			got, err := pgx.CollectRows(rows, scanLease)
			if firstClaimRace(err) {
				return fmt.Errorf("%w: %w", errRetry, err)
			}
			if err != nil {
				return err
			}
			out = append(out, got...)
			if rest = unclaimed(rest, got); len(rest) == 0 {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim shards for %s: %w", owner, err)
	}
	slices.SortFunc(out, func(a, b store.Lease) int { return a.Shard - b.Shard })
	return out, nil
}

// firstClaimRace reports whether err is qClaimShards meeting another
// claimer's first row of the same shard in shard_leases_epoch. ON CONFLICT
// arbitrates the primary key only; when the two rows reach the epoch index
// first, the loser fails there instead of taking the ON CONFLICT path. The
// winner's row is committed by then, so a second try updates it (or leaves
// it to its owner).
func firstClaimRace(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "shard_leases_epoch"
}

// unclaimed is ids without the shards of leases (a new slice).
func unclaimed(ids []int64, leases []store.Lease) []int64 {
	got := make(map[int64]bool, len(leases))
	for _, l := range leases {
		got[int64(l.Shard)] = true
	}
	var out []int64
	for _, id := range ids {
		if !got[id] {
			out = append(out, id)
		}
	}
	return out
}

func scanLease(row pgx.CollectableRow) (store.Lease, error) {
	var (
		l     store.Lease
		shard int64
	)
	if err := row.Scan(&shard, &l.Owner, &l.Epoch, &l.ExpiresAt); err != nil {
		return store.Lease{}, err
	}
	l.Shard, l.ExpiresAt = int(shard), utc(l.ExpiresAt)
	return l, nil
}

// ReleaseShards gives up owner's leases of shards: the owner becomes
// empty, the epoch stays (the next claim bumps it). Shards owner does not
// hold are left alone.
func (s *Store) ReleaseShards(ctx context.Context, owner string, shards []int) error {
	if len(shards) == 0 {
		return nil
	}
	ids := make([]int64, len(shards))
	for i, sh := range shards {
		ids[i] = int64(sh)
	}
	slices.Sort(ids)
	err := s.retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `UPDATE shard_leases SET owner = '' WHERE owner = $1 AND shard = ANY($2::bigint[])`, owner, ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("release shards of %s: %w", owner, err)
	}
	return nil
}

// ListLeases returns every lease row, ordered by shard.
func (s *Store) ListLeases(ctx context.Context) ([]store.Lease, error) {
	rows, err := s.pool.Query(ctx, `SELECT shard, owner, epoch, expires_at FROM shard_leases ORDER BY shard`)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanLease)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}

// Triggers travel as notifications on one channel per schema (channels
// are database-wide; installations in different schemas of one database
// must not hear each other). A payload is lines "trigger|client/stack",
// as many as fit in maxPayload bytes; PostgreSQL refuses 8000 or more.
const (
	channelPrefix = "blackwell_triggers"
	maxPayload    = 7999
	// maxIdentifier is PostgreSQL's longest identifier (NAMEDATALEN-1).
	maxIdentifier = 63
)

// triggerChannel holds the Store's schema, which names its notification
// channels, read the first time it is needed. Its zero value is ready.
type triggerChannel struct {
	mu     sync.Mutex
	schema string
}

// channel returns the notification channel of the Store's schema
// (current_schema(): the first schema of search_path that exists):
// blackwell_triggers/<schema>, or a hash of the schema's name if that is
// longer than an identifier may be.
func (s *Store) channel(ctx context.Context) (string, error) {
	schema, err := s.schemaName(ctx)
	if err != nil {
		return "", err
	}
	return channelName(channelPrefix, schema), nil
}

// schemaName is current_schema(), read once.
func (s *Store) schemaName(ctx context.Context) (string, error) {
	s.triggers.mu.Lock()
	defer s.triggers.mu.Unlock()
	if s.triggers.schema != "" {
		return s.triggers.schema, nil
	}
	var schema *string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", fmt.Errorf("read current schema: %w", err)
	}
	if schema == nil {
		return "", errors.New("read current schema: no schema of search_path exists")
	}
	s.triggers.schema = *schema
	return *schema, nil
}

// channelName is prefix/schema, or prefix/ and a hash of the schema's name
// if that is longer than an identifier may be.
func channelName(prefix, schema string) string {
	name := prefix + "/" + schema
	if len(name) > maxIdentifier {
		h := fnv.New64a()
		h.Write([]byte(schema))
		name = fmt.Sprintf("%s/%016x", prefix, h.Sum64())
	}
	return name
}

// NotifyTriggers notifies every replica listening on this schema, this one
// too: the keys with their trigger, in as few notifications as fit, sent
// in one transaction (one round trip). A key or trigger holding a newline,
// or a key holding '|', is refused.
func (s *Store) NotifyTriggers(ctx context.Context, keys []string, trigger string) error {
	if len(keys) == 0 {
		return nil
	}
	payloads, err := triggerPayloads(keys, trigger)
	if err != nil {
		return fmt.Errorf("notify triggers: %w", err)
	}
	channel, err := s.channel(ctx)
	if err != nil {
		return fmt.Errorf("notify triggers: %w", err)
	}
	b := &pgx.Batch{}
	for _, p := range payloads {
		b.Queue(`SELECT pg_notify($1, $2)`, channel, p)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("notify triggers: %w", err)
	}
	return nil
}

// triggerPayloads packs keys into payloads of lines "trigger|key", each
// payload at most maxPayload bytes.
func triggerPayloads(keys []string, trigger string) ([]string, error) {
	if strings.ContainsAny(trigger, "\n") {
		return nil, fmt.Errorf("trigger %q holds a newline", trigger)
	}
	var (
		out []string
		buf strings.Builder
	)
	for _, k := range keys {
		if strings.ContainsAny(k, "|\n") {
			return nil, fmt.Errorf("key %q holds '|' or a newline", k)
		}
		line := trigger + "|" + k
		if len(line) > maxPayload {
			return nil, fmt.Errorf("key %q is too long to notify", k)
		}
		if buf.Len() > 0 && buf.Len()+1+len(line) > maxPayload {
			out = append(out, buf.String())
			buf.Reset()
		}
		if buf.Len() > 0 {
			buf.WriteByte('\n')
		}
		buf.WriteString(line)
	}
	if buf.Len() > 0 {
		out = append(out, buf.String())
	}
	return out, nil
}

// parsePayload calls fn for each line of a payload. A key holds no '|', so
// the last one on a line ends the trigger. Lines without one are skipped.
func parsePayload(payload string, fn func(key, trigger string)) {
	for line := range strings.SplitSeq(payload, "\n") {
		i := strings.LastIndexByte(line, '|')
		if i < 0 {
			continue
		}
		fn(line[i+1:], line[:i])
	}
}

// Backoff between attempts to (re)connect the listener.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// ListenTriggers calls fn, on this goroutine, for every trigger notified on
// this schema until ctx ends, and then returns nil. It listens on a
// connection of its own, opened with the pool's settings but not counted in
// the pool (each replica holds one more connection than its pool). When
// the connection fails (the server restarted, the network dropped) it
// connects again with a backoff of up to listenBackoffMax; triggers
// notified while it is disconnected do not reach it (the schedule's passes
// cover them). It never returns early: a store unreachable at the start
// is waited for in the same way.
func (s *Store) ListenTriggers(ctx context.Context, fn func(key, trigger string)) error {
	backoff := listenBackoffMin
	for ctx.Err() == nil {
		// An error (the store unreachable, the connection lost) is not
		// reported: the outage it comes from is the store watch's to
		// report. ListenTriggers connects again after a pause.
		if channel, err := s.channel(ctx); err == nil {
			_ = s.listen(ctx, channel, func(p string) { parsePayload(p, fn) }, func() {
				backoff = listenBackoffMin
				fn("", "") // listening again (store.ListenStarted)
			})
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
	return nil
}

// listen opens a connection, listens on channel, calls listening once it
// does, and hands every notification's payload to fn until the connection
// fails or ctx ends.
func (s *Store) listen(ctx context.Context, channel string, fn func(payload string), listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == channel {
			fn(n.Payload)
		}
	}
}
