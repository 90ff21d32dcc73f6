package notify_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
)

// smtpFake is a real SMTP server (emersion/go-smtp) on 127.0.0.1: STARTTLS
// with a test certificate when tls is set, AUTH PLAIN (only after TLS, as
// go-smtp does unless told otherwise) when a password is set.
type smtpFake struct {
	host string
	port int
	pool *x509.CertPool

	user, pass string
	rcptErr    *smtp.SMTPError

	mu   sync.Mutex
	mail []smtpMail
}

type smtpMail struct {
	tls      bool
	authUser string
	from     string
	to       []string
	data     []byte
}

type smtpSession struct {
	f    *smtpFake
	conn *smtp.Conn
	cur  smtpMail
}

func (s *smtpSession) AuthMechanisms() []string {
	if s.f.pass == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.f.user || password != s.f.pass {
			return smtp.ErrAuthFailed
		}
		_, s.cur.tls = s.conn.TLSConnectionState()
		s.cur.authUser = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.f.pass != "" && s.cur.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.f.mu.Lock()
	rcptErr := s.f.rcptErr
	s.f.mu.Unlock()
	if rcptErr != nil {
		return rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := s.cur
	m.data = b
	if _, ok := s.conn.TLSConnectionState(); ok {
		m.tls = true
	}
	s.f.mu.Lock()
	s.f.mail = append(s.f.mail, m)
	s.f.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.cur = smtpMail{authUser: s.cur.authUser, tls: s.cur.tls} }
func (s *smtpSession) Logout() error { return nil }

func newSMTPFake(t *testing.T, withTLS bool, user, pass string) *smtpFake {
	t.Helper()
	f := &smtpFake{user: user, pass: pass}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{f: f, conn: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if withTLS {
		cert, pool := testCertificate(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		f.pool = pool
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := l.Addr().(*net.TCPAddr)
	f.host, f.port = "127.0.0.1", addr.Port
	return f
}

func (f *smtpFake) mails() []smtpMail {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]smtpMail(nil), f.mail...)
}

// testCertificate is a self-signed certificate for 127.0.0.1 and the pool
// that trusts it.
func testCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mx.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func newEmail(t *testing.T, f *smtpFake, user, pass string, pool *x509.CertPool) *notify.Email {
	t.Helper()
	spec := config.ChannelSpec{
		Type: "email", Addresses: []string{"ops@acme.example", "Oncall <oncall@acme.example>"}, Subject: "[acme]",
		SMTP: &config.SMTP{Host: f.host, Port: f.port, Username: user, Password: config.NewSecret(pass),
			From: "Blackwell <blackwell@agency.example>"},
	}
	ch, err := notify.NewChannel("ops-mail", spec, notify.ChannelOptions{
		SMTPTLS: &tls.Config{RootCAs: pool}, Timeout: 10 * time.Second,
	})
	require.NoError(t, err)
	return ch.(*notify.Email)
}

func TestEmailSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	f := newSMTPFake(t, true, "blackwell", "SMTP-PASSWORD-123")
	ch := newEmail(t, f, "blackwell", "SMTP-PASSWORD-123", f.pool)

	m := testMessage("d1", drift.SeverityHigh)
	require.NoError(t, ch.Send(t.Context(), m))

	mails := f.mails()
	require.Len(t, mails, 1)
	got := mails[0]
	require.True(t, got.tls, "authenticated and sent after STARTTLS")
	require.Equal(t, "blackwell", got.authUser)
	require.Equal(t, "blackwell@agency.example", got.from)
	require.Equal(t, []string{"ops@acme.example", "oncall@acme.example"}, got.to)

	msg, err := mail.ReadMessage(bytes.NewReader(got.data))
	require.NoError(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "[acme] [HIGH] webhook_broken on acme-corp/cms-ecom-prod (shopify.products/update): drift detected", subject)
	require.Equal(t, "<d1.detected.1@blackwell>", msg.Header.Get("Message-ID"))
	require.Equal(t, "d1:detected:1", msg.Header.Get("X-Blackwell-Idempotency-Key"))
	require.Equal(t, "1.0", msg.Header.Get("MIME-Version"))
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)

	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Equal(t, "quoted-printable", p.Header.Get("Content-Transfer-Encoding"))
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		require.NoError(t, err)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(body)
	}
	require.Len(t, parts, 2)
	text := parts["text/plain"]
	require.Contains(t, text, "Expected: {\"address\":\"https://blackwell.example/v1/webhooks/shopify/acme-corp\",\"topic\":\"products/update\"}")
	require.Contains(t, text, "Observed: (none)")
	require.Contains(t, text, "What the reconciler did: Recreated the webhook subscription.")
	require.Contains(t, text, "Dashboard: "+m.DashboardURL)
	html := parts["text/html"]
	require.Contains(t, html, "<h2>[HIGH] webhook_broken on acme-corp/cms-ecom-prod")
	require.Contains(t, html, `<a href="https://blackwell.example/?client_id=acme-corp&amp;drift_id=d1&amp;stack_id=cms-ecom-prod">`)
	require.Contains(t, html, "&#34;topic&#34;:&#34;products/update&#34;")
}

