// Package probe checks the expected resources of a stack from the outside:
// an HTTP GET of a page, the TLS certificate behind an address, a TCP
// connect, a DNS lookup. Each probe returns a drift.ResourceObservation and
// never an error: a probe that could not run (bad config, cancelled) is
// StatusUnknown, which the reconciler does not count as drift.
//
// A Prober bounds the probes it has in flight (Options.Concurrency), runs each
// probe under its own timeout, and passes every URL that reaches a Detail
// through a sanitiser that strips userinfo and query strings, because hook
// URLs carry secrets there.
package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/redact"
)

// The defaults of Options.
const (
	DefaultConcurrency  = 256
	DefaultTimeout      = 5 * time.Second
	DefaultMinDaysValid = 14
	// MaxBodyBytes is how much of an answer body an http probe reads.
	MaxBodyBytes = 1 << 20
	// MaxRedirects is how many redirects an http probe follows.
	MaxRedirects = 5
)

// Options configure a Prober. The zero value is usable.
type Options struct {
	// HTTPClient makes the requests of http probes. Default: a client with
	// keep-alives, an idle pool per host as large as Concurrency, dialling
	// with Dialer, trusting RootCAs, following at most MaxRedirects
	// redirects, and using the proxy named by HTTPS_PROXY/HTTP_PROXY (never
	// for localhost). A client given here is used as it is; its own Timeout, if
	// any, applies on top of the probe's timeout.
	HTTPClient *http.Client
	// Resolver answers dns probes and, unless Dialer has its own, the
	// lookups of every other probe. Default: the system's resolver.
	Resolver *net.Resolver
	// Dialer dials tcp and tls probes and the default HTTPClient's
	// connections. Default: a net.Dialer using Resolver.
	Dialer *net.Dialer
	// Egress, when set, is checked by every connection of tcp and tls
	// probes and of the default HTTPClient (redirects and proxies
	// included), at dial time; a refused probe is StatusUnknown, not drift.
	// A dns probe only asks the resolver. Default nil: everything allowed.
	Egress *egress.Policy
	// RootCAs verify certificates of tls probes (and of the default
	// HTTPClient). Default: the system's roots.
	RootCAs *x509.CertPool
	// Concurrency bounds the probes in flight in this Prober, across all
	// calls. Default DefaultConcurrency.
	Concurrency int
	// DefaultTimeout bounds a probe whose resource sets no timeout.
	// Default DefaultTimeout.
	DefaultTimeout time.Duration
	// Now is the clock: it measures latency and dates certificates.
	// Default time.Now.
	Now func() time.Time
}

// Prober runs probes. It is safe for concurrent use.
type Prober struct {
	client         *http.Client
	resolver       *net.Resolver
	dialer         *net.Dialer
	dial           egress.DialFunc // dialer.DialContext, checked by Options.Egress
	rootCAs        *x509.CertPool
	timeout        time.Duration
	now            func() time.Time
	slots          chan struct{}
	bufs           sync.Pool // *[]byte of bodyChunk bytes for body matching
	concurrencyCap int
}

// New returns a Prober with opts, defaults filled in.
func New(opts Options) *Prober {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Resolver == nil {
		opts.Resolver = &net.Resolver{}
	}
	dialer := opts.Dialer
	if dialer == nil {
		dialer = &net.Dialer{KeepAlive: 30 * time.Second}
	} else {
		d := *dialer
		dialer = &d
	}
	if dialer.Resolver == nil {
		dialer.Resolver = opts.Resolver
	}
	p := &Prober{
		client:         opts.HTTPClient,
		resolver:       opts.Resolver,
		dialer:         dialer,
		dial:           opts.Egress.DialContext(dialer),
		rootCAs:        opts.RootCAs,
		timeout:        opts.DefaultTimeout,
		now:            opts.Now,
		slots:          make(chan struct{}, opts.Concurrency),
		concurrencyCap: opts.Concurrency,
	}
	p.bufs.New = func() any {
		b := make([]byte, bodyChunk)
		return &b
	}
	if p.client == nil {
		p.client = newHTTPClient(p.dial, opts.Egress.Proxy(http.ProxyFromEnvironment), opts.RootCAs, opts.Concurrency)
	}
	return p
}

