package server

import (
	"context"
	"errors"
)

// stopStack holds a stop function for each part of a server that has
// started; run calls them last first, so each part stops before what it
// depends on (the loop before the store it writes to).
type stopStack struct {
	fns []func(context.Context) error
}

// push records how to stop the part that has just started.
func (s *stopStack) push(stop func(context.Context) error) { s.fns = append(s.fns, stop) }

// run stops every part pushed, the last first, each once, and joins their
// errors.
func (s *stopStack) run(ctx context.Context) error {
	var errs []error
	for i := len(s.fns) - 1; i >= 0; i-- {
		if err := s.fns[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.fns = nil
	return errors.Join(errs...)
}

// stop runs the stop stack within the shutdown timeout.
func (s *Server) stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	return s.stops.run(ctx)
}
