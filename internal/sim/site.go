package sim

import (
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blackwellio/blackwell/internal/poll"
)

// Mode is how a Site answers.
type Mode string

// The modes of a Site.
const (
	// ModeHealthy answers 200 with a small HTML page holding the marker.
	ModeHealthy Mode = "healthy"
	// ModeFailing answers 503.
	ModeFailing Mode = "failing"
	// ModeMissing answers 404.
	ModeMissing Mode = "missing"
	// ModeSlow answers like ModeHealthy after the slow delay.
	ModeSlow Mode = "slow"
	// ModeDown closes the listener and every open connection: a new
	// connection is refused. Any other mode listens again on the same
	// address.
	ModeDown Mode = "down"
)

// Defaults of SiteOptions.
const (
	DefaultSiteMarker = "blackwell-sim-site-ok"
	DefaultSlowDelay  = 2 * time.Second
)

// SiteOptions configure a Site.
type SiteOptions struct {
	// Addr to listen on. Default "127.0.0.1:0", a free port.
	Addr string
	// Mode to start in. Default ModeHealthy.
	Mode Mode
	// Marker is the string the healthy page contains. Default
	// DefaultSiteMarker.
	Marker string
	// SlowDelay is how long ModeSlow waits before answering. Default
	// DefaultSlowDelay.
	SlowDelay time.Duration
	// Logger receives the HTTP server's own errors. Default: discarded.
	Logger *slog.Logger
}

// Site is a local HTTP site that can be switched between modes at run time.
// It is safe for concurrent use.
type Site struct {
	addr      string // fixed: Up again listens here
	marker    string
	page      []byte
	logger    *slog.Logger
	slowDelay atomic.Int64
	requests  atomic.Int64
	closing   chan struct{} // closed by Close: slow answers stop waiting

	mode atomic.Value // Mode; written under mu

	mu      sync.Mutex
	srv     *http.Server  // nil while down or closed
	serving chan struct{} // closed when srv's Serve returns
	closed  bool
}

// NewSite starts a Site.
func NewSite(opts SiteOptions) (*Site, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Mode == "" {
		opts.Mode = ModeHealthy
	}
	if !opts.Mode.valid() {
		return nil, fmt.Errorf("site mode %q: unknown", opts.Mode)
	}
	if opts.Marker == "" {
		opts.Marker = DefaultSiteMarker
	}
	if opts.SlowDelay <= 0 {
		opts.SlowDelay = DefaultSlowDelay
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Site{
		marker:  opts.Marker,
		page:    healthyPage(opts.Marker),
		logger:  opts.Logger,
		closing: make(chan struct{}),
	}
	s.mode.Store(opts.Mode)
	s.slowDelay.Store(int64(opts.SlowDelay))
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("site listen on %s: %w", opts.Addr, err)
	}
	s.addr = ln.Addr().String()
	if opts.Mode == ModeDown {
		_ = ln.Close()
		return s, nil
	}
	s.serve(ln)
	return s, nil
}

// URL is the site's base URL, http://127.0.0.1:port.
func (s *Site) URL() string { return "http://" + s.addr }

// Addr is the site's host:port. It stays the same across Down and Up.
func (s *Site) Addr() string { return s.addr }

// Marker is the string the healthy page contains.
func (s *Site) Marker() string { return s.marker }

// Requests is how many requests the site has received.
func (s *Site) Requests() int64 { return s.requests.Load() }

// Mode is the current mode.
func (s *Site) Mode() Mode { return s.mode.Load().(Mode) }

// SetSlowDelay changes how long ModeSlow waits.
func (s *Site) SetSlowDelay(d time.Duration) { s.slowDelay.Store(int64(d)) }

// SetMode switches the site to m. Switching to ModeDown closes the listener
// and all connections; switching from it listens again on the same address,
// which fails if another socket took the port meanwhile.
func (s *Site) SetMode(m Mode) error {
	if !m.valid() {
		return fmt.Errorf("site mode %q: unknown", m)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("site closed")
	}
	switch {
	case m == ModeDown && s.srv != nil:
		s.stopLocked()
	case m != ModeDown && s.srv == nil:
		ln, err := listenAgain(s.addr)
		if err != nil {
			return err
		}
		s.serve(ln)
	}
	s.mode.Store(m)
	return nil
}

// Close stops the site for good. It is safe to call more than once.
func (s *Site) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.closing)
	if s.srv != nil {
		s.stopLocked()
	}
}

// serve starts an HTTP server on ln. The caller holds mu or owns s alone.
func (s *Site) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Warn("sim site stopped", "addr", s.addr, "error", err)
		}
	}()
	s.srv, s.serving = srv, done
}

// stopLocked closes the listener and every connection and waits for Serve
// to return. The caller holds mu.
func (s *Site) stopLocked() {
	_ = s.srv.Close()
	<-s.serving
	s.srv, s.serving = nil, nil
}

// listenAgain listens on addr, retrying for a moment: the port was ours a
// moment ago, but the kernel may still be letting go of it.
func listenAgain(addr string) (net.Listener, error) {
	var ln net.Listener
	var err error
	if poll.Wait(time.Second, "listen", func() bool { ln, err = net.Listen("tcp", addr); return err == nil }) != nil {
		return nil, fmt.Errorf("site listen again on %s: %w", addr, err)
	}
	return ln, nil
}

func (s *Site) handle(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	switch s.Mode() {
	case ModeHealthy:
		s.writePage(w, r)
	case ModeFailing:
		w.Header().Set("Retry-After", "30")
		http.Error(w, "503 service unavailable", http.StatusServiceUnavailable)
	case ModeMissing:
		http.Error(w, "404 page not found", http.StatusNotFound)
	case ModeSlow:
		t := time.NewTimer(time.Duration(s.slowDelay.Load()))
		defer t.Stop()
		select {
		case <-t.C:
			s.writePage(w, r)
		case <-r.Context().Done():
		case <-s.closing:
			// Gone before answering: drop the connection, as a
			// stopped server would.
			panic(http.ErrAbortHandler)
		}
	default: // ModeDown, in the moment before the connection closes
		panic(http.ErrAbortHandler)
	}
}

func (s *Site) writePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.page)
	}
}

func healthyPage(marker string) []byte {
	return []byte("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>sim site</title></head>\n" +
		"<body><h1>Welcome</h1><p class=\"marker\">" + html.EscapeString(marker) + "</p></body></html>\n")
}

func (m Mode) valid() bool {
	switch m {
	case ModeHealthy, ModeFailing, ModeMissing, ModeSlow, ModeDown:
		return true
	}
	return false
}
