package promote

import (
	"sync"
	"time"
)

// ttlCache keeps values by key for a time to live. Entries older than
// that are swept on a put, at most once per TTL, so a put costs the same
// however many keys the cache holds.
type ttlCache[V any] struct {
	mu    sync.Mutex
	m     map[string]ttlEntry[V]
	swept time.Time
}

type ttlEntry[V any] struct {
	v  V
	at time.Time
}

// get returns key's value if it was put less than ttl before now.
func (c *ttlCache[V]) get(key string, now time.Time, ttl time.Duration) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) >= ttl {
		var zero V
		return zero, false
	}
	return e.v, true
}

// last returns key's value however old (false if none).
func (c *ttlCache[V]) last(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e.v, ok
}

// put stores key's value as of now, sweeping out entries older than ttl
// when the last sweep was ttl ago or more.
func (c *ttlCache[V]) put(key string, v V, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]ttlEntry[V]{}
	}
	if now.Sub(c.swept) >= ttl {
		for k, e := range c.m {
			if now.Sub(e.at) >= ttl {
				delete(c.m, k) // not asked about lately
			}
		}
		c.swept = now
	}
	c.m[key] = ttlEntry[V]{v: v, at: now}
}

// delete forgets key.
func (c *ttlCache[V]) delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

func (c *ttlCache[V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// len is how many entries the cache holds, swept or not.
func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
