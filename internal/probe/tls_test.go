package probe_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/probe"
)

// selfSigned makes a certificate for 127.0.0.1 valid from notBefore to
// notAfter, and a pool that trusts it.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "probe test"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// serveTLS accepts TLS connections with cert on 127.0.0.1, completes the
// handshake and hangs up. It returns the address.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

// newQuietTLSServer is httptest.NewTLSServer without the server's log of
// the handshakes that tls probes cut short or refuse.
func newQuietTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestProbeTLS(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 9, 20, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour

	soonCert, soonPool := selfSigned(t, now.Add(-30*day), now.Add(3*day+time.Hour))
	soon := serveTLS(t, soonCert)
	expiredCert, expiredPool := selfSigned(t, now.Add(-90*day), time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC))
	expired := serveTLS(t, expiredCert)
	todayCert, todayPool := selfSigned(t, now.Add(-30*day), now.Add(time.Hour))
	today := serveTLS(t, todayCert)

	hts := newQuietTLSServer(t, http.NotFoundHandler())
	htsPool := x509.NewCertPool()
	htsPool.AddCert(hts.Certificate())
	htsAddr := hts.Listener.Addr().String()
	_, htsPort, _ := net.SplitHostPort(htsAddr)

	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)

	tests := []struct {
		name       string
		roots      *x509.CertPool
		address    string
		minDays    int
		wantStatus drift.ResourceStatus
		wantDetail string
		// wantNotAfter is the notAfter the probe reports; zero: none.
		wantNotAfter time.Time
		// noHandshake: no certificate was seen, so no notAfter either.
		noHandshake bool
	}{
		{"valid for years", htsPool, htsAddr, 0, drift.StatusHealthy, "certificate expires in 20950 days (2084-01-29)", time.Time{}, false},
		{"expires in 3 days", soonPool, soon, 0, drift.StatusUnhealthy, "certificate expires in 3 days (2026-09-23), want at least 14 days", now.Add(3*day + time.Hour), false},
		{"3 days is enough", soonPool, soon, 3, drift.StatusHealthy, "certificate expires in 3 days (2026-09-23)", now.Add(3*day + time.Hour), false},
		{"expires today", todayPool, today, 1, drift.StatusUnhealthy, "certificate expires in less than a day (2026-09-20), want at least 1 days", now.Add(time.Hour), false},
		{"expired", expiredPool, expired, 0, drift.StatusUnhealthy, "certificate expired 2026-09-01", time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), false},
		{"unknown authority", soonPool, htsAddr, 0, drift.StatusUnhealthy, "x509: certificate signed by unknown authority", time.Time{}, false},
		{"name mismatch", htsPool, "site.example.test:" + htsPort, 0, drift.StatusUnhealthy, "x509: certificate is valid for example.com, *.example.com, not site.example.test", time.Time{}, false},
		{"not tls", soonPool, plain.Listener.Addr().String(), 0, drift.StatusUnhealthy, "tls: ", time.Time{}, true},
		{"refused", soonPool, closedAddr(t), 0, drift.StatusUnhealthy, "connection refused by ", time.Time{}, true},
		{"name does not exist", soonPool, "nosuch.example.invalid:443", 0, drift.StatusMissing, "host nosuch.example.invalid not found", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(o *probe.Options) { o.RootCAs = tt.roots })
			b.clock.now = now
			obs := b.prober.Probe(t.Context(), "cert", config.Resource{
				Probe:        config.ProbeTLS,
				Address:      tt.address,
				MinDaysValid: tt.minDays,
			})
			require.Equal(t, tt.wantStatus, obs.Status, obs.Detail)
			require.Contains(t, obs.Detail, tt.wantDetail)
			if !tt.wantNotAfter.IsZero() {
				require.NotNil(t, obs.NotAfter, "a completed handshake reports the leaf's notAfter")
				require.Equal(t, tt.wantNotAfter.UTC(), *obs.NotAfter)
			}
			if tt.noHandshake {
				require.Nil(t, obs.NotAfter, "no handshake, no notAfter")
			}
		})
	}
}

func TestProbeTLSSystemRoots(t *testing.T) {
	t.Parallel()
	// Without RootCAs the system's roots are used, which do not hold the
	// test server's certificate.
	hts := newQuietTLSServer(t, http.NotFoundHandler())
	b := setup(t, nil)
	obs := b.prober.Probe(t.Context(), "cert", config.Resource{Probe: config.ProbeTLS, Address: hts.Listener.Addr().String()})
	require.Equal(t, drift.StatusUnhealthy, obs.Status)
	require.Contains(t, obs.Detail, "x509: ")
}

func TestProbeHTTPSUsesRootCAs(t *testing.T) {
	t.Parallel()
	hts := newQuietTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	pool := x509.NewCertPool()
	pool.AddCert(hts.Certificate())

	trusting := setup(t, func(o *probe.Options) { o.RootCAs = pool })
	obs := trusting.prober.Probe(t.Context(), "site", config.Resource{Probe: config.ProbeHTTP, URL: hts.URL})
	require.Equal(t, drift.StatusHealthy, obs.Status, obs.Detail)

	distrusting := setup(t, nil)
	obs = distrusting.prober.Probe(t.Context(), "site", config.Resource{Probe: config.ProbeHTTP, URL: hts.URL})
	require.Equal(t, drift.StatusUnhealthy, obs.Status)
	require.Contains(t, obs.Detail, "x509: ")
}
