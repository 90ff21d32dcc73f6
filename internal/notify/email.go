package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
)

// Email sends each message as a multipart/alternative mail (plain text and
// HTML) through an SMTP server (RFC 5321): STARTTLS when the server offers
// it (RFC 3207), AUTH PLAIN (RFC 4954, 4616) when a username is set, and
// implicit TLS on port 465 (RFC 8314). net/smtp refuses to send a password
// over an unencrypted connection to anything but localhost, and so does
// this channel. 4xx replies and network failures are retried; 5xx replies
// (rejected recipient, bad credentials) and certificate failures are
// permanent. The Message-ID is derived from the idempotency key, so a
// redelivered mail can be recognised.
type Email struct {
	name    string
	host    string
	port    int
	user    string
	pass    string
	from    string
	to      []string
	subject string
	opts    ChannelOptions
}

// EmailConfig is what an email channel needs besides the shared options.
type EmailConfig struct {
	SMTP    *config.SMTP
	To      []string
	Subject string // subject prefix (default "[blackwell]")
}

// DefaultSMTPPort is the submission port (RFC 6409).
const DefaultSMTPPort = 587

// NewEmail returns the email channel of cfg.
func NewEmail(name string, cfg EmailConfig, opts ChannelOptions) (*Email, error) {
	opts = opts.withDefaults()
	if cfg.SMTP == nil || cfg.SMTP.Host == "" {
		return nil, fmt.Errorf("email channel %s: no smtp host", name)
	}
	if len(cfg.To) == 0 {
		return nil, fmt.Errorf("email channel %s: no addresses", name)
	}
	e := &Email{name: name, host: cfg.SMTP.Host, port: cfg.SMTP.Port, user: cfg.SMTP.Username,
		pass: cfg.SMTP.Password.Value(), subject: cleanHeader(cfg.Subject), opts: opts}
	if e.port == 0 {
		e.port = DefaultSMTPPort
	}
	if e.subject == "" {
		e.subject = "[blackwell]"
	}
	for _, a := range cfg.To {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return nil, fmt.Errorf("email channel %s: address %q: %w", name, a, err)
		}
		e.to = append(e.to, addr.Address)
	}
	from := cfg.SMTP.From
	if from == "" {
		from = "blackwell@" + e.host
		if _, err := mail.ParseAddress(e.user); err == nil && strings.Contains(e.user, "@") {
			from = e.user
		}
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("email channel %s: from %q: %w", name, from, err)
	}
	e.from = addr.Address
	return e, nil
}

// Name is the channel's name.
func (e *Email) Name() string { return e.name }

