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
	cfgPath := filepath.Join(env.dir, "stacks.yaml")
	keys, err := writeConfigFile(cfgPath, o.failoverStacks, o.perClient, env.target, o.interval)
	if err != nil {
		return err
	}
	fmt.Printf("%d stacks (interval %s), %d kills, schema %s, serve %s\n", len(keys), o.interval, o.kills, env.schema.name, strings.Join(o.serveArgs, " "))

	f := &failover{o: o, env: env, keys: keys, reps: make([]*replica, 3)}
	defer f.stop()
	if err := f.settle(ctx, cfgPath); err != nil {
		return err
	}
	var firsts, lasts []time.Duration
	for k := range o.kills {
		i := k % len(f.reps)
		first, last, err := f.kill(ctx, k)
		if err != nil {
			return fmt.Errorf("kill %d: %w", k+1, err)
		}
		firsts, lasts = append(firsts, first), append(lasts, last)
		if err := f.restart(ctx, i); err != nil {
			return fmt.Errorf("kill %d: %w", k+1, err)
		}
		time.Sleep(time.Second)
	}
	fmt.Printf("failover over %d kills: first orphaned stack reconciled p50 %.2f s, p99 %.2f s, max %.2f s; last p50 %.2f s, p99 %.2f s, max %.2f s\n",
		len(firsts), secs(quantile(firsts, 0.5)), secs(quantile(firsts, 0.99)), secs(quantile(firsts, 1)),
		secs(quantile(lasts, 0.5)), secs(quantile(lasts, 0.99)), secs(quantile(lasts, 1)))
	return nil
}

// writeConfigFile writes the config of stacks stacks to path.
func writeConfigFile(path string, stacks, perClient int, target string, interval time.Duration) ([]stackKey, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	keys, err := writeConfig(f, stacks, perClient, target, interval)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// failover is runFailover's replicas and stacks.
type failover struct {
	o       options
	env     *benchEnv
	keys    []stackKey
	reps    []*replica
	started int // replicas started, for their numbers
}

// start starts replica i (with the config at cfg, if any) and waits until
// it is ready.
func (f *failover) start(i int, cfg string) error {
	f.started++
	r, err := startReplica(f.o, f.env.schema.url, cfg, f.env.dir, f.started, false)
	if err != nil {
		return err
	}
	f.reps[i] = r
	return r.waitReady(5 * time.Minute)
}

func (f *failover) stop() {
	for _, r := range f.reps {
		if r != nil {
			r.stop()
		}
	}
}

// settle starts the three replicas, the first applying the config, and
// waits until they own the shards and every stack is reconciled.
func (f *failover) settle(ctx context.Context, cfgPath string) error {
	if err := f.start(0, cfgPath); err != nil {
		return err
	}
	for i := 1; i < len(f.reps); i++ {
		if err := f.start(i, ""); err != nil {
			return err
		}
	}
	if err := poll.Wait(3*time.Minute, "three owners and every stack reconciled", func() bool {
		return ownersOf(ctx, f.env.db, f.reps) == 3 && countSince(ctx, f.env.db, time.Time{}) >= len(f.keys)
	}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	return nil
}

// kill is kill k (from 0): it kills replica k mod 3 with SIGKILL and
// answers how long after it the first and the last of its stacks were
// reconciled by another replica.
func (f *failover) kill(ctx context.Context, k int) (first, last time.Duration, err error) {
	victim := f.reps[k%len(f.reps)]
	shards, orphans, err := f.stacksOf(ctx, victim)
	if err != nil {
		return 0, 0, err
	}
	if len(orphans) == 0 {
		return 0, 0, fmt.Errorf("replica %d holds no stacks", victim.pid())
	}
	killed := time.Now()
	victim.kill()
	if err := poll.Wait(90*time.Second, "the victim's stacks reconciled elsewhere", func() bool {
		done, err := firstPassesSince(ctx, f.env.db, killed)
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
		return 0, 0, err
	}
	fmt.Printf("kill %2d: replica %d held %d shards, %d stacks: first reconciled elsewhere after %.2f s, last after %.2f s\n",
		k+1, victim.pid(), len(shards), len(orphans), secs(first), secs(last))
	return first, last, nil
}

// stacksOf answers the shards r holds a lease on and their stacks.
func (f *failover) stacksOf(ctx context.Context, r *replica) (map[int]bool, map[stackKey]bool, error) {
	owners, err := shardOwners(ctx, f.env.db)
	if err != nil {
		return nil, nil, err
	}
	mark := ":" + strconv.Itoa(r.pid()) + ":"
	shards := map[int]bool{}
	for s, owner := range owners {
		if strings.Contains(owner, mark) {
			shards[s] = true
		}
	}
	stacks := map[stackKey]bool{}
	for _, key := range f.keys {
		if shards[store.ShardOf(key.client, key.stack)] {
			stacks[key] = true
		}
	}
	return shards, stacks, nil
}

// restart starts replica i again; it rebalances: restart waits until it
// holds shards again and has passed their stacks.
func (f *failover) restart(ctx context.Context, i int) error {
	restarted := time.Now()
	if err := f.start(i, ""); err != nil {
		return err
	}
	r := f.reps[i]
	if err := poll.Wait(2*time.Minute, "the restarted replica's shards taken and passed", func() bool {
		if ownersOf(ctx, f.env.db, f.reps) != 3 {
			return false
		}
		owned, err := stacksOfReplica(ctx, f.env.db, r, f.keys)
		if err != nil || len(owned) == 0 {
			return false
		}
		done, err := firstPassesSince(ctx, f.env.db, restarted)
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
		return err
	}
	fmt.Printf("         restarted: shards back and passed after %.2f s\n", secs(time.Since(restarted)))
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
