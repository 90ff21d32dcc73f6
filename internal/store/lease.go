package store

import (
	"context"
	"errors"
	"hash/fnv"
	"time"
)

// ErrFenced: a write carried a fencing token (a shard lease's owner and
// epoch) that is no longer the shard's current lease. Nothing was written.
var ErrFenced = errors.New("fenced: the shard lease is held by another replica")

// Shards is how many shards stacks are spread over for work distribution:
// each shard is leased by one replica at a time, and a replica reconciles
// the stacks of the shards it holds. With 64, three replicas' shares were
// measured as uneven as 25/28/47%; 256 keeps the largest share near a
// third.
const Shards = 256

// ShardOf is the shard of a stack.
func ShardOf(clientID, stackID string) int {
	h := fnv.New32a()
	h.Write([]byte(clientID))
	h.Write([]byte{0})
	h.Write([]byte(stackID))
	return int(h.Sum32() % Shards)
}

// Lease is a replica's claim on a shard. Epoch increases every time the
// shard changes hands (or is claimed after its lease lapsed): it is the
// fencing token that CommitPass checks.
type Lease struct {
	Shard     int       `json:"shard"`
	Owner     string    `json:"owner"`
	Epoch     int64     `json:"epoch"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Fence is the token a pass commits under: the shard's lease as the
// replica held it when the pass started.
type Fence struct {
	Shard int
	Owner string
	Epoch int64
}

// Replica is a live blackwell process taking part in work distribution.
type Replica struct {
	ID        string    `json:"id"`
	Heartbeat time.Time `json:"heartbeat"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Leases distributes shards over replicas. Times are the caller's clock;
// replicas are expected to have roughly synchronised clocks (NTP), and
// TTLs of seconds absorb the difference.
type Leases interface {
	// Heartbeat records the replica as alive until now+ttl and returns
	// every replica whose heartbeat has not expired at now, sorted by ID.
	Heartbeat(ctx context.Context, replica string, now time.Time, ttl time.Duration) ([]Replica, error)
	// LeaveReplica removes a replica's heartbeat (a clean shutdown).
	LeaveReplica(ctx context.Context, replica string) error
	// ClaimShards claims each of shards that is free, expired at now, or
	// already owner's, until now+ttl. A shard that changes hands (or was
	// expired) gets Epoch+1; renewing one's own live lease keeps the
	// epoch. It returns the leases owner holds afterwards among shards.
	ClaimShards(ctx context.Context, owner string, shards []int, now time.Time, ttl time.Duration) ([]Lease, error)
	// ReleaseShards gives up owner's leases of shards (the epoch stays,
	// the next claimer bumps it).
	ReleaseShards(ctx context.Context, owner string, shards []int) error
	// ListLeases returns every shard's lease row (expired ones too),
	// ordered by shard.
	ListLeases(ctx context.Context) ([]Lease, error)
	// NotifyTriggers asks the replicas that listen for the passes named by
	// keys ("client/stack"); trigger says why. A store with one process
	// (SQLite) may do nothing.
	NotifyTriggers(ctx context.Context, keys []string, trigger string) error
	// ListenTriggers calls fn for every trigger notified by any replica
	// (this one too) until ctx ends. It returns when ctx ends, or early
	// with an error when listening is not possible (then triggers only
	// reach the replica that made them). It first calls fn with an empty
	// key and trigger (ListenStarted) once it listens, and again after
	// each reconnection: triggers notified before were not heard.
	ListenTriggers(ctx context.Context, fn func(key, trigger string)) error
}

// ListenStarted reports whether a call of ListenTriggers' fn says that
// listening (re)started, rather than delivering a trigger.
func ListenStarted(key, trigger string) bool { return key == "" && trigger == "" }
