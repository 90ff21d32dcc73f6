package main

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/sim"
)

// TestAssignFaultsKeepsTheMixAndTheRules: the faults dealt out are the mix
// (scaled to the world), faultsPerStack per stack, at most maxPerDrift on
// one drift id of a stack, kinds marked once at most once per stack, and a
// fault that stays is its stack's last.
func TestAssignFaultsKeepsTheMixAndTheRules(t *testing.T) {
	t.Parallel()
	for _, n := range []int{defaultStacks, 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			stacks := make([]*benchStack, n)
			for i := range stacks {
				w := &sim.StackWorld{WorldStack: sim.WorldStack{ClientID: fmt.Sprintf("kpi-%03d", i), StackID: "web"}}
				if i%2 == 1 {
					w.Contentful = &sim.Contentful{}
				}
				stacks[i] = &benchStack{world: w}
			}
			kinds := faultKinds()
			require.NoError(t, assignFaults(rand.New(rand.NewPCG(4, 2026)), kinds, stacks))

			perKind := map[*faultKind]int{}
			for _, s := range stacks {
				require.Len(t, s.faults, faultsPerStack)
				perDrift := map[string]int{}
				seen := map[*faultKind]bool{}
				for i, f := range s.faults {
					require.Same(t, s, f.stack)
					perKind[f.kind]++
					id := driftIDOf(f.kind.code, f.kind.component(s))
					perDrift[id]++
					require.LessOrEqual(t, perDrift[id], maxPerDrift, "%s: faults on %s", s.world.ClientID, id)
					if f.kind.once || f.kind.last {
						require.False(t, seen[f.kind], "%s: %q twice", s.world.ClientID, f.kind.name)
					}
					seen[f.kind] = true
					if f.kind.last {
						require.Equal(t, len(s.faults)-1, i, "%s: %q is not the last fault", s.world.ClientID, f.kind.name)
					}
				}
			}
			total := 0
			for _, k := range kinds {
				// count is per 1,000 faults (200 stacks); smaller worlds
				// get their share, rounded down, and the rest in turn.
				share := k.count * n * faultsPerStack / 1000
				require.GreaterOrEqual(t, perKind[k], share, k.name)
				require.LessOrEqual(t, perKind[k], share+1, k.name)
				total += perKind[k]
			}
			require.Equal(t, n*faultsPerStack, total)
		})
	}
}

// TestFaultMixIsAThousand: the mix's counts are the 1,000 faults of the
// recorded runs.
func TestFaultMixIsAThousand(t *testing.T) {
	t.Parallel()
	sum := 0
	for _, k := range faultKinds() {
		sum += k.count
	}
	require.Equal(t, 1000, sum)
	require.Equal(t, 1000, defaultStacks*faultsPerStack)
}
