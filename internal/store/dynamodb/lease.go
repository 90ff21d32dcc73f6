package dynamodb

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// Shard leases are one partition ("LEASE", 256 items by padded shard);
// replica heartbeats another ("REPLICA", by id). A claim is a conditional
// write on the lease as read: two replicas never both take a shard, and
// the epoch moves whenever it changes hands. CommitPass checks its fence
// with a ConditionCheck on the lease inside the pass's transaction.

const claimRetries = 5

func leaseKey(shard int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("LEASE"), "sk": str(fmt.Sprintf("%03d", shard))}
}

func decodeLease(it map[string]types.AttributeValue) store.Lease {
	return store.Lease{Shard: int(getN(it, "shard")), Owner: getS(it, "owner"), Epoch: getN(it, "epoch"), ExpiresAt: micros(getN(it, "expires_at"))}
}

// Heartbeat records the replica alive until now+ttl and returns the live
// replicas by id.
func (s *Store) Heartbeat(ctx context.Context, replica string, now time.Time, ttl time.Duration) ([]store.Replica, error) {
	if err := store.CheckHeartbeat(replica, ttl); err != nil {
		return nil, err
	}
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table(tData)), Item: map[string]types.AttributeValue{
		"pk": str("REPLICA"), "sk": str(replica), "heartbeat": num(microsOf(now)), "expires_at": num(microsOf(now.Add(ttl)))}})
	if err != nil {
		return nil, fmt.Errorf("heartbeat %s: %w", replica, err)
	}
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), FilterExpression: aws.String("expires_at > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("REPLICA"), ":now": num(microsOf(now))}})
	if err != nil {
		return nil, fmt.Errorf("heartbeat %s: %w", replica, err)
	}
	out := make([]store.Replica, 0, len(items))
	for _, it := range items {
		out = append(out, store.Replica{ID: getS(it, "sk"), Heartbeat: micros(getN(it, "heartbeat")), ExpiresAt: micros(getN(it, "expires_at"))})
	}
	return out, nil
}

// LeaveReplica removes a replica's heartbeat.
func (s *Store) LeaveReplica(ctx context.Context, replica string) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table(tData)),
		Key: map[string]types.AttributeValue{"pk": str("REPLICA"), "sk": str(replica)}})
	if err != nil {
		return fmt.Errorf("leave %s: %w", replica, err)
	}
	return nil
}

// ListLeases returns every lease item, by shard.
func (s *Store) ListLeases(ctx context.Context) ([]store.Lease, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table(tData)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("LEASE")}})
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	out := make([]store.Lease, 0, len(items))
	for _, it := range items {
		out = append(out, decodeLease(it))
	}
	return out, nil
}

// ClaimShards claims each shard that is free, expired at now or owner's,
// until now+ttl, by a write conditional on the lease as read.
func (s *Store) ClaimShards(ctx context.Context, owner string, shards []int, now time.Time, ttl time.Duration) ([]store.Lease, error) {
	shards, err := store.CheckClaim(owner, shards, ttl)
	if err != nil {
		return nil, err
	}
	leases, err := s.ListLeases(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim shards for %s: %w", owner, err)
	}
	byShard := map[int]map[string]types.AttributeValue{}
	for _, l := range leases {
		byShard[l.Shard] = leaseAttrs(l)
	}
	var out []store.Lease
	for _, sh := range shards {
		l, ok, err := s.claim(ctx, owner, sh, byShard[sh], now, ttl)
		if err != nil {
			return nil, fmt.Errorf("claim shard %d for %s: %w", sh, owner, err)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out, nil
}

func leaseAttrs(l store.Lease) map[string]types.AttributeValue {
	it := leaseKey(l.Shard)
	it["shard"], it["epoch"], it["expires_at"] = num(int64(l.Shard)), num(l.Epoch), num(microsOf(l.ExpiresAt))
	if l.Owner != "" {
		it["owner"] = str(l.Owner)
	}
	return it
}

// claim takes one shard if it may, re-reading it when the write loses a
// race; false when it is another replica's.
func (s *Store) claim(ctx context.Context, owner string, shard int, cur map[string]types.AttributeValue, now time.Time, ttl time.Duration) (store.Lease, bool, error) {
	for range claimRetries {
		next := store.Lease{Shard: shard, Owner: owner, Epoch: 1, ExpiresAt: store.Truncate(now.Add(ttl))}
		var t txn
		if cur == nil {
			t.put(s.table(tData), leaseAttrs(next), "attribute_not_exists(pk)", nil)
		} else {
			old := decodeLease(cur)
			live := old.ExpiresAt.After(store.Truncate(now))
			if old.Owner != "" && old.Owner != owner && live {
				return store.Lease{}, false, nil
			}
			next.Epoch = old.Epoch + 1
			if old.Owner == owner && live {
				next.Epoch = old.Epoch
			}
			t.put(s.table(tData), leaseAttrs(next), "epoch = :e AND expires_at = :x",
				map[string]types.AttributeValue{":e": num(old.Epoch), ":x": num(microsOf(old.ExpiresAt))})
		}
		err := s.commit(ctx, "claim", &t)
		if conflictAt(err) < 0 {
			return next, err == nil, err
		}
		out, gerr := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table(tData)), Key: leaseKey(shard), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return store.Lease{}, false, gerr
		}
		cur = out.Item
	}
	return store.Lease{}, false, fmt.Errorf("%w: the lease moved %d times", store.ErrConflict, claimRetries)
}

// ReleaseShards gives up owner's leases of shards (the epoch stays).
func (s *Store) ReleaseShards(ctx context.Context, owner string, shards []int) error {
	shards = slices.Compact(slices.Sorted(slices.Values(shards)))
	for _, sh := range shards {
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table(tData)), Key: leaseKey(sh),
			UpdateExpression: aws.String("REMOVE #o"), ConditionExpression: aws.String("#o = :o"),
			ExpressionAttributeNames:  map[string]string{"#o": "owner"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(owner)}})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("release shard %d of %s: %w", sh, owner, err)
		}
	}
	return nil
}

// fenceCheck is the ConditionCheck of a pass's fence: the lease is the
// fence's and has not expired when the pass completes.
func (s *Store) fenceCheck(f *store.Fence, completed time.Time) *types.ConditionCheck {
	return &types.ConditionCheck{TableName: aws.String(s.table(tData)), Key: leaseKey(f.Shard),
		ConditionExpression:      aws.String("#o = :o AND epoch = :e AND expires_at > :at"),
		ExpressionAttributeNames: map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(f.Owner), ":e": num(f.Epoch),
			":at": num(microsOf(completed))}}
}

// NotifyTriggers hands the triggers to the ListenTriggers of this Store
// only: DynamoDB has no notifications, so other replicas pick the stacks
// up on their schedule.
func (s *Store) NotifyTriggers(ctx context.Context, keys []string, trigger string) error {
	s.triggers.Publish(keys, trigger)
	return nil
}

// ListenTriggers calls fn for every trigger notified on this Store until
// ctx ends.
func (s *Store) ListenTriggers(ctx context.Context, fn func(key, trigger string)) error {
	return s.triggers.Listen(ctx, fn)
}
