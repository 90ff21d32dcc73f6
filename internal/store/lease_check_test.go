package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckHeartbeat(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckHeartbeat("r1", time.Second))
	require.EqualError(t, CheckHeartbeat("", time.Second), `heartbeat "": want a replica id and a positive ttl (got 1s)`)
	require.EqualError(t, CheckHeartbeat("r1", -time.Second), `heartbeat "r1": want a replica id and a positive ttl (got -1s)`)
}

func TestCheckClaim(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		owner   string
		shards  []int
		ttl     time.Duration
		want    []int
		wantErr string
	}{
		{"sorted without duplicates", "r1", []int{5, 0, 63, 5, 1}, time.Second, []int{0, 1, 5, 63}, ""},
		{"none", "r1", nil, time.Second, nil, ""},
		{"no owner", "", []int{1}, time.Second, nil, `claim shards for "": want an owner and a positive ttl (got 1s)`},
		{"no ttl", "r1", []int{1}, 0, nil, `claim shards for "r1": want an owner and a positive ttl (got 0s)`},
		{"too high", "r1", []int{1, Shards}, time.Second, nil, fmt.Sprintf("claim shards for r1: shard %d is not in [0, %d)", Shards, Shards)},
		{"negative", "r1", []int{3, -1}, time.Second, nil, fmt.Sprintf("claim shards for r1: shard -1 is not in [0, %d)", Shards)},
	} {
		in := append([]int(nil), tc.shards...)
		got, err := CheckClaim(tc.owner, in, tc.ttl)
		require.Equal(t, tc.shards, in, "%s: the caller's slice is not changed", tc.name)
		if tc.wantErr != "" {
			require.EqualError(t, err, tc.wantErr, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
}
