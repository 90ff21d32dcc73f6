package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// certReloader holds the certificate serve --tls-cert/--tls-key serves
// (Options.TLSCert, Options.TLSKey). It
// is read on every handshake (GetCertificate) and swapped atomically by
// reload, so SIGHUP replaces a renewed certificate without a restart and
// connections already open keep theirs.
type certReloader struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// CheckTLSFlags refuses --tls-cert without --tls-key and the reverse.
func CheckTLSFlags(certFile, keyFile string) error {
	switch {
	case certFile != "" && keyFile == "":
		return errors.New("--tls-cert needs --tls-key (BLACKWELL_TLS_KEY): give both to serve HTTPS, or neither")
	case certFile == "" && keyFile != "":
		return errors.New("--tls-key needs --tls-cert (BLACKWELL_TLS_CERT): give both to serve HTTPS, or neither")
	}
	return nil
}

// loadTLS is the certificate of --tls-cert and --tls-key, or nil when
// neither is set.
func loadTLS(certFile, keyFile string) (*certReloader, error) {
	if err := CheckTLSFlags(certFile, keyFile); err != nil {
		return nil, UsageError{err}
	}
	if certFile == "" {
		return nil, nil
	}
	return newCertReloader(certFile, keyFile)
}

// scheme is the scheme the server is reached with: https with a
// certificate, else http.
func (s *Server) scheme() string {
	if s.certs != nil {
		return "https"
	}
	return "http"
}

// newCertReloader loads the pair once: a server with --tls-cert does not
// start without a certificate.
func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the certificate and key files again and, when they make a
// valid pair, serves them from the next handshake on. On failure the
// certificate served so far stays. It returns the new leaf.
func (c *certReloader) reload() (*x509.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		// LoadX509KeyPair names neither file; its text holds no key.
		return nil, fmt.Errorf("load tls certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse tls certificate %s: %w", c.certFile, err)
		}
		cert.Leaf = leaf
	}
	c.cur.Store(&cert)
	return leaf, nil
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// tlsConfig is the server's TLS configuration: TLS 1.3 only (every client
// this server has, the CLI, browsers, curl, Alertmanager and provider
// webhooks, speaks it), the certificate from c.
func (c *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: c.getCertificate}
}

// reloadCertificate is the TLS part of a reload (SIGHUP): a certificate
// that does not load is logged and the previous one stays in service.
func (s *Server) reloadCertificate() {
	if s.certs == nil {
		return
	}
	leaf, err := s.certs.reload()
	if err != nil {
		s.log.Error("tls certificate reload refused; serving the previous certificate", "tls_cert", s.certs.certFile, "error", err)
		return
	}
	s.log.Info("tls certificate reloaded", "tls_cert", s.certs.certFile, "subject", leaf.Subject.String(),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
}
