package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// sseEvent is one parsed server-sent event, or a comment.
type sseEvent struct {
	id, event, data, comment string
}

// sseReader reads a stream's events in a goroutine.
type sseReader struct {
	resp   *http.Response
	events chan sseEvent
	done   chan error
}

func openStream(t *testing.T, url string, hdr http.Header) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := &sseReader{resp: resp, events: make(chan sseEvent, 1024), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur != (sseEvent{}) {
					r.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				cur.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
		r.done <- sc.Err()
	}()
	return r
}

// next returns the next event that is not a comment.
func (r *sseReader) next(t *testing.T) sseEvent {
	t.Helper()
	for {
		select {
		case e := <-r.events:
			if e.event != "" {
				return e
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
	}
}

// comment waits for a comment with this text.
func (r *sseReader) comment(t *testing.T, text string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-r.events:
			if e.comment == text {
				return
			}
		case <-deadline:
			t.Fatalf("no %q comment", text)
		}
	}
}

func streamSetup(t *testing.T) (*bus.Bus, *httptest.Server) {
	t.Helper()
	b, err := bus.New(bus.Options{Ring: 16})
	require.NoError(t, err)
	f := setup(t, func(o *Options) { o.Events = b; o.StreamHeartbeat = 20 * time.Millisecond })
	srv := httptest.NewServer(withToken(f.srv, testBootstrap))
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close) // streams end before the server closes
	return b, srv
}

func driftEvent(client string, sev drift.Severity, k bus.Kind) bus.Event {
	return bus.NewDriftEvent(k, bus.DriftEvent{ClientID: client, StackID: "shop", DriftType: drift.TypeIntegration,
		Severity: sev, DriftID: "d-" + client, Code: drift.WebhookBroken, Expected: "present", Observed: "missing",
		ReconciliationID: "r1", Timestamp: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)})
}

// waitSubscribed waits until n streams are subscribed, so what is published
// next reaches them live.
func waitSubscribed(t *testing.T, b *bus.Bus, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return b.Subscribers() == n }, 10*time.Second, time.Millisecond)
}