func TestEmailFailures(t *testing.T) {
	t.Parallel()
	const pass = "SMTP-PASSWORD-123"
	t.Run("wrong password is permanent", func(t *testing.T) {
		t.Parallel()
		f := newSMTPFake(t, true, "blackwell", pass)
		err := newEmail(t, f, "blackwell", "WRONG-PASSWORD-456", f.pool).Send(t.Context(), testMessage("d1", drift.SeverityHigh))
		require.True(t, notify.IsPermanent(err), "%v", err)
		require.Contains(t, err.Error(), "535")
		requireNoSecret(t, err.Error(), "WRONG-PASSWORD-456", pass)
	})
	t.Run("no AUTH without TLS: the password is never sent in clear", func(t *testing.T) {
		t.Parallel()
		f := newSMTPFake(t, false, "blackwell", pass)
		err := newEmail(t, f, "blackwell", pass, nil).Send(t.Context(), testMessage("d1", drift.SeverityHigh))
		require.True(t, notify.IsPermanent(err), "%v", err)
		require.Contains(t, err.Error(), "no AUTH PLAIN")
		require.Empty(t, f.mails())
	})
	t.Run("untrusted certificate is permanent", func(t *testing.T) {
		t.Parallel()
		f := newSMTPFake(t, true, "blackwell", pass)
		err := newEmail(t, f, "blackwell", pass, x509.NewCertPool()).Send(t.Context(), testMessage("d1", drift.SeverityHigh))
		require.True(t, notify.IsPermanent(err), "%v", err)
		require.Empty(t, f.mails())
	})
	t.Run("4xx reply is retryable", func(t *testing.T) {
		t.Parallel()
		f := newSMTPFake(t, true, "blackwell", pass)
		f.mu.Lock()
		f.rcptErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		f.mu.Unlock()
		err := newEmail(t, f, "blackwell", pass, f.pool).Send(t.Context(), testMessage("d1", drift.SeverityHigh))
		require.Error(t, err)
		require.False(t, notify.IsPermanent(err), "%v", err)
		require.Contains(t, err.Error(), "451")
	})
	t.Run("refused connection is retryable", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
		f := &smtpFake{host: "127.0.0.1", port: port}
		err = newEmail(t, f, "", "", nil).Send(t.Context(), testMessage("d1", drift.SeverityHigh))
		require.Error(t, err)
		require.False(t, notify.IsPermanent(err), "%v", err)
		require.Contains(t, err.Error(), strconv.Itoa(port))
	})
}

func TestEmailWithoutTLSOrAuth(t *testing.T) {
	t.Parallel()
	f := newSMTPFake(t, false, "", "")
	require.NoError(t, newEmail(t, f, "", "", nil).Send(t.Context(), testMessage("d1", drift.SeverityLow)))
	mails := f.mails()
	require.Len(t, mails, 1)
	require.False(t, mails[0].tls)
	require.True(t, strings.Contains(string(mails[0].data), "multipart/alternative"))
}
