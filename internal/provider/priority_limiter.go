package provider

import (
	"context"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// priorityLimiter is a token bucket (rate.Limiter) whose waiters are served
// in two queues: every waiting write (a heal) is served before any waiting
// read (an observation), each queue in arrival order. Only the waiter at
// the head takes tokens, so a write that arrives while reads wait is next.
type priorityLimiter struct {
	lim *rate.Limiter

	mu      sync.Mutex
	writes  []*limitWaiter
	reads   []*limitWaiter
	changed chan struct{} // closed and replaced when the queues change
}

// limitWaiter is one caller in a queue (not zero-sized: pointers to
// zero-sized values may compare equal).
type limitWaiter struct{ _ byte }

func newPriorityLimiter(r rate.Limit, burst int) *priorityLimiter {
	return &priorityLimiter{lim: rate.NewLimiter(r, burst), changed: make(chan struct{})}
}

// Wait blocks until a token is granted to this caller, or ctx ends.
func (p *priorityLimiter) Wait(ctx context.Context, write bool) error {
	w := &limitWaiter{}
	p.mu.Lock()
	if write {
		p.writes = append(p.writes, w)
	} else {
		p.reads = append(p.reads, w)
	}
	p.notifyLocked()
	p.mu.Unlock()
	defer p.leave(w)

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		p.mu.Lock()
		var wake <-chan time.Time
		if p.headLocked() == w {
			now := time.Now()
			if p.lim.AllowN(now, 1) {
				p.mu.Unlock()
				return nil
			}
			d := time.Second
			if l := p.lim.Limit(); l > 0 {
				missing := 1 - p.lim.TokensAt(now)
				d = max(time.Millisecond, time.Duration(missing/float64(l)*float64(time.Second)))
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			wake = timer.C
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-wake:
		}
	}
}

// waiting is how many callers wait (for tests).
func (p *priorityLimiter) waiting() (writes, reads int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.writes), len(p.reads)
}

func (p *priorityLimiter) headLocked() *limitWaiter {
	if len(p.writes) > 0 {
		return p.writes[0]
	}
	if len(p.reads) > 0 {
		return p.reads[0]
	}
	return nil
}

func (p *priorityLimiter) leave(w *limitWaiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	del := func(q []*limitWaiter) []*limitWaiter {
		return slices.DeleteFunc(q, func(x *limitWaiter) bool { return x == w })
	}
	p.writes, p.reads = del(p.writes), del(p.reads)
	p.notifyLocked()
}

func (p *priorityLimiter) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}
