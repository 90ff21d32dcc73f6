package egress

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// DialFunc is the shape of net.Dialer.DialContext and
// http.Transport.DialContext.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// DialContext returns a dial function that dials with d (a zero net.Dialer
// when nil) and, when p is set, checks every connection before it is made:
// the host name of the address being dialled and each address it resolves
// to, in d's ControlContext, after resolution. A refused address is not
// connected to (the next one of the name is tried); when none is allowed,
// the error wraps a *RefusedError (errors.Is(err, ErrRefused)). With a nil
// p it is d.DialContext.
func (p *Policy) DialContext(d *net.Dialer) DialFunc {
	if d == nil {
		d = &net.Dialer{}
	}
	if p == nil {
		return d.DialContext
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			host = address
		}
		nd := *d
		nd.Control = nil
		nd.ControlContext = p.control(host, d)
		return nd.DialContext(ctx, network, address)
	}
}

// control checks the resolved address of one connection attempt, then
// runs d's own control function, if any.
func (p *Policy) control(host string, d *net.Dialer) func(ctx context.Context, network, address string, c syscall.RawConn) error {
	return func(ctx context.Context, network, address string, c syscall.RawConn) error {
		ipText, _, err := net.SplitHostPort(address)
		if err != nil {
			ipText = address
		}
		ip, err := netip.ParseAddr(ipText)
		if err != nil {
			return &RefusedError{Host: host, Why: "the address " + address + " is not an IP address"}
		}
		if err := p.Allows(host, ip); err != nil {
			return err
		}
		switch {
		case d.ControlContext != nil:
			return d.ControlContext(ctx, network, address, c)
		case d.Control != nil:
			return d.Control(network, address, c)
		}
		return nil
	}
}

// Proxy wraps a proxy function (http.Transport.Proxy) so that a request
// sent through a proxy is checked by its host name (AllowsName): blackwell
// connects to the proxy, whose address the dialer checks, and the proxy
// resolves the target. With a nil p or next it returns next.
func (p *Policy) Proxy(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	if p == nil || next == nil {
		return next
	}
	return func(req *http.Request) (*url.URL, error) {
		u, err := next(req)
		if err != nil || u == nil {
			return u, err
		}
		if err := p.AllowsName(req.URL.Hostname()); err != nil {
			return nil, err
		}
		return u, nil
	}
}

// Transport returns an HTTP transport like http.DefaultTransport's (the
// proxy of HTTPS_PROXY/HTTP_PROXY, HTTP/2, keep-alives) whose connections
// are checked against p (DialContext, Proxy). With a nil p nothing is
// checked.
func (p *Policy) Transport() *http.Transport {
	return &http.Transport{
		Proxy:                 p.Proxy(http.ProxyFromEnvironment),
		DialContext:           p.DialContext(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// HTTPClient returns a client on Transport (redirects are followed as by
// http.Client, each one dialled and checked again), or nil when p is nil,
// so that a caller's own default client is used unchanged.
func (p *Policy) HTTPClient() *http.Client {
	if p == nil {
		return nil
	}
	return &http.Client{Transport: p.Transport()}
}

// hostOf is the host of a host:port or bare host, without brackets.
func hostOf(address string) string {
	if h, _, err := net.SplitHostPort(address); err == nil {
		return h
	}
	return strings.Trim(address, "[]")
}
