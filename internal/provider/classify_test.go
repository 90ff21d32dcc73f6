package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
)

// answer is what a stub transport answers one request with.
type answer struct {
	status int
	header http.Header
	body   string
	// cutAfter > 0 cuts the body after that many bytes (the connection
	// drops: io.ErrUnexpectedEOF).
	cutAfter int
	// err is a transport error instead of an answer; errHang waits for
	// the request's context to end.
	err error
}

var errHang = errors.New("hang")

type stubTransport func(*http.Request) (*http.Response, error)

func (f stubTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type cutReader struct {
	r io.Reader
}

func (c cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (a answer) roundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case a.err == errHang:
		<-r.Context().Done()
		return nil, r.Context().Err()
	case a.err != nil:
		return nil, a.err
	}
	var body io.Reader = strings.NewReader(a.body)
	if a.cutAfter > 0 {
		body = cutReader{strings.NewReader(a.body[:a.cutAfter])}
	}
	h := a.header
	if h == nil {
		h = http.Header{"Content-Type": {"application/json"}}
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(body), Request: r}, nil
}

// observeList is what a driver's Observe does with one page: GET the
// account's listing, decode {"items": [...]} (items required) and
// classify a failure.
func observeList(ctx context.Context, c *APIClient, u string) Observation {
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, URL: u, Header: http.Header{"Authorization": {"Bearer sekret-token"}}})
	if err != nil {
		return ObservationOf("stub", AccountListing(err))
	}
	var body struct {
		Items *[]map[string]any `json:"items"`
	}
	if err := resp.Decode(&body); err != nil {
		return ObservationOf("stub", err)
	}
	if body.Items == nil {
		return ObservationOf("stub", fmt.Errorf("%w: no items", ErrInvalidAnswer))
	}
	return Listed("stub", nil)
}

func stubClient(a answer, opts APIClientOptions) *APIClient {
	opts.Provider = "stub"
	opts.HTTPClient = &http.Client{Transport: stubTransport(a.roundTrip)}
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	return NewAPIClient(opts)
}

func TestAnswerClassification(t *testing.T) {
	t.Parallel()
	html := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	const listURL = "https://acme.example/spaces/s1/hooks?token=q-secret"
	tests := []struct {
		name   string
		answer answer
		opts   APIClientOptions
		reach  drift.Reachability
		reason drift.Reason
		detail string
	}{
		{name: "listing", answer: answer{status: 200, body: `{"items":[]}`}, reach: drift.Reachable},
		{name: "html login page", answer: answer{status: 200, header: html, body: "<!DOCTYPE html><html>sign in</html>"},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "HTML page"},
		{name: "html without content type", answer: answer{status: 200, header: http.Header{}, body: "\n  <html>oops</html>"},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "HTML page"},
		{name: "truncated json", answer: answer{status: 200, body: `{"items":[{"id":"a"`},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "truncated"},
		{name: "body cut short", answer: answer{status: 200, body: `{"items":[{"id":"abcdef"}]}`, cutAfter: 9},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "cut short"},
		{name: "empty body", answer: answer{status: 200, body: ""},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "empty body"},
		{name: "json of another shape", answer: answer{status: 200, body: `{"status":"ok"}`},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "no items"},
		{name: "not json", answer: answer{status: 200, body: `items: []`},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "undecodable"},
		{name: "401", answer: answer{status: 401, body: `{"message":"bad token"}`},
			reach: drift.Unauthorized, reason: drift.ReasonUnauthorized, detail: "401"},
		{name: "403", answer: answer{status: 403, body: `{"message":"forbidden"}`},
			reach: drift.Unauthorized, reason: drift.ReasonUnauthorized, detail: "403"},
		{name: "404 from the provider", answer: answer{status: 404, body: `{"sys":{"id":"NotFound"}}`},
			reach: drift.NotFound, reason: drift.ReasonAccountMissing, detail: "404"},
		{name: "404 html page", answer: answer{status: 404, header: html, body: "<html>not here</html>"},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "404"},
		{name: "400", answer: answer{status: 400, body: `{"message":"bad limit"}`},
			reach: drift.Unknown, reason: drift.ReasonInvalidAnswer, detail: "400"},
		{name: "429 beyond the wait", answer: answer{status: 429, header: http.Header{"Retry-After": {"60"}}},
			reach: drift.Unknown, reason: drift.ReasonThrottled, detail: "429"},
		{name: "500", answer: answer{status: 500, body: `{"errors":"Internal"}`},
			reach: drift.Unreachable, reason: drift.ReasonUnreachable, detail: "500"},
		{name: "503 proxy page", answer: answer{status: 503, header: html, body: "<html>upstream down</html>"},
			reach: drift.Unreachable, reason: drift.ReasonUnreachable, detail: "503"},
		{name: "connection refused", answer: answer{err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
			reach: drift.Unreachable, reason: drift.ReasonUnreachable, detail: "refused"},
		{name: "dns", answer: answer{err: &net.DNSError{Err: "no such host", Name: "acme.example", IsNotFound: true}},
			reach: drift.Unreachable, reason: drift.ReasonUnreachable, detail: "no such host"},
		{name: "timeout", answer: answer{err: errHang}, opts: APIClientOptions{Timeout: 30 * time.Millisecond},
			reach: drift.Unreachable, reason: drift.ReasonTimeout, detail: "no answer within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := stubClient(tt.answer, tt.opts)
			obs := observeList(context.Background(), c, listURL)
			require.Equal(t, tt.reach, obs.Reachability, obs.Detail)
			require.Equal(t, tt.reason, obs.Reason, obs.Detail)
			require.Equal(t, tt.reason == "", obs.SubscriptionsKnown)
			require.Contains(t, obs.Detail, tt.detail)
			require.NotContains(t, obs.Detail, "q-secret")
			require.NotContains(t, obs.Detail, "sekret-token")
		})
	}
}

