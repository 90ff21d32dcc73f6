package ingest

import (
	"errors"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/erase"
	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/store"
)

// delivery is one webhook delivery on its way through receive's steps:
// what the request said, then what each step found.
type delivery struct {
	r                 *http.Request
	provider          provider.Descriptor
	clientID, stackID string
	now               time.Time

	body    []byte  // read
	m       matched // bindings: secrets, settings, stacks, policy
	event   store.Event
	item    *store.ContentItem
	privacy *Privacy // a privacy request the delivery carries
}

// Privacy is a privacy request a delivery carries: what to erase (Erase)
// or to report (a data request). The gateway runs it after the delivery's
// event is committed.
type Privacy struct {
	Erase   bool
	Request erase.Request
}

// receive runs a delivery's steps in order: read it, take a slot, verify
// it against the bindings it names, normalise it, commit it, then run its
// privacy request and trigger the passes it asks for. Every step before
// the commit writes nothing.
func (g *Gateway) receive(w http.ResponseWriter, r *http.Request, name, clientID, stackID string, now time.Time) (Receipt, error) {
	p, ok := g.providers[name]
	if !ok {
		return Receipt{}, reject(http.StatusNotFound, "not_found", ResultUnknownProvider,
			"no webhook receiver for provider %q (%s)", clip(name), g.names)
	}
	d := &delivery{r: r, provider: p, clientID: clientID, stackID: stackID, now: now}
	if err := g.read(w, d); err != nil {
		return Receipt{}, err
	}
	if err := g.takeSlot(); err != nil {
		return Receipt{}, err
	}
	defer g.releaseSlot()
	if err := g.verify(d); err != nil {
		return Receipt{}, err
	}
	if err := g.normalize(d); err != nil {
		return Receipt{}, err
	}
	receipt, err := g.commit(d)
	if err != nil {
		return Receipt{}, err
	}
	if d.privacy != nil {
		// After the commit, on a duplicate too: a redelivery after a
		// failed erasure (answered 503) runs it again; a second run
		// finds what the first left.
		if err := g.runPrivacy(r.Context(), name, *d.privacy, &receipt); err != nil {
			return Receipt{}, err
		}
	}
	if receipt.Duplicate {
		return receipt, nil
	}
	if d.provider.Stale != nil && d.provider.Stale(r.Header, now) {
		g.m.stale.WithLabelValues(name).Inc()
		g.log.Debug("stale webhook delivery accepted", "provider", name, "client_id", clientID, "event_id", d.event.EventID)
	}
	receipt.Triggered = g.triggerPasses(d)
	return receipt, nil
}

// read checks the media type and reads the body, bounded in size and
// time, before the delivery takes a slot: a slow sender holds a
// connection, not one of the slots.
func (g *Gateway) read(w http.ResponseWriter, d *delivery) error {
	if err := checkMediaType(d.r.Header.Get("Content-Type")); err != nil {
		return err
	}
	body, err := g.readBody(w, d.r)
	if err != nil {
		return err
	}
	d.body = body
	return nil
}

// takeSlot takes one of the MaxInFlight slots (429 when none is free);
// releaseSlot gives it back.
func (g *Gateway) takeSlot() error {
	select {
	case g.slots <- struct{}{}:
	default:
		e := reject(http.StatusTooManyRequests, "overloaded", ResultOverloaded,
			"too many deliveries in flight (%d); retry later", cap(g.slots))
		e.Retry = retryAfter
		return e
	}
	g.m.inFlight.Inc()
	return nil
}

func (g *Gateway) releaseSlot() {
	<-g.slots
	g.m.inFlight.Dec()
}

// verify finds the bindings the delivery names and checks its signature
// with their secrets, then its unsigned headers against their settings.
// Every failure is unverified: answered alike.
func (g *Gateway) verify(d *delivery) error {
	m, err := g.match(d.r.Context(), d.provider.Name, d.clientID, d.stackID)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.result == ResultNotFound {
			// Spend what a verification costs, so that the time of the
			// answer does not tell an unknown client from a known one.
			_ = d.provider.Verify([]string{unknownSecret}, d.r, d.body, d.now)
		}
		return err
	}
	if len(m.secrets) == 0 {
		_ = d.provider.Verify([]string{unknownSecret}, d.r, d.body, d.now)
		return unverified(ResultBadSignature,
			"no webhook_secret is configured (or resolved) for %s of client %s", d.provider.Name, d.clientID)
	}
	if err := d.provider.Verify(m.secrets, d.r, d.body, d.now); err != nil {
		return verifyError(err)
	}
	if d.provider.Bound != nil {
		if err := d.provider.Bound(d.r.Header, m.settings); err != nil {
			return verifyError(err)
		}
	}
	d.m = m
	return nil
}

