package ingest

import (
	"sync"
	"time"
)

// pacer bounds the passes events ask for: at most one trigger per stack per
// interval. The first event after a quiet interval triggers at once (a lone
// delivery is reconciled within milliseconds); events within the interval
// after a trigger are folded into one more trigger at its end, so a pass
// still follows every event. Under a flood of deliveries a stack is
// reconciled about once per interval instead of back to back, which keeps
// passes (each aggregating the stack's events) from taking the cores the
// deliveries need.
type pacer struct {
	every time.Duration
	now   func() time.Time
	fire  func(clientID, stackID string)

	mu     sync.Mutex
	stacks map[string]*pace
}

type pace struct {
	last    time.Time // when a trigger last fired
	pending bool      // a trigger is scheduled at last+every
}

func newPacer(every time.Duration, now func() time.Time, fire func(clientID, stackID string)) *pacer {
	return &pacer{every: every, now: now, fire: fire, stacks: map[string]*pace{}}
}

// trigger asks for a pass of the stack, now or at the end of its interval.
func (p *pacer) trigger(clientID, stackID string) {
	if p.every <= 0 {
		p.fire(clientID, stackID)
		return
	}
	key := clientID + "/" + stackID
	p.mu.Lock()
	s := p.stacks[key]
	if s == nil {
		s = &pace{}
		p.stacks[key] = s
	}
	if s.pending {
		p.mu.Unlock()
		return
	}
	now := p.now()
	if wait := s.last.Add(p.every).Sub(now); wait > 0 {
		s.pending = true
		p.mu.Unlock()
		time.AfterFunc(wait, func() {
			p.mu.Lock()
			s.pending = false
			s.last = p.now()
			p.mu.Unlock()
			p.fire(clientID, stackID)
		})
		return
	}
	s.last = now
	p.mu.Unlock()
	p.fire(clientID, stackID)
}
