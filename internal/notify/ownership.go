package notify

import "github.com/blackwellio/blackwell/internal/store"

// channelShardNamespace stands where a client id stands in store.ShardOf,
// so that a channel's shard is a hash of its own name.
const channelShardNamespace = "notify"

// ChannelShard is the shard of a notification channel: with several
// replicas on one store, the replica that holds this shard's lease sends
// the channel's deliveries (FeedOptions.Sends).
//
// It is store.ShardOf("notify", name), the shard a stack named name of a
// client named "notify" would have. Such a collision means nothing more
// than that the replica reconciling that stack also sends that channel:
// the shard is only a way to give every channel exactly one replica, and
// the 256 shards spread the channels over the replicas as they spread the
// stacks.
//
// The unit of ownership is the channel, not the delivery, on purpose: one
// channel's deliveries stay in the order they were committed (a PagerDuty
// trigger before its resolve, detected before resolved), its retries,
// backoff and the receiver's Retry-After are honoured in one place, and a
// receiver sees one connection from one replica.
func ChannelShard(name string) int { return store.ShardOf(channelShardNamespace, name) }

// channelSender is an Outbox that knows which channels this process sends
// (StoreOutbox with FeedOptions.Sends). A dispatcher over one queues only
// those channels' deliveries, and its workers stop a channel this process
// no longer sends before their next attempt. An Outbox without it
// (MemoryOutbox) is this process's alone: every channel is sent here.
type channelSender interface {
	Sends(channel string) bool
}
