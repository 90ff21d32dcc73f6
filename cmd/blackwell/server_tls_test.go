package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
)

// testCA is a certificate authority made for one test; it signs server
// certificates for 127.0.0.1 and localhost.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "blackwell test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// writeLeaf writes a server certificate with the given serial number and
// its key to certFile and keyFile.
func (ca *testCA) writeLeaf(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "blackwell"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
}

// servedSerial connects with TLS 1.3 and returns the serial number of the
// certificate the server presents.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13})
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestServeTLS serves the API over TLS 1.3 with a generated certificate:
// a TLS 1.2 client is refused, the CLI trusts a private CA with --ca-file,
// and a reload (what SIGHUP calls) serves a replaced certificate without a
// restart, while one that does not load leaves the old one in service.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.writeLeaf(t, 101, certFile, keyFile)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.pem, 0o600))

	logs := &syncBuffer{}
	srv, err := startServer(context.Background(), serverOptions{
		listen: "127.0.0.1:0", storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"),
		tlsCert: certFile, tlsKey: keyFile, logOut: logs,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	addr := srv.Addr()
	require.Contains(t, logs.String(), `"public_url":"https://`+addr+`"`, "the default public URL follows the scheme")

	// TLS 1.2 at most: refused.
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12})
	require.Error(t, err)
	require.Contains(t, err.Error(), "protocol version")

	// TLS 1.3: served, HTTP/2 or 1.1 alike.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}}
	t.Cleanup(hc.CloseIdleConnections)
	resp, err := hc.Get("https://" + addr + "/healthz")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version)
	require.Equal(t, int64(101), servedSerial(t, addr, ca.pool))

	// The CLI: --ca-file trusts the private CA; without it, a clear error.
	out, errOut, code := runCLI(t, "status", "--server", "https://"+addr, "--ca-file", caFile, "--token", srv.bootstrapToken, "-o", "json")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	_, errOut, code = runCLI(t, "status", "--server", "https://"+addr, "--ca-file", "")
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "--ca-file")
	_, errOut, code = runCLI(t, "status", "--server", "https://"+addr, "--ca-file", filepath.Join(dir, "tls.key"))
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "holds no PEM certificate")

	// A renewed certificate in the same files: served after a reload, by
	// the same process.
	ca.writeLeaf(t, 102, certFile, keyFile)
	require.Equal(t, int64(101), servedSerial(t, addr, ca.pool), "nothing changes before the reload")
	require.NoError(t, srv.Reload(context.Background()))
	require.Equal(t, int64(102), servedSerial(t, addr, ca.pool))
	require.Contains(t, logs.String(), "tls certificate reloaded")

	// A broken file: the reload is refused and logged, the old
	// certificate stays.
	require.NoError(t, os.WriteFile(certFile, []byte("not a certificate"), 0o600))
	require.NoError(t, srv.Reload(context.Background()))
	require.Equal(t, int64(102), servedSerial(t, addr, ca.pool))
	require.Contains(t, logs.String(), "tls certificate reload refused; serving the previous certificate")
	require.NotContains(t, logs.String(), "PRIVATE KEY")
}

func TestServeTLSFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "blackwell.db")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "a.pem"}, "--tls-cert needs --tls-key"},
		{[]string{"--tls-key", "a.key"}, "--tls-key needs --tls-cert"},
		{[]string{"--egress-allow", "https://example.com"}, "--egress-allow: egress allowlist entry"},
		{[]string{"--egress-allow", "*"}, `"public" allows every public address`},
	}
	for _, c := range cases {
		_, errOut, code := runCLI(t, append([]string{"serve", "--store", db, "--listen", "127.0.0.1:0"}, c.args...)...)
		require.Equal(t, exitUsage, code, errOut)
		require.Contains(t, errOut, c.want)
	}
	_, err := os.Stat(filepath.Join(dir, "blackwell.db"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing was opened")

	// A certificate that does not load: the server does not start.
	_, err = startServer(context.Background(), serverOptions{
		listen: "127.0.0.1:0", storeURL: db, logOut: io.Discard,
		tlsCert: filepath.Join(dir, "missing.crt"), tlsKey: filepath.Join(dir, "missing.key"),
	})
	require.ErrorContains(t, err, "load tls certificate")
}

// TestServeEgressAllowlistMakesRefusedProbesUnknown: with --egress-allow
// public, a probe of a loopback site that fails is refused at dial time,
// which is unknown, not drift; passes keep running.
func TestServeEgressAllowlistMakesRefusedProbesUnknown(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	require.NoError(t, site.SetMode(sim.ModeFailing)) // 503: unhealthy, were it probed

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(e2eConfig(site.URL(), "")), 0o600))
	pol, err := egress.Parse("public")
	require.NoError(t, err)
	srv, err := startServer(context.Background(), serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard, egress: pol,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	e := &e2e{srv: srv, base: "http://" + srv.Addr(), token: srv.bootstrapToken}

	// Passes every second; confirmation needs 2 observations or 3 s: four
	// passes would have confirmed a resource_unhealthy drift.
	poll.Until(t, time.Minute, "four passes", func() bool {
		var res struct{ Items []any }
		e.getJSON(t, "/v1/clients/acme/reconciliations?limit=10", &res)
		return len(res.Items) >= 4
	})
	var ds driftStatus
	e.getJSON(t, "/v1/clients/acme/drift", &ds)
	require.False(t, ds.HasDrift, "%+v", ds)
	require.Zero(t, site.Requests(), "the site was never reached")
}
