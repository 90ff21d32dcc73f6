package dynamodb

import (
	"sync"
)

// CallStat is the count of one operation's calls.
type CallStat struct {
	Calls int64 `json:"calls"`
}

type callCounter struct {
	mu sync.Mutex
	m  map[string]CallStat
}

func newCallCounter() *callCounter { return &callCounter{m: map[string]CallStat{}} }

func (c *callCounter) add(op string) {
	c.mu.Lock()
	st := c.m[op]
	st.Calls++
	c.m[op] = st
	c.mu.Unlock()
}

func (c *callCounter) snapshot() map[string]CallStat {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]CallStat, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}
