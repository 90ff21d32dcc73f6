package store

import (
	"fmt"
	"slices"
	"time"
)

// CheckHeartbeat validates the arguments of Heartbeat: a replica id and a
// positive ttl.
func CheckHeartbeat(replica string, ttl time.Duration) error {
	if replica == "" || ttl <= 0 {
		return fmt.Errorf("heartbeat %q: want a replica id and a positive ttl (got %s)", replica, ttl)
	}
	return nil
}

// CheckClaim validates the arguments of ClaimShards (an owner, a positive
// ttl, shards in [0, Shards)) and returns the shards sorted, without
// duplicates: the order in which a claim takes them.
func CheckClaim(owner string, shards []int, ttl time.Duration) ([]int, error) {
	if owner == "" || ttl <= 0 {
		return nil, fmt.Errorf("claim shards for %q: want an owner and a positive ttl (got %s)", owner, ttl)
	}
	shards = slices.Clone(shards)
	slices.Sort(shards)
	shards = slices.Compact(shards)
	for _, sh := range shards {
		if sh < 0 || sh >= Shards {
			return nil, fmt.Errorf("claim shards for %s: shard %d is not in [0, %d)", owner, sh, Shards)
		}
	}
	return shards, nil
}