// Probe checks one resource. name is used only in messages. It never
// panics and never fails: a probe that cannot run is StatusUnknown with a
// Detail saying why.
func (p *Prober) Probe(ctx context.Context, name string, r config.Resource) (obs drift.ResourceObservation) {
	defer func() {
		if v := recover(); v != nil {
			obs = unknown("probe %s panicked: %v", name, v)
		}
		obs.Detail = redact.Text(obs.Detail)
	}()
	if err := ctx.Err(); err != nil {
		return unknown("not started: %v", err)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return unknown("not started: %v", ctx.Err())
	}
	defer func() { <-p.slots }()
	return p.run(ctx, r)
}

// ProbeAll checks every resource concurrently, within the Prober's bound,
// and returns an observation for each name.
func (p *Prober) ProbeAll(ctx context.Context, resources map[string]config.Resource) map[string]drift.ResourceObservation {
	out := make(map[string]drift.ResourceObservation, len(resources))
	if len(resources) == 0 {
		return out
	}
	type job struct {
		name string
		r    config.Resource
	}
	type result struct {
		name string
		obs  drift.ResourceObservation
	}
	jobs := make(chan job)
	results := make(chan result, len(resources))
	workers := min(len(resources), p.concurrencyCap)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				results <- result{j.name, p.Probe(ctx, j.name, j.r)}
			}
		})
	}
	for name, r := range resources {
		jobs <- job{name, r}
	}
	close(jobs)
	wg.Wait()
	close(results)
	for res := range results {
		out[res.name] = res.obs
	}
	return out
}

// run dispatches on the probe kind under the probe's own timeout.
func (p *Prober) run(parent context.Context, r config.Resource) drift.ResourceObservation {
	timeout := r.Timeout.D()
	if timeout <= 0 {
		timeout = p.timeout
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	pc := probeCtx{Context: ctx, parent: parent, timeout: timeout}
	switch r.Probe {
	case config.ProbeHTTP:
		return p.probeHTTP(pc, r)
	case config.ProbeTLS:
		return p.probeTLS(pc, r)
	case config.ProbeTCP:
		return p.probeTCP(pc, r)
	case config.ProbeDNS:
		return p.probeDNS(pc, r)
	case "":
		return unknown("no probe kind")
	default:
		return unknown("unknown probe kind %q", r.Probe)
	}
}

// probeCtx is the context of one probe, with what is needed to tell its own
// timeout from a cancellation by the caller.
type probeCtx struct {
	context.Context
	parent  context.Context
	timeout time.Duration
}

// interrupted reports the observation for a probe cut short by its context:
// the caller's cancellation is StatusUnknown, the probe's own timeout is
// StatusUnhealthy. ok is false when the context is still live.
func (pc probeCtx) interrupted() (obs drift.ResourceObservation, ok bool) {
	if err := pc.parent.Err(); err != nil {
		return unknown("cancelled: %v", err), true
	}
	if errors.Is(pc.Err(), context.DeadlineExceeded) {
		return unhealthy("timeout after %s", pc.timeout), true
	}
	return drift.ResourceObservation{}, false
}

// unknown is a probe that could not run (drift.ReasonNotObserved).
func unknown(format string, args ...any) drift.ResourceObservation {
	return unknownBecause(drift.ReasonNotObserved, format, args...)
}

// unknownBecause is a probe that could not observe the resource, and why.
func unknownBecause(reason drift.Reason, format string, args ...any) drift.ResourceObservation {
	return drift.ResourceObservation{Status: drift.StatusUnknown, Detail: fmt.Sprintf(format, args...), Reason: reason}
}

func unhealthy(format string, args ...any) drift.ResourceObservation {
	return drift.ResourceObservation{Status: drift.StatusUnhealthy, Detail: fmt.Sprintf(format, args...)}
}

func missing(format string, args ...any) drift.ResourceObservation {
	return drift.ResourceObservation{Status: drift.StatusMissing, Detail: fmt.Sprintf(format, args...)}
}

func healthy(format string, args ...any) drift.ResourceObservation {
	return drift.ResourceObservation{Status: drift.StatusHealthy, Detail: fmt.Sprintf(format, args...)}
}
