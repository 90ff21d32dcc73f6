package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/redact"
)

// Defaults of APIClientOptions.
const (
	DefaultRequestTimeout  = 10 * time.Second
	DefaultMaxRetryWait    = 5 * time.Second
	DefaultMaxRetries      = 2
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
	DefaultRateLimit       = rate.Limit(10)
	DefaultMaxBody         = 4 << 20
)

// APIClientOptions configure an APIClient. The zero value is usable.
type APIClientOptions struct {
	// Provider names the provider in errors and breaker names.
	Provider string
	// HTTPClient sends the requests. Default: a client with its own
	// transport; the per-request Timeout applies either way.
	HTTPClient *http.Client
	// Timeout bounds one request, answer body included.
	Timeout time.Duration
	// MaxRetryWait is the longest wait a 429 (or a rate-limit header) is
	// honoured with; a provider that asks for more gets ErrRateLimited at
	// once, so a pass never stalls on a throttled provider.
	MaxRetryWait time.Duration
	// MaxRetries is how often one call is retried after a 429.
	MaxRetries int
	// BreakerFailures is how many consecutive failures (5xx, timeouts,
	// connection errors) open an endpoint's circuit breaker; while it is
	// open, calls fail at once with ErrUnreachable.
	BreakerFailures int
	// BreakerCooldown is how long a breaker stays open before one trial
	// call is let through.
	BreakerCooldown time.Duration
	// RateLimit and Burst bound the requests per second sent to one
	// endpoint, whatever the provider says.
	RateLimit rate.Limit
	Burst     int
	// RetryAfter reads how long a 429 asks to wait. Default: the
	// Retry-After header (seconds, fractional seconds or an HTTP date).
	RetryAfter func(*Response) (time.Duration, bool)
	// Throttle reads the provider's rate-limit headers of any answer and
	// returns a pause before the next request to the endpoint (0: none).
	Throttle func(*Response) time.Duration
	// ErrorMessage extracts the message of an error answer's body.
	// Default: the body's first line, bounded.
	ErrorMessage func(body []byte) string
	// MaxBody bounds the answer bodies read.
	MaxBody int64
}

// APIClient sends a provider's management API requests with a timeout, a
// client-side rate limit, 429/Retry-After handling and a circuit breaker
// per endpoint (scheme and host). It is safe for concurrent use.
type APIClient struct {
	opts APIClientOptions
	http *http.Client

	mu        sync.Mutex
	endpoints map[string]*endpoint
}

// endpoint is the state kept per scheme://host.
type endpoint struct {
	base    string
	breaker *gobreaker.CircuitBreaker[*Response]
	limiter *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time
	openedAt    time.Time
}

// Request is one API call.
type Request struct {
	Method string
	URL    string
	Header http.Header
	// Body is sent as is (JSON for every API here).
	Body []byte
}

// Response is an answer that was read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the answer body.
func (r *Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// StatusError is an error answer. It wraps ErrUnauthorized (401, 403),
// ErrNotFound (404), ErrRateLimited (429), ErrUnreachable (5xx) or nothing.
type StatusError struct {
	Provider string
	Method   string
	URL      string // sanitised
	Status   int
	Message  string
	kind     error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s %s: %d %s", e.Provider, e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns the class of the error.
func (e *StatusError) Unwrap() error { return e.kind }

// callerDone marks an error caused by the caller's context ending: the
// breaker does not count it.
type callerDone struct{ err error }

func (e callerDone) Error() string { return e.err.Error() }
func (e callerDone) Unwrap() error { return e.err }

// NewAPIClient returns an APIClient.
func NewAPIClient(opts APIClientOptions) *APIClient {
	if opts.Provider == "" {
		opts.Provider = "provider"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultRequestTimeout
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = DefaultMaxRetryWait
	}
	if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	} else if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.BreakerFailures <= 0 {
		opts.BreakerFailures = DefaultBreakerFailures
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = DefaultBreakerCooldown
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.Burst <= 0 {
		opts.Burst = max(1, int(opts.RateLimit))
	}
	if opts.RetryAfter == nil {
		opts.RetryAfter = RetryAfterHeader
	}
	if opts.ErrorMessage == nil {
		opts.ErrorMessage = firstLine
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   opts.Timeout,
			ResponseHeaderTimeout: opts.Timeout,
		}}
	}
	return &APIClient{opts: opts, http: hc, endpoints: map[string]*endpoint{}}
}

