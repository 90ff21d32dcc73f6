package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/drift"
)

// defaultStreamHeartbeat is how often an idle stream sends a comment line,
// well under the idle timeouts of common proxies (60 s and more).
const defaultStreamHeartbeat = 15 * time.Second

// streamRetry is the reconnection delay the stream advises (milliseconds).
const streamRetry = 2000

// stream answers GET /v1/stream: server-sent events from the bus, one per
// event ("id:" the event's seq in the store's stream log, the same on
// every replica; "event:" the kind; "data:" the bus event as JSON, its
// payload under "data"), filtered by ?client_id=, ?severity= (the least
// severity; events without one, such as reconciliation results, are then
// left out) and ?kind= (repeatable or comma-separated; "drift." selects
// every drift kind). A reconnecting client sends the id of the last event
// it saw as Last-Event-ID (or ?last_event_id=), to this replica or any
// other, and is first sent what it missed, from the bus's ring of recent
// events or the stream log; a comment ": gap" says events were lost in
// between (the log no longer keeps them, or the id is not one of its).
// Idle streams get a ": heartbeat" comment every few seconds. A client
// that falls behind is disconnected (it reconnects and catches up), and
// every stream ends when the server shuts down.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Events == nil {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the event stream is not enabled on this server")
	}
	f, err := streamFilter(r)
	if err != nil {
		return err
	}
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("last_event_id")
	}
	rc := http.NewResponseController(w)
	sub, err := s.opts.Events.Subscribe(r.Context(), bus.SubscribeOptions{Name: "stream", Filter: f, Disconnect: true, After: after, Buffer: 1024})
	if err != nil {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the event stream cannot read the store now; retry")
	}
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "retry: %d\n: connected\n\n", streamRetry)
	if err := flushTo(w, rc, &buf); err != nil {
		return nil // the client went away
	}
	err = sub.Replay(r.Context(), func(events []bus.Event, gap bool) error {
		if gap {
			buf.WriteString(": gap\n\n")
		}
		for _, e := range events {
			writeSSE(&buf, e)
		}
		return flushTo(w, rc, &buf)
	})
	if err != nil {
		// The client went away, or the log could not be read: it
		// reconnects with the last id it got.
		return nil
	}

	every := s.opts.StreamHeartbeat
	if every <= 0 {
		every = defaultStreamHeartbeat
	}
	beat := time.NewTicker(every)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-beat.C:
			buf.WriteString(": heartbeat\n\n")
		case e, ok := <-sub.C():
			if !ok {
				return nil // shutdown, or this client fell behind
			}
			writeSSE(&buf, e)
			drainInto(&buf, sub.C())
		}
		if err := flushTo(w, rc, &buf); err != nil {
			return nil
		}
	}
}

// streamFilter reads the stream's query filters.
func streamFilter(r *http.Request) (bus.Filter, error) {
	q := r.URL.Query()
	f := bus.Filter{ClientID: q.Get("client_id")}
	if sev := q.Get("severity"); sev != "" {
		f.MinSeverity = drift.Severity(sev)
		if !f.MinSeverity.Valid() {
			return f, invalid("severity must be low, medium, high or critical, not %q", sev)
		}
	}
	for _, v := range q["kind"] {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				if !knownKind(k) {
					return f, invalid("unknown event kind %q", k)
				}
				f.Kinds = append(f.Kinds, k)
			}
		}
	}
	return f, nil
}

// knownKind accepts a bus kind, or a prefix of some kind ending in ".".
func knownKind(k string) bool {
	for _, known := range bus.Kinds {
		if string(known) == k || strings.HasSuffix(k, ".") && strings.HasPrefix(string(known), k) {
			return true
		}
	}
	return false
}

// drainInto appends the events waiting in c, up to about 64 KiB, so a
// burst is written in one go.
func drainInto(buf *bytes.Buffer, c <-chan bus.Event) {
	for buf.Len() < 64<<10 {
		select {
		case e, ok := <-c:
			if !ok {
				return // the next receive in the loop sees it closed
			}
			writeSSE(buf, e)
		default:
			return
		}
	}
}

// writeSSE appends one event. Its JSON has no newline, so it is one data
// line.
func writeSSE(buf *bytes.Buffer, e bus.Event) {
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	fmt.Fprintf(buf, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Kind, data)
}

// flushTo writes buf to the client and flushes it; buf is emptied.
func flushTo(w http.ResponseWriter, rc *http.ResponseController, buf *bytes.Buffer) error {
	if buf.Len() == 0 {
		return nil
	}
	_, err := w.Write(buf.Bytes())
	buf.Reset()
	if err != nil {
		return err
	}
	return rc.Flush()
}