func TestStreamFiltersAndFormat(t *testing.T) {
	t.Parallel()
	b, srv := streamSetup(t)
	ctx := context.Background()
	acme := openStream(t, srv.URL+"/v1/stream?client_id=acme&severity=high", nil)
	drifts := openStream(t, srv.URL+"/v1/stream?kind=drift.", nil)
	waitSubscribed(t, b, 2)

	b.Publish(ctx, driftEvent("acme", drift.SeverityLow, bus.KindDriftDetected))    // below the threshold
	b.Publish(ctx, driftEvent("globex", drift.SeverityHigh, bus.KindDriftDetected)) // other client
	b.Publish(ctx, bus.Event{Kind: bus.KindReconciliation, ClientID: "acme"})       // no severity
	want := b.Publish(ctx, driftEvent("acme", drift.SeverityCritical, bus.KindDriftResolved))

	got := acme.next(t)
	require.Equal(t, want.ID, got.id)
	require.Equal(t, "drift.resolved", got.event)
	var e struct {
		bus.Event
		Data bus.DriftEvent `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(got.data), &e))
	require.Equal(t, "acme", e.ClientID)
	require.Equal(t, drift.SeverityCritical, e.Severity)
	require.Equal(t, "d-acme", e.Data.DriftID)
	require.Equal(t, drift.TypeIntegration, e.Data.DriftType)
	require.Equal(t, "missing", e.Data.Observed)

	for _, wantClient := range []string{"acme", "globex", "acme"} {
		got := drifts.next(t)
		require.True(t, strings.HasPrefix(got.event, "drift."), got.event)
		require.Contains(t, got.data, `"client_id":"`+wantClient+`"`)
	}
	acme.comment(t, "heartbeat")
}

func TestStreamResumesAfterLastEventID(t *testing.T) {
	t.Parallel()
	b, srv := streamSetup(t)
	ctx := context.Background()
	first := b.Publish(ctx, driftEvent("acme", drift.SeverityHigh, bus.KindDriftDetected))
	second := b.Publish(ctx, driftEvent("acme", drift.SeverityHigh, bus.KindDriftResolved))
	third := b.Publish(ctx, driftEvent("acme", drift.SeverityHigh, bus.KindDriftDetected))

	s := openStream(t, srv.URL+"/v1/stream", http.Header{"Last-Event-ID": {first.ID}})
	require.Equal(t, second.ID, s.next(t).id)
	require.Equal(t, third.ID, s.next(t).id)
	waitSubscribed(t, b, 1)
	live := b.Publish(ctx, driftEvent("acme", drift.SeverityHigh, bus.KindDriftResolved))
	require.Equal(t, live.ID, s.next(t).id)

	q := openStream(t, srv.URL+"/v1/stream?last_event_id="+third.ID, nil)
	waitSubscribed(t, b, 2)
	require.Equal(t, live.ID, q.next(t).id, "the query parameter works as the header")
}

func TestStreamEndsOnShutdown(t *testing.T) {
	t.Parallel()
	b, srv := streamSetup(t)
	s := openStream(t, srv.URL+"/v1/stream", nil)
	s.comment(t, "connected")
	waitSubscribed(t, b, 1)
	b.Close()
	select {
	case err := <-s.done:
		require.NoError(t, err, "the server ends the stream cleanly")
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end when the bus closed")
	}
	// http.Server.Shutdown now finds no active stream.
}

func TestStreamSlowClientIsDisconnected(t *testing.T) {
	t.Parallel()
	b, srv := streamSetup(t)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/stream", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	waitSubscribed(t, b, 1)
	// The client reads nothing: TCP buffers fill, the handler blocks in a
	// write, its subscription buffer (1024) overflows and is ended.
	big := bus.Event{Kind: bus.KindReconciliation, ClientID: "acme", Data: json.RawMessage(`{"pad":"` + strings.Repeat("x", 64<<10) + `"}`)}
	for i := 0; i < 2000 && b.Subscribers() > 0; i++ {
		b.Publish(context.Background(), big)
	}
	require.Equal(t, 0, b.Subscribers(), "the slow stream was disconnected; the publisher never blocked")
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err, "the stream ends")
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	_, srv := streamSetup(t)
	for _, q := range []string{"severity=urgent", "kind=drift.exploded", "kind=heal"} {
		resp, err := http.Get(srv.URL + "/v1/stream?" + q)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, q)
	}
	f := setup(t)
	w := f.do(t, "GET", "/v1/stream", "")
	requireError(t, w, http.StatusServiceUnavailable, codeUnavailable)
}

func TestApplyConfigChecksBeforeItAppliesAndCallsOnConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/blackwell.yaml")
	require.NoError(t, err)
	var got *config.Config
	refuse, fail := false, false
	f := setup(t, func(o *Options) {
		o.CheckConfig = func(_ context.Context, cfg *config.Config) error {
			if refuse {
				return errors.New("channel x: secret: not a Standard Webhooks secret")
			}
			return nil
		}
		o.OnConfig = func(_ context.Context, cfg *config.Config) error {
			got = cfg
			if fail {
				return errors.New("start channel x: closed")
			}
			return nil
		}
	})

	// A check that fails refuses the whole document: nothing is written,
	// OnConfig is not called.
	refuse = true
	w := f.do(t, "POST", "/v1/config", string(data), "Content-Type", "application/yaml")
	e := requireError(t, w, http.StatusUnprocessableEntity, codeInvalidConfig)
	require.Contains(t, e.Error.Message, "nothing applied")
	require.Contains(t, e.Error.Message, "not a Standard Webhooks secret")
	require.Nil(t, got)
	recs, err := store.AllStates(context.Background(), f.store, "")
	require.NoError(t, err)
	require.Empty(t, recs, "no stack written")
	pols, err := f.store.ListPolicies(context.Background(), "acme-corp")
	require.NoError(t, err)
	require.Empty(t, pols, "no policy written")

	refuse = false
	w = f.do(t, "POST", "/v1/config", string(data), "Content-Type", "application/yaml")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.NotNil(t, got)
	require.NotEmpty(t, got.Stacks)

	// Channels that were built but then failed to start are the server's
	// trouble, not the document's.
	fail = true
	w = f.do(t, "POST", "/v1/config", string(data), "Content-Type", "application/yaml")
	requireError(t, w, http.StatusInternalServerError, codeInternal)
}

// withToken serves h as a client holding token sees it: requests without
// an Authorization header carry the token (for tests that use plain
// http.Get against an httptest server).
func withToken(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		h.ServeHTTP(w, r)
	})
}

// TestStreamReplaysFromTheLog: a stream fed from the store's stream log
// replays what its ring no longer holds from the log, says ": gap" when
// the log pruned what the client missed, and when the client's id is not
// one the log has given.
func TestStreamReplaysFromTheLog(t *testing.T) {
	t.Parallel()
	var (
		b  *bus.Bus
		st store.Store
	)
	f := setup(t, func(o *Options) {
		var err error
		b, err = bus.New(bus.Options{Ring: 4, Source: o.Store})
		require.NoError(t, err)
		o.Events, st = b, o.Store
	})
	srv := httptest.NewServer(withToken(f.srv, testBootstrap))
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close)
	tail, err := bus.NewTail(b, bus.TailOptions{Store: st})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, tail.Start(ctx))
	t.Cleanup(tail.Stop)
	for i := range 10 {
		require.NoError(t, st.AppendStream(ctx, []store.StreamEvent{driftEvent("acme", drift.SeverityHigh, bus.KindDriftDetected).Record()}), i)
	}
	require.Eventually(t, func() bool { return b.Seq() == 10 }, 10*time.Second, time.Millisecond)

	s := openStream(t, srv.URL+"/v1/stream", http.Header{"Last-Event-ID": {"2"}})
	for want := 3; want <= 10; want++ {
		got := s.next(t)
		require.Equal(t, fmt.Sprint(want), got.id, "3-6 from the log, 7-10 from the ring")
		require.Contains(t, got.data, `"drift_id":"d-acme"`)
	}

	_, err = st.PruneStream(ctx, store.StreamPrune{MaxRows: 3}, 0) // keeps 8-10
	require.NoError(t, err)
	g := openStream(t, srv.URL+"/v1/stream", http.Header{"Last-Event-ID": {"2"}})
	g.comment(t, "gap")
	require.Equal(t, "7", g.next(t).id, "what the ring still holds follows the gap")

	u := openStream(t, srv.URL+"/v1/stream", http.Header{"Last-Event-ID": {"999"}})
	u.comment(t, "gap")
	waitSubscribed(t, b, 3)
	require.NoError(t, st.AppendStream(ctx, []store.StreamEvent{driftEvent("acme", drift.SeverityHigh, bus.KindDriftResolved).Record()}))
	require.Equal(t, "11", u.next(t).id, "an unknown id: live events from now")
}
