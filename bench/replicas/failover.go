package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/store"
)

// runFailover runs three replicas on o.failoverStacks stacks and kills them
// in turn with SIGKILL, o.kills times: each time it measures from the kill
// to the first and to the last of the victim's stacks being reconciled by
// another replica, then restarts the victim and waits for it to take its
// shards back and pass their stacks.
func runFailover(ctx context.Context, o options) error {
	env, err := newBenchEnv(ctx, o)
	if err != nil {
		return err
	}
	defer env.close()
	target, sc, db, dir := env.target, env.schema, env.db, env.dir
	cfgPath := filepath.Join(dir, "stacks.yaml")
	f, err := os.Create(cfgPath)
	if err != nil {
		return err
	}
	keys, err := writeConfig(f, o.failoverStacks, o.perClient, target, o.interval)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d stacks (interval %s), %d kills, schema %s, serve %s\n", len(keys), o.interval, o.kills, sc.name, strings.Join(o.serveArgs, " "))

	reps := make([]*replica, 3)
	defer func() {
		for _, r := range reps {
			if r != nil {
				r.stop()
			}
		}
	}()
	n := 0
	start := func(i int, cfg string) error {
		n++
		r, err := startReplica(o, sc.url, cfg, dir, n, false)
		if err != nil {
			return err
		}
		reps[i] = r
		return r.waitReady(5 * time.Minute)
	}
	if err := start(0, cfgPath); err != nil {
		return err
	}
	for i := 1; i < 3; i++ {
		if err := start(i, ""); err != nil {
			return err
		}
	}
	// Settled: three owners and every stack reconciled.
	if err := poll.Wait(3*time.Minute, "three owners and every stack reconciled", func() bool {
		return ownersOf(ctx, db, reps) == 3 && countSince(ctx, db, time.Time{}) >= len(keys)
	}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)

	var firsts, lasts []time.Duration
	for k := range o.kills {
		i := k % len(reps)
		victim := reps[i]
		owners, err := shardOwners(ctx, db)
		if err != nil {
			return err
		}
		mark := ":" + strconv.Itoa(victim.pid()) + ":"
		shards := map[int]bool{}
		for s, owner := range owners {
			if strings.Contains(owner, mark) {
				shards[s] = true
			}
		}
		orphans := map[stackKey]bool{}
		for _, key := range keys {
			if shards[store.ShardOf(key.client, key.stack)] {
				orphans[key] = true
			}
		}
		if len(orphans) == 0 {
			return fmt.Errorf("kill %d: replica %d holds no stacks", k+1, victim.pid())
		}
		killed := time.Now()
		victim.kill()
		var first, last time.Duration
		if err := poll.Wait(90*time.Second, "the victim's stacks reconciled elsewhere", func() bool {
			done, err := firstPassesSince(ctx, db, killed)
			if err != nil {
				return false
			}
			seen := 0
			first, last = 0, 0
			for key := range orphans {
				t, ok := done[key]
				if !ok {
					continue
				}
				seen++
				d := t.Sub(killed)
				if first == 0 || d < first {
					first = d
				}
				last = max(last, d)
			}
			return seen == len(orphans)
		}); err != nil {
			return fmt.Errorf("kill %d: %w", k+1, err)
		}
		firsts, lasts = append(firsts, first), append(lasts, last)
		fmt.Printf("kill %2d: replica %d held %d shards, %d stacks: first reconciled elsewhere after %.2f s, last after %.2f s\n",
			k+1, victim.pid(), len(shards), len(orphans), secs(first), secs(last))

		// Restart it; it rebalances: wait until it holds shards again and
		// has passed their stacks.
		restarted := time.Now()
		if err := start(i, ""); err != nil {
			return err
		}
		r := reps[i]
		if err := poll.Wait(2*time.Minute, "the restarted replica's shards taken and passed", func() bool {
			if ownersOf(ctx, db, reps) != 3 {
				return false
			}
			owned, err := stacksOfReplica(ctx, db, r, keys)
			if err != nil || len(owned) == 0 {
				return false
			}
			done, err := firstPassesSince(ctx, db, restarted)
			if err != nil {
				return false
			}
			for key := range owned {
				if _, ok := done[key]; !ok {
					return false
				}
			}
			return true
		}); err != nil {
			return fmt.Errorf("kill %d: %w", k+1, err)
		}
		fmt.Printf("         restarted: shards back and passed after %.2f s\n", secs(time.Since(restarted)))
		time.Sleep(time.Second)
	}
	fmt.Printf("failover over %d kills: first orphaned stack reconciled p50 %.2f s, p99 %.2f s, max %.2f s; last p50 %.2f s, p99 %.2f s, max %.2f s\n",
		len(firsts), secs(quantile(firsts, 0.5)), secs(quantile(firsts, 0.99)), secs(quantile(firsts, 1)),
		secs(quantile(lasts, 0.5)), secs(quantile(lasts, 0.99)), secs(quantile(lasts, 1)))
	return nil
}

// ownersOf counts the replicas among reps that hold a live lease.
func ownersOf(ctx context.Context, db *pgxpool.Pool, reps []*replica) int {
	owners, err := shardOwners(ctx, db)
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range reps {
		mark := ":" + strconv.Itoa(r.pid()) + ":"
		for _, owner := range owners {
			if strings.Contains(owner, mark) {
				n++
				break
			}
		}
	}
	return n
}

// stacksOfReplica is the set of stacks in the shards r holds.
func stacksOfReplica(ctx context.Context, db *pgxpool.Pool, r *replica, keys []stackKey) (map[stackKey]bool, error) {
	owners, err := shardOwners(ctx, db)
	if err != nil {
		return nil, err
	}
	mark := ":" + strconv.Itoa(r.pid()) + ":"
	out := map[stackKey]bool{}
	for _, k := range keys {
		if strings.Contains(owners[store.ShardOf(k.client, k.stack)], mark) {
			out[k] = true
		}
	}
	return out, nil
}

// firstPassesSince maps each stack with a pass started after t to the
// completion of its first such pass.
func firstPassesSince(ctx context.Context, db *pgxpool.Pool, t time.Time) (map[stackKey]time.Time, error) {
	rows, err := db.Query(ctx, `SELECT client_id, stack_id, min(completed_at) FROM reconciliations WHERE started_at > $1 GROUP BY 1, 2`, t)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[stackKey]time.Time{}
	for rows.Next() {
		var k stackKey
		var done time.Time
		if err := rows.Scan(&k.client, &k.stack, &done); err != nil {
			return nil, err
		}
		out[k] = done
	}
	return out, rows.Err()
}
