package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// APIFaults are the faults a fake provider API answers with on command:
// rate limiting (429 and the provider's own wait headers), server errors
// (500), slowness, and what a proxy or a broken provider sends in place of
// the API's JSON (an HTML page, a body cut short). Every fake API embeds
// one, so a test says shop.RateLimit(2*time.Second, 1) or
// cms.FailServer(-1). It is safe for concurrent use.
type APIFaults struct {
	mu           sync.Mutex
	rateLimited  int // answers left; < 0: until Recover
	retryAfter   time.Duration
	serverErrors int // answers left; < 0: until Recover
	htmlAnswers  int // answers left; < 0: until Recover
	htmlStatus   int
	truncated    int // answers left; < 0: until Recover
	slow         time.Duration

	requests atomic.Int64
	closing  chan struct{}
}

// faultKind is the fault to answer one request with.
type faultKind int

const (
	faultNone faultKind = iota
	faultRateLimit
	faultServerError
)

func newAPIFaults() APIFaults { return APIFaults{closing: make(chan struct{})} }

// RateLimit makes the next n requests (n < 0: every request until Recover)
// answer 429, asking to wait retryAfter in the provider's own way.
func (f *APIFaults) RateLimit(retryAfter time.Duration, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLimited, f.retryAfter = n, retryAfter
}

// FailServer makes the next n requests (n < 0: every request until
// Recover) answer 500.
func (f *APIFaults) FailServer(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serverErrors = n
}

// AnswerHTML makes the next n requests (n < 0: every request until
// Recover) answer an HTML page with status (200: a login or captive page
// in front of the API; 502/503: a proxy's error page) instead of the
// API's JSON.
func (f *APIFaults) AnswerHTML(status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.htmlAnswers, f.htmlStatus = n, status
}

// TruncateAnswers makes the next n requests (n < 0: every request until
// Recover) answer 200 with a JSON body cut short: the connection closes
// before the Content-Length it declared.
func (f *APIFaults) TruncateAnswers(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.truncated = n
}

// Slow delays every answer by d (0: no delay).
func (f *APIFaults) Slow(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slow = d
}

// Recover clears every API fault.
func (f *APIFaults) Recover() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLimited, f.serverErrors, f.htmlAnswers, f.truncated, f.slow = 0, 0, 0, 0, 0
}

// Requests is how many API requests the fake has received.
func (f *APIFaults) Requests() int64 { return f.requests.Load() }

// take counts a request, waits out a Slow fault, answers an HTML or
// truncation fault itself, and returns the fault the fake answers it
// with. false: the request is answered already, or it or the fake went
// away meanwhile.
func (f *APIFaults) take(w http.ResponseWriter, r *http.Request) (faultKind, time.Duration, bool) {
	f.requests.Add(1)
	f.mu.Lock()
	slow := f.slow
	kind, wait := faultNone, time.Duration(0)
	html, truncate := false, false
	htmlStatus := f.htmlStatus
	switch {
	case f.htmlAnswers != 0:
		html = true
		if f.htmlAnswers > 0 {
			f.htmlAnswers--
		}
	case f.truncated != 0:
		truncate = true
		if f.truncated > 0 {
			f.truncated--
		}
	case f.serverErrors != 0:
		kind = faultServerError
		if f.serverErrors > 0 {
			f.serverErrors--
		}
	case f.rateLimited != 0:
		kind, wait = faultRateLimit, f.retryAfter
		if f.rateLimited > 0 {
			f.rateLimited--
		}
	}
	f.mu.Unlock()
	if slow > 0 {
		t := time.NewTimer(slow)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return faultNone, 0, false
		case <-f.closing:
			return faultNone, 0, false
		}
	}
	switch {
	case html:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(htmlStatus)
		_, _ = io.WriteString(w, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>\n")
		return faultNone, 0, false
	case truncate:
		answerTruncated(w)
		return faultNone, 0, false
	}
	return kind, wait, true
}

// answerTruncated sends a 200 JSON answer that declares more bytes than it
// sends, then closes the connection.
func answerTruncated(w http.ResponseWriter) {
	const body = `{"items":[{"id":"cut-sh`
	hj, ok := w.(http.Hijacker)
	if !ok { // HTTP/2: the best a handler can do is a short JSON
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", 10*len(body), body)
	_ = buf.Flush()
}

// closeFaults ends pending slow answers.
func (f *APIFaults) closeFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.closing:
	default:
		close(f.closing)
	}
}

// EventSwitch stops and resumes a fake's webhook deliveries: the
// "provider stopped sending events" fault.
type EventSwitch struct{ stopped atomic.Bool }

// StopEvents makes Deliver send nothing until ResumeEvents.
func (e *EventSwitch) StopEvents() { e.stopped.Store(true) }

// ResumeEvents undoes StopEvents.
func (e *EventSwitch) ResumeEvents() { e.stopped.Store(false) }

// EventsStopped reports whether deliveries are stopped.
func (e *EventSwitch) EventsStopped() bool { return e.stopped.Load() }

// DeliveryResult is the outcome of one signed delivery to one subscription.
type DeliveryResult struct {
	SubscriptionID string
	Address        string
	// Status is the receiver's HTTP status (0 when it did not answer).
	Status int
	Err    error
}

// OK reports a 2xx answer, the only success every provider recognises.
func (d DeliveryResult) OK() bool { return d.Err == nil && d.Status >= 200 && d.Status < 300 }

// deliveryClient sends deliveries with Shopify's documented bounds (1 s to
// connect, 5 s in all), which are the tightest of the providers here.
func newDeliveryClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// deliver POSTs body with headers to address.
func deliver(ctx context.Context, hc *http.Client, method, address string, header http.Header, body []byte) (int, error) {
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, address, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = header
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// apiServer is the HTTP server of a fake API on a local address.
type apiServer struct {
	srv     *http.Server
	url     string
	serving chan struct{}
	once    sync.Once
}

func startAPIServer(addr string, h http.Handler, logger *slog.Logger) (*apiServer, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &apiServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		url:     "http://" + ln.Addr().String(),
		serving: make(chan struct{}),
	}
	go func() {
		defer close(s.serving)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("sim api server stopped", "addr", s.url, "error", err)
		}
	}()
	return s, nil
}

func (s *apiServer) close() {
	s.once.Do(func() {
		_ = s.srv.Close()
		<-s.serving
	})
}
