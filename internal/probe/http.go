package probe

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/redact"
)

const (
	userAgent = "blackwell-probe/1"
	// bodyChunk is the buffer size for matching a body as it streams in.
	bodyChunk = 32 << 10
)

// redirectLimitError stops a client after MaxRedirects redirects; url is
// where the redirect that was not followed pointed.
type redirectLimitError struct{ url string }

func (e *redirectLimitError) Error() string {
	return fmt.Sprintf("stopped after %d redirects", MaxRedirects)
}

// newHTTPClient is the default client of http probes: keep-alives and an
// idle pool per host as large as the bound on probes in flight, so that
// thousands of probes of one host reuse a few connections instead of
// opening (and leaving in TIME_WAIT) one each.
func newHTTPClient(dial egress.DialFunc, proxy func(*http.Request) (*url.URL, error), roots *x509.CertPool, concurrency int) *http.Client {
	t := &http.Transport{
		Proxy:                 proxy,
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(1024, concurrency),
		MaxIdleConnsPerHost:   concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{RootCAs: roots},
	}
	return &http.Client{
		Transport: t,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return &redirectLimitError{url: req.URL.String()}
			}
			return nil
		},
	}
}

// probeHTTP GETs r.URL. Latency is the time until the answer's headers.
func (p *Prober) probeHTTP(pc probeCtx, r config.Resource) drift.ResourceObservation {
	if r.URL == "" {
		return unknown("no url")
	}
	req, err := http.NewRequestWithContext(pc, http.MethodGet, r.URL, nil)
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return unknown("invalid url %s: want http(s)://host/path", redact.URL(r.URL))
	}
	req.Header.Set("User-Agent", userAgent)

	start := p.now()
	resp, err := p.client.Do(req)
	latency := p.now().Sub(start)
	if err != nil {
		var obs drift.ResourceObservation
		var limitErr *redirectLimitError
		if errors.As(err, &limitErr) {
			obs = unhealthy("more than %d redirects, last to %s", MaxRedirects, redact.URL(limitErr.url))
		} else {
			obs = pc.netFailure(err)
		}
		obs.Latency = latency
		return obs
	}
	defer func() {
		// Read what is left (bounded) so the connection goes back to the
		// pool.
		_, _ = io.CopyN(io.Discard, resp.Body, MaxBodyBytes)
		_ = resp.Body.Close()
	}()
	obs := p.judgeHTTP(pc, r, resp, latency)
	obs.Latency = latency
	return obs
}

func (p *Prober) judgeHTTP(pc probeCtx, r config.Resource, resp *http.Response, latency time.Duration) drift.ResourceObservation {
	code := resp.StatusCode
	if r.ExpectStatus == 0 || code != r.ExpectStatus {
		switch {
		case code == http.StatusNotFound || code == http.StatusGone:
			return missing("resource missing: status %d", code)
		case r.ExpectStatus != 0:
			return unhealthy("status %d, expected %d", code, r.ExpectStatus)
		case code < 200 || code >= 400:
			return unhealthy("status %d, expected 2xx or 3xx", code)
		}
	}
	if limit := r.MaxLatency.D(); limit > 0 && latency > limit {
		return unhealthy("slow: answered in %s, max %s", roundDuration(latency), limit)
	}
	if r.BodyMatch != "" {
		found, err := p.bodyContains(resp.Body, r.BodyMatch)
		if err != nil {
			if obs, ok := pc.interrupted(); ok {
				return obs
			}
			return unhealthy("read body: %v", err)
		}
		if !found {
			return unhealthy("body does not contain %q", shorten(r.BodyMatch, 40))
		}
	}
	return healthy("status %d in %s", code, roundDuration(latency))
}

// bodyContains reports whether the first MaxBodyBytes of body contain
// needle. It matches as the body streams in, holding one chunk at a time.
func (p *Prober) bodyContains(body io.Reader, needle string) (bool, error) {
	body = io.LimitReader(body, MaxBodyBytes)
	want := []byte(needle)
	if len(want) > bodyChunk/2 {
		all, err := io.ReadAll(body)
		return bytes.Contains(all, want), err
	}
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	buf := *bp
	keep := 0 // bytes carried over from the previous read
	for {
		n, err := body.Read(buf[keep:])
		if n > 0 {
			window := buf[:keep+n]
			if bytes.Contains(window, want) {
				return true, nil
			}
			keep = min(len(want)-1, len(window))
			copy(buf, window[len(window)-keep:])
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// roundDuration keeps a latency readable: 12ms, 250µs, 1.5s.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