// normalize makes the event to store from a verified delivery, with its
// content-cache state and the privacy request it carries, keeping of the
// body what the stacks' policy allows (docs/DATA.md).
func (g *Gateway) normalize(d *delivery) error {
	h := d.r.Header
	ev, item, err := d.provider.Normalize(h, d.body, d.clientID, d.stackID, d.now)
	if errors.Is(err, webhook.ErrMismatch) {
		// A signed body under a header it was not signed for (a replay as
		// another topic): answered like a bad signature.
		return verifyError(err)
	}
	if err != nil {
		// The sender proved it holds the secret: it may know why.
		return reject(http.StatusBadRequest, "bad_request", ResultMalformed, "%s", err)
	}
	if d.provider.Privacy != nil {
		p, ok, err := d.provider.Privacy(h, d.body)
		if err != nil {
			return reject(http.StatusBadRequest, "bad_request", ResultMalformed, "%s", err)
		}
		if ok {
			d.privacy = privacyRequest(d.provider.Name, d.clientID, ev.EventID, p)
		}
	}
	ev.Environment = d.m.environment
	if d.provider.Minimize != nil {
		ev.Payload = d.provider.Minimize(h, d.body, d.m.payload)
	}
	ev.ReceivedAt = d.now
	retention := g.opts.Retention
	if d.m.retention > 0 {
		retention = d.m.retention // the client's events.retention
	}
	ev.TTLTimestamp = d.now.Add(retention).Unix()
	d.event, d.item = ev, item
	return nil
}

// privacyRequest is the erasure or data request of a provider's privacy
// delivery, about the client's data: the audit entry says the provider
// and topic asked, for the event that carried it.
func privacyRequest(name, clientID, eventID string, p provider.Privacy) *Privacy {
	req := erase.Request{ClientID: clientID, Shop: p.Shop, By: name + ":" + p.Topic,
		Reason: name + " " + p.Topic + " " + eventID}
	req.Subject.Values, req.Subject.IDs = p.Values, p.IDs
	return &Privacy{Erase: p.Erase, Request: req}
}

// commit stores the event and its content durably, deduplicated by its
// id: a duplicate writes nothing. A store failure is 503, so the
// provider retries.
func (g *Gateway) commit(d *delivery) (Receipt, error) {
	ctx := d.r.Context()
	inserted, err := g.opts.Store.IngestEvents(ctx, []store.IngestEvent{{Event: d.event, Content: d.item}})
	if err != nil {
		if ctx.Err() != nil {
			// The sender left; whether or not it committed, a retry is
			// deduplicated.
			return Receipt{}, reject(http.StatusServiceUnavailable, "unavailable", ResultStoreUnavailable, "request canceled")
		}
		g.log.Error("webhook commit failed", "provider", d.provider.Name, "client_id", d.clientID, "stack_id", d.stackID, "error", err)
		e := reject(http.StatusServiceUnavailable, "unavailable", ResultStoreUnavailable, "the event store is unavailable; retry later")
		e.Retry = retryAfter
		return Receipt{}, e
	}
	return Receipt{EventID: d.event.EventID, Duplicate: !inserted[0]}, nil
}

// triggerPasses asks for a pass of the stacks a new event concerns and
// returns them ("client/stack"). A stack-scoped event concerns its stack;
// a client-wide one (no stack) is observed by every stack of the client
// (EventActivity), so each gets a pass: that is how an event from a
// provider a stack does not declare becomes provider_changed within a
// pass.
func (g *Gateway) triggerPasses(d *delivery) []string {
	targets := d.m.stacks
	if d.stackID == "" {
		targets = d.m.all
	}
	var out []string
	for _, s := range targets {
		g.pacer.trigger(d.clientID, s)
		out = append(out, d.clientID+"/"+s)
	}
	return out
}