// Provider is the provider name the client reports in errors.
func (c *APIClient) Provider() string { return c.opts.Provider }

// BreakerState reports the state of the breaker of the endpoint of rawURL
// ("closed" for an endpoint not called yet).
func (c *APIClient) BreakerState(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "closed"
	}
	c.mu.Lock()
	ep := c.endpoints[u.Scheme+"://"+u.Host]
	c.mu.Unlock()
	if ep == nil {
		return gobreaker.StateClosed.String()
	}
	return ep.breaker.State().String()
}

func (c *APIClient) endpoint(base string) *endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ep := c.endpoints[base]; ep != nil {
		return ep
	}
	ep := &endpoint{base: base, limiter: rate.NewLimiter(c.opts.RateLimit, c.opts.Burst)}
	failures := uint32(c.opts.BreakerFailures)
	ep.breaker = gobreaker.NewCircuitBreaker[*Response](gobreaker.Settings{
		Name:        c.opts.Provider + " " + base,
		MaxRequests: 1,
		Timeout:     c.opts.BreakerCooldown,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.As(err, new(callerDone)) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				ep.mu.Lock()
				ep.openedAt = time.Now()
				ep.mu.Unlock()
			}
		},
	})
	c.endpoints[base] = ep
	return ep
}

// Do sends r and reads the answer. Any 2xx or 3xx answer is returned with a
// nil error; an error answer is returned with a *StatusError. A 429 is
// retried after the wait it asks for, while that wait is within
// MaxRetryWait and retries are left.
func (c *APIClient) Do(ctx context.Context, r Request) (*Response, error) {
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, ConfigError("%s API URL %q is not an absolute http(s) URL", c.opts.Provider, redact.URL(r.URL))
	}
	ep := c.endpoint(u.Scheme + "://" + u.Host)
	for attempt := 0; ; attempt++ {
		if err := c.wait(ctx, ep); err != nil {
			return nil, err
		}
		resp, err := ep.breaker.Execute(func() (*Response, error) { return c.send(ctx, r) })
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			return nil, c.openError(ep)
		}
		if resp == nil {
			return nil, err
		}
		if c.opts.Throttle != nil {
			if d := c.opts.Throttle(resp); d > 0 {
				ep.pause(d)
			}
		}
		if err != nil {
			return resp, err // 5xx, already a *StatusError
		}
		if resp.Status < 400 {
			return resp, nil
		}
		serr := &StatusError{
			Provider: c.opts.Provider, Method: r.Method, URL: redact.URL(r.URL),
			Status: resp.Status, Message: c.opts.ErrorMessage(resp.Body),
		}
		switch resp.Status {
		case http.StatusTooManyRequests:
			serr.kind = ErrRateLimited
			wait, ok := c.opts.RetryAfter(resp)
			if !ok || wait <= 0 {
				wait = time.Second
			}
			ep.pause(wait)
			if attempt >= c.opts.MaxRetries || wait > c.opts.MaxRetryWait {
				serr.Message = strings.TrimSpace(fmt.Sprintf("retry after %s; %s", wait, serr.Message))
				return resp, serr
			}
			continue
		case http.StatusUnauthorized, http.StatusForbidden:
			serr.kind = ErrUnauthorized
		case http.StatusNotFound:
			serr.kind = ErrNotFound
		}
		return resp, serr
	}
}

// send makes one request; it runs inside the breaker. 5xx answers,
// timeouts and connection errors are failures; an error caused by the
// caller's context ending is not counted.
func (c *APIClient) send(ctx context.Context, r Request) (*Response, error) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(rctx, r.Method, r.URL, body)
	if err != nil {
		return nil, callerDone{ConfigError("build %s request: %v", c.opts.Provider, redact.Text(err.Error()))}
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if r.Body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", "blackwell-reconciler")
	hresp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, r, err)
	}
	defer hresp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(hresp.Body, c.opts.MaxBody+1))
	if err != nil {
		return nil, c.transportError(ctx, r, err)
	}
	if int64(len(b)) > c.opts.MaxBody {
		return nil, fmt.Errorf("%s %s %s: answer larger than %d bytes", c.opts.Provider, r.Method, redact.URL(r.URL), c.opts.MaxBody)
	}
	resp := &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: b}
	if resp.Status >= 500 {
		return resp, &StatusError{
			Provider: c.opts.Provider, Method: r.Method, URL: redact.URL(r.URL),
			Status: resp.Status, Message: c.opts.ErrorMessage(b), kind: ErrUnreachable,
		}
	}
	return resp, nil
}