// Send delivers m to every address in one SMTP transaction.
func (e *Email) Send(ctx context.Context, m Message) error {
	msg, err := e.compose(m)
	if err != nil {
		return Permanent(fmt.Errorf("email: compose: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	addr := net.JoinHostPort(e.host, strconv.Itoa(e.port))
	conn, err := e.opts.DialContext(ctx, "tcp", addr)
	if errors.Is(err, egress.ErrRefused) {
		return Permanent(fmt.Errorf("smtp %s: %w", addr, err))
	}
	if err != nil {
		return Retryable(fmt.Errorf("smtp %s: %w", addr, err), 0)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	implicit := e.port == 465
	if implicit {
		tc := tls.Client(conn, e.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return e.smtpError(addr, "tls", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		return e.smtpError(addr, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(localName()); err != nil {
		return e.smtpError(addr, "ehlo", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !implicit {
		if err := c.StartTLS(e.tlsConfig()); err != nil {
			return e.smtpError(addr, "starttls", err)
		}
	}
	if e.user != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok || !slices.Contains(strings.Fields(strings.ToUpper(mechs)), "PLAIN") {
			return Permanent(fmt.Errorf("smtp %s: credentials are set but the server offers no AUTH PLAIN", addr))
		}
		if err := c.Auth(smtp.PlainAuth("", e.user, e.pass, e.host)); err != nil {
			return e.smtpError(addr, "auth", err)
		}
	}
	if err := c.Mail(e.from); err != nil {
		return e.smtpError(addr, "mail from", err)
	}
	for _, to := range e.to {
		if err := c.Rcpt(to); err != nil {
			return e.smtpError(addr, "rcpt to", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return e.smtpError(addr, "data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return e.smtpError(addr, "data", err)
	}
	if err := w.Close(); err != nil {
		return e.smtpError(addr, "data", err)
	}
	// The message is accepted once DATA is; a failed QUIT does not matter.
	_ = c.Quit()
	return nil
}

func (e *Email) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if e.opts.SMTPTLS != nil {
		cfg = e.opts.SMTPTLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = e.host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// smtpError classifies an SMTP failure: a 5xx reply or a certificate
// failure is permanent, a 4xx reply or a network failure retryable. SMTP
// replies and net errors never hold the password.
func (e *Email) smtpError(addr, step string, err error) error {
	wrapped := fmt.Errorf("smtp %s: %s: %w", addr, step, err)
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 500 {
			return Permanent(wrapped)
		}
		return Retryable(wrapped, 0)
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return Permanent(wrapped)
	}
	if step == "auth" && strings.Contains(err.Error(), "unencrypted connection") {
		return Permanent(wrapped)
	}
	return Retryable(wrapped, 0)
}

func localName() string {
	return "blackwell.localhost"
}

// compose renders the RFC 5322 message with CRLF line endings.
func (e *Email) compose(m Message) ([]byte, error) {
	var b bytes.Buffer
	boundary := randomBoundary()
	hdr := []struct{ k, v string }{
		{"From", e.from},
		{"To", strings.Join(e.to, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", cleanHeader(e.subject+" "+m.title()))},
		{"Date", m.Timestamp.UTC().Format(time.RFC1123Z)},
		{"Message-ID", "<" + messageIDLocal(m.IdempotencyKey) + "@blackwell>"},
		{"X-Blackwell-Idempotency-Key", cleanHeader(m.IdempotencyKey)},
		{"Auto-Submitted", "auto-generated"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/alternative; boundary="` + boundary + `"`},
	}
	if m.Timestamp.IsZero() {
		hdr[3].v = e.opts.Now().UTC().Format(time.RFC1123Z)
	}
	for _, h := range hdr {
		b.WriteString(h.k + ": " + h.v + "\r\n")
	}
	b.WriteString("\r\n")
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, err
	}
	html, err := emailHTML(m)
	if err != nil {
		return nil, err
	}
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", emailText(m)},
		{"text/html; charset=utf-8", html},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// emailRows are the labelled facts of a message, shared by both parts.
func emailRows(m Message) [][2]string {
	if m.Kind == KindDigest && m.Digest != nil {
		return [][2]string{
			{"Client", m.ClientID},
			{"Held back", strconv.Itoa(m.Digest.Held)},
			{"Since", m.Digest.Since.UTC().Format(time.RFC3339)},
			{"Until", m.Digest.Until.UTC().Format(time.RFC3339)},
		}
	}
	rows := [][2]string{
		{"Client", m.ClientID},
		{"Stack", m.StackID},
		{"Component", m.Component},
		{"Drift", string(m.Code) + " (" + string(m.DriftType) + ")"},
		{"Severity", string(m.Severity)},
		{"Expected", formatValue(m.Expected)},
		{"Observed", formatValue(m.Observed)},
		{"What the reconciler did", m.actionText()},
	}
	if m.Cause != "" {
		rows = append(rows, [2]string{"Upstream cause", m.Cause})
	}
	if m.ReconciliationID != "" {
		rows = append(rows, [2]string{"Reconciliation", m.ReconciliationID})
	}
	return rows
}

func emailText(m Message) string {
	var b strings.Builder
	b.WriteString(m.title() + "\n\n")
	for _, r := range emailRows(m) {
		b.WriteString(r[0] + ": " + r[1] + "\n")
	}
	if m.Kind == KindDigest && m.Digest != nil {
		b.WriteString("\n")
		for _, l := range digestLines(m.Digest) {
			b.WriteString("- " + l + "\n")
		}
	}
	if m.DashboardURL != "" {
		b.WriteString("\nDashboard: " + m.DashboardURL + "\n")
	}
	b.WriteString("Idempotency key: " + m.IdempotencyKey + "\n")
	return b.String()
}

var emailHTMLTemplate = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{.Title}}</h2>
<table cellpadding="4">
{{range .Rows}}<tr><th align="left" valign="top">{{index . 0}}</th><td><code>{{index . 1}}</code></td></tr>
{{end}}</table>
{{if .Lines}}<ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Link}}<p><a href="{{.Link}}">Open in the dashboard</a></p>{{end}}
<p style="color:#888">Idempotency key {{.Key}}</p>
</body></html>
`))

func emailHTML(m Message) (string, error) {
	data := struct {
		Title string
		Rows  [][2]string
		Lines []string
		Link  string
		Key   string
	}{Title: m.title(), Rows: emailRows(m), Link: m.DashboardURL, Key: m.IdempotencyKey}
	if m.Kind == KindDigest && m.Digest != nil {
		data.Lines = digestLines(m.Digest)
	}
	var b strings.Builder
	if err := emailHTMLTemplate.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// cleanHeader removes line breaks, which would inject headers.
func cleanHeader(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// messageIDLocal turns an idempotency key into a dot-atom (RFC 5322 §3.2.3).
func messageIDLocal(key string) string {
	var b strings.Builder
	dot := true // no leading dot
	for _, r := range key {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		switch {
		case ok:
			b.WriteRune(r)
			dot = false
		case !dot:
			b.WriteByte('.')
			dot = true
		}
	}
	s := strings.TrimSuffix(b.String(), ".")
	if s == "" {
		return "message"
	}
	return s
}

func randomBoundary() string {
	var buf [12]byte
	_, _ = rand.Read(buf[:])
	return "blackwell-" + hex.EncodeToString(buf[:])
}
