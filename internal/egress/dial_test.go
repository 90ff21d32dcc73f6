package egress

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDialTimeCheck dials a local server through DialContext and an HTTP
// client on Transport: refused unless its address is listed.
func TestDialTimeCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "inside") }))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	cases := []struct {
		policy, host string
		ok           bool
	}{
		{"", "127.0.0.1", true}, // no policy: the self-hosted default
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.0/8", "localhost", true},
		{"public", "127.0.0.1", false},
		{"public", "localhost", false},
		{"10.0.0.0/8", "127.0.0.1", false},
		// A host name entry is judged by the address the name resolves to
		// when it is dialled: localhost is loopback, so refused.
		{"localhost", "localhost", false},
	}
	for _, c := range cases {
		t.Run(c.policy+" "+c.host, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(c.policy)
			require.NoError(t, err)
			addr := net.JoinHostPort(c.host, port)

			conn, err := p.DialContext(nil)(context.Background(), "tcp", addr)
			if c.ok {
				require.NoError(t, err)
				require.NoError(t, conn.Close())
			} else {
				require.ErrorIs(t, err, ErrRefused)
				require.ErrorContains(t, err, "connection to "+c.host)
			}

			hc := &http.Client{Transport: p.Transport()}
			t.Cleanup(hc.CloseIdleConnections)
			resp, err := hc.Get("http://" + addr + "/")
			if c.ok {
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				require.Equal(t, "inside", string(body))
				return
			}
			require.ErrorIs(t, err, ErrRefused)
		})
	}
}

// TestDialKeepsTheDialersControl: the base dialer's own control function
// still runs after the check.
func TestDialKeepsTheDialersControl(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	p, err := Parse("127.0.0.1")
	require.NoError(t, err)
	called := make(chan string, 1)
	d := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		called <- address
		return nil
	}}
	conn, err := p.DialContext(d)(context.Background(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.Equal(t, ln.Addr().String(), <-called)
}

// TestProxyChecksTheTargetByName: through a proxy the target's address is
// the proxy's to resolve, so the request is judged by its host name.
func TestProxyChecksTheTargetByName(t *testing.T) {
	t.Parallel()
	proxyURL, err := url.Parse("http://proxy.example:3128")
	require.NoError(t, err)
	viaProxy := func(*http.Request) (*url.URL, error) { return proxyURL, nil }
	p, err := Parse("hooks.example.com")
	require.NoError(t, err)
	proxy := p.Proxy(viaProxy)

	req := httptest.NewRequest(http.MethodGet, "http://hooks.example.com/x", nil)
	u, err := proxy(req)
	require.NoError(t, err)
	require.Equal(t, proxyURL, u)

	req = httptest.NewRequest(http.MethodGet, "http://intranet.corp/x", nil)
	_, err = proxy(req)
	require.ErrorIs(t, err, ErrRefused)
	require.True(t, strings.Contains(err.Error(), "intranet.corp"))

	// No proxy for the request: nothing to check here (the dialer does).
	direct := p.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil })
	u, err = direct(req)
	require.NoError(t, err)
	require.Nil(t, u)

	// No policy: the proxy function as it is.
	require.Nil(t, (*Policy)(nil).Proxy(nil))
}