func TestCancelledAndBreakerOpenAndConfigClassification(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	obs := observeList(ctx, stubClient(answer{err: errHang}, APIClientOptions{}), "https://acme.example/x")
	require.Equal(t, drift.Unknown, obs.Reachability)
	require.Equal(t, drift.ReasonNotObserved, obs.Reason)

	c := stubClient(answer{status: 500}, APIClientOptions{BreakerFailures: 1})
	u := "https://user:pw@acme.example:8443/admin/hooks?token=q-secret"
	require.Equal(t, drift.ReasonUnreachable, observeList(context.Background(), c, u).Reason)
	obs = observeList(context.Background(), c, u)
	require.Equal(t, drift.Unreachable, obs.Reachability)
	require.Equal(t, drift.ReasonBreakerOpen, obs.Reason)
	require.Contains(t, obs.Detail, "stub endpoint https://acme.example:8443 after 1 consecutive failures; next trial in")
	require.NotContains(t, obs.Detail, "pw")
	require.NotContains(t, obs.Detail, "q-secret")
	require.Equal(t, "open", c.BreakerState(u))

	obs = observeList(context.Background(), c, "ftp://acme.example/x")
	require.Equal(t, drift.Unknown, obs.Reachability)
	require.Equal(t, drift.ReasonNotObserved, obs.Reason)
}

func TestClassifyOrder(t *testing.T) {
	t.Parallel()
	deadline := fmt.Errorf("list: %w", context.DeadlineExceeded)
	tests := []struct {
		err    error
		reach  drift.Reachability
		reason drift.Reason
	}{
		{nil, drift.Reachable, ""},
		{fmt.Errorf("x: %w: %w", ErrUnreachable, ErrBreakerOpen), drift.Unreachable, drift.ReasonBreakerOpen},
		{fmt.Errorf("x: %w: %w", ErrUnreachable, ErrTimeout), drift.Unreachable, drift.ReasonTimeout},
		{fmt.Errorf("wait: %w: %w", ErrRateLimited, context.DeadlineExceeded), drift.Unknown, drift.ReasonThrottled},
		{deadline, drift.Unknown, drift.ReasonTimeout},
		{fmt.Errorf("x: %w", context.Canceled), drift.Unknown, drift.ReasonNotObserved},
		{ConfigError("needs settings.shop"), drift.Unknown, drift.ReasonNotObserved},
		{errors.New("something else"), drift.Unknown, drift.ReasonNotObserved},
		{AccountListing(&StatusError{Status: 404, kind: ErrNotFound}), drift.Unknown, drift.ReasonInvalidAnswer},
		{AccountListing(&StatusError{Status: 404, kind: ErrNotFound, jsonBody: true}), drift.NotFound, drift.ReasonAccountMissing},
		{AccountListing(&StatusError{Status: 401, kind: ErrUnauthorized, jsonBody: true}), drift.Unauthorized, drift.ReasonUnauthorized},
	}
	for _, tt := range tests {
		reach, reason := Classify(tt.err)
		require.Equal(t, tt.reach, reach, "%v", tt.err)
		require.Equal(t, tt.reason, reason, "%v", tt.err)
	}
}

// FuzzAnswerClassification: whatever a provider answers (any status,
// content type and body), the observation is one of the four
// reachabilities with a known reason exactly when the list is not known,
// never a panic, and its detail holds no secret of the request.
func FuzzAnswerClassification(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"items":[]}`), 0)
	f.Add(200, "text/html", []byte("<html>login</html>"), 0)
	f.Add(200, "application/json", []byte(`{"items":[{"id":`), 0)
	f.Add(200, "application/json", []byte(`{"items":[{"id":"a"}]}`), 5)
	f.Add(404, "application/json", []byte(`{"message":"no such space"}`), 0)
	f.Add(429, "application/json", []byte(`{}`), 0)
	f.Add(503, "text/html", []byte("<html>bad gateway</html>"), 0)
	f.Add(302, "", []byte(nil), 0)
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, cut int) {
		if status < 100 || status > 999 {
			status = 200
		}
		a := answer{status: status, header: http.Header{"Content-Type": {contentType}, "Retry-After": {"0.001"}}, body: string(body)}
		if cut > 0 && cut < len(body) {
			a.cutAfter = cut
		}
		c := stubClient(a, APIClientOptions{MaxRetries: -1})
		obs := observeList(context.Background(), c, "https://acme.example/list?token=q-secret")
		switch obs.Reachability {
		case drift.Reachable, drift.Unreachable, drift.Unauthorized, drift.Unknown, drift.NotFound:
		default:
			t.Fatalf("reachability %q", obs.Reachability)
		}
		if obs.SubscriptionsKnown != (obs.Reason == "") {
			t.Fatalf("known %v with reason %q", obs.SubscriptionsKnown, obs.Reason)
		}
		if obs.SubscriptionsKnown && obs.Reachability != drift.Reachable {
			t.Fatalf("known but %s", obs.Reachability)
		}
		if !bytes.Contains(body, []byte("q-secret")) && strings.Contains(obs.Detail, "q-secret") {
			t.Fatalf("detail %q holds the query secret", obs.Detail)
		}
	})
}
