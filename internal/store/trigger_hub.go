package store

import (
	"context"
	"sync"
)

// TriggerHub fans triggers out to the listeners of one Store (in one
// process): the NotifyTriggers and ListenTriggers of a driver with no
// way to reach other processes. Its zero value is ready.
type TriggerHub struct {
	mu        sync.Mutex
	listeners map[*triggerQueue]struct{}
}

type notifiedTrigger struct{ key, trigger string }

// triggerQueue is one listener's unbounded queue: publishing never waits
// for a slow listener, and no trigger is dropped.
type triggerQueue struct {
	mu    sync.Mutex
	items []notifiedTrigger
	wake  chan struct{} // one buffered signal: items is not empty
}

func (h *TriggerHub) subscribe() *triggerQueue {
	q := &triggerQueue{wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.listeners == nil {
		h.listeners = make(map[*triggerQueue]struct{})
	}
	h.listeners[q] = struct{}{}
	return q
}

func (h *TriggerHub) unsubscribe(q *triggerQueue) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.listeners, q)
}

func (h *TriggerHub) Publish(keys []string, trigger string) {
	if len(keys) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for q := range h.listeners {
		q.mu.Lock()
		for _, k := range keys {
			q.items = append(q.items, notifiedTrigger{key: k, trigger: trigger})
		}
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// take empties the queue.
func (q *triggerQueue) take() []notifiedTrigger {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// Listen calls fn, on this goroutine, with an empty key and trigger once
// it listens (store.ListenStarted), then for every trigger published until
// ctx ends, and then returns nil.
func (h *TriggerHub) Listen(ctx context.Context, fn func(key, trigger string)) error {
	q := h.subscribe()
	defer h.unsubscribe(q)
	fn("", "") // listening (store.ListenStarted)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		}
		for _, t := range q.take() {
			if ctx.Err() != nil {
				return nil
			}
			fn(t.key, t.trigger)
		}
	}
}
