package server

import (
	"github.com/blackwellio/blackwell/internal/bus"
)

// streamRing is how many recent events each replica's bus keeps for
// replay; older ones are read from the stream log.
const streamRing = 4096

// newEvents builds the event bus of /v1/stream and the tail that feeds it
// from the store's stream log. The reconcile pass, the heal runner and
// the notification feed write their events to the log in the
// transactions of what they report; every replica's tail reads the log,
// so a stream client sees every event whichever replica it is connected
// to, and resumes with Last-Event-ID on any of them. When the tail reads
// a pass or a heal (of any replica), the notification feed is kicked: if
// it leads, the drift entries of that pass reach the stream now, not at
// its next poll.
func (s *Server) newEvents() error {
	var err error
	if s.events, err = bus.New(bus.Options{Registerer: s.reg, Ring: streamRing, Source: s.store}); err != nil {
		return err
	}
	s.tail, err = bus.NewTail(s.events, bus.TailOptions{Store: s.store, Logger: s.log, Registerer: s.reg, OnEvents: func(events []bus.Event) {
		for _, e := range events {
			if e.Kind == bus.KindReconciliation || e.Kind == bus.KindHealFailed || e.Kind == bus.KindHealSucceeded {
				s.notify.Kick()
				return
			}
		}
	}})
	return err
}
