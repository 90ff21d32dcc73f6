package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// replicaRetention is how long an expired replica's row is kept (for
// ListLeases' readers to name who held what) before a heartbeat deletes it.
const replicaRetention = time.Hour

// Heartbeat records replica as alive until now+ttl, deletes replicas
// expired for longer than replicaRetention, and returns the replicas alive
// at now, sorted by ID.
func (s *Store) Heartbeat(ctx context.Context, replica string, now time.Time, ttl time.Duration) ([]store.Replica, error) {
	if err := store.CheckHeartbeat(replica, ttl); err != nil {
		return nil, err
	}
	var out []store.Replica
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = nil
		if _, err := tx.ExecContext(ctx, `INSERT INTO replicas (id, heartbeat, expires_at) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat, expires_at = excluded.expires_at`,
			replica, micros(now), micros(now.Add(ttl))); err != nil {
			return fmt.Errorf("write heartbeat: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE expires_at <= ?`, micros(now.Add(-replicaRetention))); err != nil {
			return fmt.Errorf("delete expired replicas: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, heartbeat, expires_at FROM replicas WHERE expires_at > ? ORDER BY id`, micros(now))
		if err != nil {
			return fmt.Errorf("list replicas: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				r         store.Replica
				hb, until int64
			)
			if err := rows.Scan(&r.ID, &hb, &until); err != nil {
				return fmt.Errorf("list replicas: %w", err)
			}
			r.Heartbeat, r.ExpiresAt = fromMicros(hb), fromMicros(until)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeat %s: %w", replica, err)
	}
	return out, nil
}

// LeaveReplica deletes replica's heartbeat.
func (s *Store) LeaveReplica(ctx context.Context, replica string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE id = ?`, replica)
		return err
	})
	if err != nil {
		return fmt.Errorf("leave replica %s: %w", replica, err)
	}
	return nil
}

// qClaimShard claims one shard: a new row at epoch 1, or the stored one if
// it is owner's, released (empty owner) or expired at now; its epoch stays
// only when owner renews its own live lease. A shard held by another
// replica is not updated, and returns no row. Every right-hand side reads
// the row as it was.
const qClaimShard = `INSERT INTO shard_leases (shard, owner, epoch, expires_at) VALUES (?1, ?2, 1, ?4)
ON CONFLICT (shard) DO UPDATE SET
	epoch = CASE WHEN shard_leases.owner = excluded.owner AND shard_leases.expires_at > ?3
		THEN shard_leases.epoch ELSE shard_leases.epoch + 1 END,
	owner = excluded.owner,
	expires_at = excluded.expires_at
WHERE shard_leases.owner = excluded.owner OR shard_leases.owner = '' OR shard_leases.expires_at <= ?3
RETURNING shard, owner, epoch, expires_at`

// ClaimShards claims each of shards that is free, released, expired at now
// or owner's, until now+ttl, in one transaction, and returns owner's leases
// among them, ordered by shard. The writer serialises claims, so two
// replicas never both hold a shard.
func (s *Store) ClaimShards(ctx context.Context, owner string, shards []int, now time.Time, ttl time.Duration) ([]store.Lease, error) {
	shards, err := store.CheckClaim(owner, shards, ttl)
	if err != nil {
		return nil, err
	}
	var out []store.Lease
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = out[:0]
		st, err := s.write(ctx, tx, qClaimShard)
		if err != nil {
			return err
		}
		for _, shard := range shards {
			var (
				l     store.Lease
				until int64
			)
			err := st.QueryRowContext(ctx, shard, owner, micros(now), micros(now.Add(ttl))).Scan(&l.Shard, &l.Owner, &l.Epoch, &until)
			if errors.Is(err, sql.ErrNoRows) {
				continue // another replica's
			}
			if err != nil {
				return fmt.Errorf("claim shard %d: %w", shard, err)
			}
			l.ExpiresAt = fromMicros(until)
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim shards for %s: %w", owner, err)
	}
	return out, nil
}

// ReleaseShards gives up owner's leases of shards: the owner becomes empty, the
// epoch stays (the next claim bumps it). Shards owner does not hold are
// left alone.
func (s *Store) ReleaseShards(ctx context.Context, owner string, shards []int) error {
	if len(shards) == 0 {
		return nil
	}
	ids, err := marshal(shards)
	if err != nil {
		return fmt.Errorf("release shards of %s: %w", owner, err)
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE shard_leases SET owner = ''
WHERE owner = ? AND shard IN (SELECT value FROM json_each(?))`, owner, ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("release shards of %s: %w", owner, err)
	}
	return nil
}

// ListLeases returns every lease row, ordered by shard.
func (s *Store) ListLeases(ctx context.Context) ([]store.Lease, error) {
	st, err := s.read(ctx, `SELECT shard, owner, epoch, expires_at FROM shard_leases ORDER BY shard`)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	defer rows.Close()
	var out []store.Lease
	for rows.Next() {
		var (
			l     store.Lease
			until int64
		)
		if err := rows.Scan(&l.Shard, &l.Owner, &l.Epoch, &until); err != nil {
			return nil, fmt.Errorf("list leases: %w", err)
		}
		l.ExpiresAt = fromMicros(until)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}

// checkFence is CommitPass's fencing check, first in its transaction: the
// writer lock is held from here to the commit, so no claim can change the
// lease in between. A nil fence passes.
func (s *Store) checkFence(ctx context.Context, tx *sql.Tx, f *store.Fence, at time.Time) error {
	if f == nil {
		return nil
	}
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM shard_leases WHERE shard = ? AND owner = ? AND epoch = ? AND expires_at > ?`,
		f.Shard, f.Owner, f.Epoch, micros(at)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w (shard %d, owner %s, epoch %d)", store.ErrFenced, f.Shard, f.Owner, f.Epoch)
	case err != nil:
		return fmt.Errorf("check fence: %w", err)
	}
	return nil
}

// NotifyTriggers hands the triggers to every ListenTriggers of this Store:
// one process per SQLite file is the supported setup, so there is no other
// replica to reach. It never blocks on a listener.
func (s *Store) NotifyTriggers(ctx context.Context, keys []string, trigger string) error {
	s.triggers.Publish(keys, trigger)
	return nil
}

// ListenTriggers calls fn, on this goroutine, for every trigger notified on
// this Store until ctx ends, and then returns nil.
func (s *Store) ListenTriggers(ctx context.Context, fn func(key, trigger string)) error {
	return s.triggers.Listen(ctx, fn)
}
