package reconcile

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

func replicaIDs(n int, run int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("host-%d:%d:%08x", i, 1000+run, run*7919+i)
	}
	slices.Sort(ids)
	return ids
}

// TestAssignShardsIsBalancedAndMovesLittle: over many sets of replica ids,
// every shard has one owner, no replica holds more than its share, and a
// replica that joins or leaves moves few shards besides its own.
func TestAssignShardsIsBalancedAndMovesLittle(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 7} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) {
			share := (store.Shards + n - 1) / n
			worstExtra := 0
			for run := range 50 {
				ids := replicaIDs(n, run)
				owners := assignShards(ids)
				require.Equal(t, owners, assignShards(slices.Clone(ids)), "deterministic")
				load := map[string]int{}
				for s, o := range owners {
					require.Contains(t, ids, o, "shard %d", s)
					load[o]++
				}
				for _, id := range ids {
					require.LessOrEqual(t, load[id], share, "%s holds more than its share", id)
					require.GreaterOrEqual(t, load[id], store.Shards/n-n, "%s holds too little", id)
				}

				// One more replica: it takes about its share; the others'
				// shards otherwise mostly stay where they were.
				joined := append(slices.Clone(ids), "zz-new:1:1")
				after := assignShards(joined)
				moved, taken := 0, 0
				for s := range owners {
					switch {
					case after[s] == "zz-new:1:1":
						taken++
					case after[s] != owners[s]:
						moved++
					}
				}
				require.Positive(t, taken)
				worstExtra = max(worstExtra, moved)
			}
			// Plain rendezvous moves none besides the newcomer's; bounded
			// loads move a few more to keep every share.
			require.LessOrEqual(t, worstExtra, store.Shards/8, "shards moved between old replicas when one joined")
			t.Logf("%d replicas: at most %d shards moved between the old replicas when one joined", n, worstExtra)
		})
	}
}