func (c *APIClient) transportError(ctx context.Context, r Request, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // its message repeats the URL; ours is sanitised
	}
	if ctx.Err() != nil {
		return callerDone{fmt.Errorf("%s %s %s: %w", c.opts.Provider, r.Method, redact.URL(r.URL), ctx.Err())}
	}
	if errors.Is(err, egress.ErrRefused) {
		// The operator's egress allowlist refused the address: not the
		// endpoint's failure, so its breaker does not count it, and the
		// observation is unknown (ObservationOf).
		return callerDone{fmt.Errorf("%s %s %s: %w", c.opts.Provider, r.Method, redact.URL(r.URL), err)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s %s %s: no answer within %s", ErrUnreachable, c.opts.Provider, r.Method, redact.URL(r.URL), c.opts.Timeout)
	}
	return fmt.Errorf("%w: %s %s %s: %s", ErrUnreachable, c.opts.Provider, r.Method, redact.URL(r.URL), redact.Text(err.Error()))
}

func (c *APIClient) openError(ep *endpoint) error {
	ep.mu.Lock()
	opened := ep.openedAt
	ep.mu.Unlock()
	msg := fmt.Sprintf("%s %s: circuit breaker open after %d consecutive failures", c.opts.Provider, ep.base, c.opts.BreakerFailures)
	if !opened.IsZero() {
		if left := c.opts.BreakerCooldown - time.Since(opened); left > 0 {
			msg += fmt.Sprintf("; next trial in %s", left.Round(100*time.Millisecond))
		}
	}
	return fmt.Errorf("%w: %s", ErrUnreachable, msg)
}

// wait holds a request back while the endpoint is paused by a rate-limit
// answer (failing at once when the pause is longer than MaxRetryWait) and
// under the client-side rate limit.
func (c *APIClient) wait(ctx context.Context, ep *endpoint) error {
	ep.mu.Lock()
	d := time.Until(ep.pausedUntil)
	ep.mu.Unlock()
	if d > c.opts.MaxRetryWait {
		return fmt.Errorf("%w: %s %s asked to wait %s, more than %s", ErrRateLimited, c.opts.Provider, ep.base, d.Round(time.Millisecond), c.opts.MaxRetryWait)
	}
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := ep.limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s %s: client-side rate limit: %v", ErrRateLimited, c.opts.Provider, ep.base, err)
	}
	return nil
}

func (ep *endpoint) pause(d time.Duration) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if until := time.Now().Add(d); until.After(ep.pausedUntil) {
		ep.pausedUntil = until
	}
}

// RetryAfterHeader reads Retry-After as seconds (Shopify sends "2.0") or an
// HTTP date (RFC 9110 section 10.2.3).
func RetryAfterHeader(r *Response) (time.Duration, bool) {
	v := strings.TrimSpace(r.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return Seconds(secs)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t)), true
	}
	return 0, false
}

// Seconds converts a wait given in seconds, capped at a day (a provider
// asking for more is as good as down); false for a negative or NaN one.
func Seconds(secs float64) (time.Duration, bool) {
	if !(secs >= 0) {
		return 0, false
	}
	if secs > 86400 {
		secs = 86400
	}
	return time.Duration(secs * float64(time.Second)), true
}

// firstLine is the default ErrorMessage: the body's first line, at most 300
// bytes.
func firstLine(body []byte) string {
	s := strings.TrimSpace(string(body))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return Truncate(s, 300)
}

// Truncate bounds s to n bytes (on a rune boundary), marking a cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}

// JSON marshals v for a request body; the values here always marshal.
func JSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("provider: marshal request body: %v", err))
	}
	return b
}
