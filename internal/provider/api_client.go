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
	// DefaultBreakerCooldown is the first open period of a breaker; it
	// doubles after each failed trial up to DefaultBreakerMaxCooldown.
	DefaultBreakerCooldown    = time.Second
	DefaultBreakerMaxCooldown = 30 * time.Second
	DefaultRateLimit          = rate.Limit(10)
	DefaultMaxBody            = 4 << 20
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
	// connection errors, cut answers) open an endpoint's circuit breaker;
	// while it is open, calls fail at once with ErrBreakerOpen (which
	// matches ErrUnreachable too), naming the endpoint.
	BreakerFailures int
	// BreakerCooldown is how long a breaker first stays open before one
	// trial call is let through; each failed trial doubles it, up to
	// BreakerMaxCooldown, and a successful one resets it.
	BreakerCooldown    time.Duration
	BreakerMaxCooldown time.Duration
	// RateLimit and Burst bound the requests per second sent for one
	// provider account (Request.Account), whatever the provider says.
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
	// Now is the clock of breaker cooldowns (default time.Now).
	Now func() time.Time
}

// APIClient sends a provider's management API requests with a timeout, a
// client-side rate limit and 429/Retry-After pauses per provider account,
// and a circuit breaker per endpoint (scheme and host). Sixteen shops
// behind one api_base (a proxy, a fake) are sixteen rate-limit buckets and
// one breaker: the bucket is the provider's per account, the breaker is
// about the host answering at all. It is safe for concurrent use.
type APIClient struct {
	opts APIClientOptions
	http *http.Client

	mu       sync.Mutex
	breakers map[string]*breaker // by scheme://host
	accounts map[string]*account // by Request.Account (or scheme://host)
}

// account is the rate-limit state kept per provider account.
type account struct {
	limiter *priorityLimiter

	mu          sync.Mutex
	pausedUntil time.Time
}

// Request is one API call.
type Request struct {
	Method string
	URL    string
	Header http.Header
	// Body is sent as is (JSON for every API here).
	Body []byte
	// Account is the AccountKey of the provider account the call is
	// made for: its rate limit and pauses. Empty: the endpoint's host.
	Account string
	// Write puts the call ahead of waiting reads in its account's rate
	// limit. Calls other than GET and HEAD, and every call under a
	// ForHeal context, are writes anyway.
	Write bool
}

// Response is an answer that was read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the answer body; an answer that is not the JSON
// expected is ErrInvalidAnswer.
func (r *Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidAnswer, describeBody(r, err))
	}
	return nil
}

// describeBody says what is wrong with a body that did not decode, without
// quoting it (it may hold anything).
func describeBody(r *Response, err error) string {
	ct := ""
	if r.Header != nil {
		ct = r.Header.Get("Content-Type")
	}
	switch {
	case looksHTML(ct, r.Body):
		return "an HTML page instead of JSON (a proxy, a login or an error page?)"
	case len(bytes.TrimSpace(r.Body)) == 0:
		return "an empty body instead of JSON"
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON"):
		return fmt.Sprintf("a truncated JSON body (%d bytes)", len(r.Body))
	}
	return "undecodable body: " + Truncate(err.Error(), 200)
}

// looksHTML reports an HTML answer by its Content-Type or its first byte.
func looksHTML(contentType string, body []byte) bool {
	if strings.Contains(strings.ToLower(contentType), "html") {
		return true
	}
	b := bytes.TrimSpace(body)
	return len(b) > 0 && b[0] == '<'
}

// looksJSON reports a body that starts like a JSON object or array.
func looksJSON(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
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
	// jsonBody: the body is JSON (the provider's own error), not a
	// proxy's or a wrong host's page.
	jsonBody bool
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s %s answered %d %s", e.Provider, e.Method, e.URL, e.Status, http.StatusText(e.Status))
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
	if opts.BreakerMaxCooldown <= 0 {
		opts.BreakerMaxCooldown = max(DefaultBreakerMaxCooldown, opts.BreakerCooldown)
	}
	if opts.Now == nil {
		opts.Now = time.Now
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
	return &APIClient{opts: opts, http: hc, breakers: map[string]*breaker{}, accounts: map[string]*account{}}
}

// Provider is the provider name the client reports in errors.
func (c *APIClient) Provider() string { return c.opts.Provider }

// BreakerState reports the state of the breaker of the endpoint of rawURL
// ("closed" for an endpoint not called yet, "open" while calls fail at
// once, "half-open" while a trial may go through).
func (c *APIClient) BreakerState(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "closed"
	}
	c.mu.Lock()
	b := c.breakers[u.Scheme+"://"+u.Host]
	c.mu.Unlock()
	if b == nil {
		return "closed"
	}
	return b.state()
}

// BreakerCooldown is the cooldown of the current or next open period of
// the breaker of rawURL's endpoint (0 for an endpoint not called yet).
func (c *APIClient) BreakerCooldown(rawURL string) time.Duration {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0
	}
	c.mu.Lock()
	b := c.breakers[u.Scheme+"://"+u.Host]
	c.mu.Unlock()
	if b == nil {
		return 0
	}
	return b.currentCooldown()
}

func (c *APIClient) breaker(base string) *breaker {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.breakers[base]
	if b == nil {
		b = newBreaker(c.opts.Provider, redact.URL(base), c.opts.BreakerFailures, c.opts.BreakerCooldown, c.opts.BreakerMaxCooldown, c.opts.Now)
		c.breakers[base] = b
	}
	return b
}

func (c *APIClient) account(key string) *account {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.accounts[key]
	if a == nil {
		a = &account{limiter: newPriorityLimiter(c.opts.RateLimit, c.opts.Burst)}
		c.accounts[key] = a
	}
	return a
}

// Do sends r and reads the answer. Any 2xx or 3xx answer is returned with a
// nil error, unless it is an HTML page (ErrInvalidAnswer); an error answer
// is returned with a *StatusError. A 429 is retried after the wait it asks
// for, while that wait is within MaxRetryWait and retries are left.
func (c *APIClient) Do(ctx context.Context, r Request) (*Response, error) {
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, ConfigError("%s API URL %q is not an absolute http(s) URL", c.opts.Provider, redact.URL(r.URL))
	}
	base := u.Scheme + "://" + u.Host
	br := c.breaker(base)
	key := r.Account
	if key == "" {
		key = base
	}
	acct := c.account(key)
	write := r.Write || IsHeal(ctx) || (r.Method != http.MethodGet && r.Method != http.MethodHead)
	for attempt := 0; ; attempt++ {
		if err := c.wait(ctx, acct, write); err != nil {
			return nil, err
		}
		resp, err := br.execute(func() (*Response, error) { return c.send(ctx, r) })
		if resp == nil {
			return nil, err
		}
		if c.opts.Throttle != nil {
			if d := c.opts.Throttle(resp); d > 0 {
				acct.pause(d)
			}
		}
		if err != nil {
			return resp, err // 5xx, already a *StatusError
		}
		if resp.Status < 400 {
			if looksHTML(resp.Header.Get("Content-Type"), resp.Body) {
				return resp, fmt.Errorf("%w: %s %s %s answered %d with an HTML page instead of JSON (a proxy, a login or an error page?)",
					ErrInvalidAnswer, c.opts.Provider, r.Method, redact.URL(r.URL), resp.Status)
			}
			return resp, nil
		}
		serr := &StatusError{
			Provider: c.opts.Provider, Method: r.Method, URL: redact.URL(r.URL),
			Status: resp.Status, Message: c.opts.ErrorMessage(resp.Body), jsonBody: looksJSON(resp.Body),
		}
		switch resp.Status {
		case http.StatusTooManyRequests:
			serr.kind = ErrRateLimited
			wait, ok := c.opts.RetryAfter(resp)
			if !ok || wait <= 0 {
				wait = time.Second
			}
			acct.pause(wait)
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
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return nil, c.transportError(ctx, r, err)
		}
		// The status and headers came, the body was cut short.
		return nil, fmt.Errorf("%w: %s %s %s answered %d with a body cut short after %d bytes: %s",
			ErrInvalidAnswer, c.opts.Provider, r.Method, redact.URL(r.URL), hresp.StatusCode, len(b), redact.Text(err.Error()))
	}
	if int64(len(b)) > c.opts.MaxBody {
		return nil, fmt.Errorf("%w: %s %s %s: answer larger than %d bytes", ErrInvalidAnswer, c.opts.Provider, r.Method, redact.URL(r.URL), c.opts.MaxBody)
	}
	resp := &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: b}
	logCall(ctx, resp.Status, hresp.Header) // the forecasts' refused answers and provider notices (CallLog)
	if resp.Status >= 500 {
		return resp, &StatusError{
			Provider: c.opts.Provider, Method: r.Method, URL: redact.URL(r.URL),
			Status: resp.Status, Message: c.opts.ErrorMessage(b), kind: ErrUnreachable, jsonBody: looksJSON(b),
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
	var nerr interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()) {
		return fmt.Errorf("%w: %w: %s %s %s: no answer within %s", ErrUnreachable, ErrTimeout, c.opts.Provider, r.Method, redact.URL(r.URL), c.opts.Timeout)
	}
	return fmt.Errorf("%w: %s %s %s: %s", ErrUnreachable, c.opts.Provider, r.Method, redact.URL(r.URL), redact.Text(err.Error()))
}

// wait holds a request back while the account is paused by a rate-limit
// answer (failing at once when the pause is longer than MaxRetryWait) and
// under the client-side rate limit, writes ahead of reads.
func (c *APIClient) wait(ctx context.Context, ep *account, write bool) error {
	ep.mu.Lock()
	d := time.Until(ep.pausedUntil)
	ep.mu.Unlock()
	if d > c.opts.MaxRetryWait {
		return fmt.Errorf("%w: %s asked to wait %s, more than %s", ErrRateLimited, c.opts.Provider, d.Round(time.Millisecond), c.opts.MaxRetryWait)
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
	if err := ep.limiter.Wait(ctx, write); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			// The pass's time ran out in the account's queue: throttled
			// (by us, on the provider's behalf).
			return fmt.Errorf("%w: %s: waiting for the client-side rate limit: %w", ErrRateLimited, c.opts.Provider, err)
		}
		return fmt.Errorf("%s: waiting for the client-side rate limit: %w", c.opts.Provider, err)
	}
	return nil
}

func (ep *account) pause(d time.Duration) {
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
