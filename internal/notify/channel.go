package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
)

// Channel delivers messages to one receiver. Send returns nil once the
// receiver accepted the message, a *RetryableError (possibly with
// RetryAfter) when a later attempt may succeed, or a *PermanentError when
// none will; an untyped error counts as retryable. Errors never hold
// secrets. Send is called by one goroutine at a time per channel.
type Channel interface {
	Name() string
	Send(ctx context.Context, m Message) error
}

// Filter is implemented by channels that take only some kinds of message
// (PagerDuty has no use for reminders: it re-notifies by itself). The
// dispatcher does not route a message a channel does not accept.
type Filter interface {
	Accepts(m Message) bool
}

// The channel types of config.ChannelSpec.Type.
const (
	TypeSlack     = "slack"
	TypeEmail     = "email"
	TypePagerDuty = "pagerduty"
	TypeWebhook   = "webhook"
	TypeNATS      = "nats"
	TypeSNS       = "sns"
)

// DefaultTimeout bounds one delivery attempt.
const DefaultTimeout = 15 * time.Second

// ChannelOptions are the collaborators and overrides shared by channels.
type ChannelOptions struct {
	// Logger receives nothing secret; nil discards.
	Logger *slog.Logger
	// HTTPClient sends slack, pagerduty, webhook and sns requests. Its redirect
	// policy is replaced: a redirect is a failure, not followed.
	HTTPClient *http.Client
	// DialContext connects email (SMTP) and nats channels (default: a
	// net.Dialer's). An error wrapping egress.ErrRefused, here or from
	// HTTPClient, fails the delivery for good (*PermanentError): the
	// operator's egress allowlist refused the receiver.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// Timeout bounds one attempt (default DefaultTimeout).
	Timeout time.Duration
	// Now is the clock (default time.Now); it stamps webhook signatures.
	Now func() time.Time
	// PagerDutyURL overrides the Events API v2 enqueue endpoint.
	PagerDutyURL string
	// SMTP is used by email channels that declare no smtp block.
	SMTP *config.SMTP
	// SMTPTLS is the TLS configuration for STARTTLS and implicit TLS
	// (ServerName is set to the SMTP host when empty), e.g. test roots.
	SMTPTLS *tls.Config
	// NATSURL is used by nats channels that declare no url (default
	// nats://127.0.0.1:4222).
	NATSURL string
	// NATSConn, when set, is used by nats channels instead of dialling.
	NATSConn *nats.Conn
}

// DefaultPagerDutyURL is the Events API v2 enqueue endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// DefaultNATSURL is the NATS server of nats channels that name none.
const DefaultNATSURL = "nats://127.0.0.1:4222"

func (o ChannelOptions) withDefaults() ChannelOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PagerDutyURL == "" {
		o.PagerDutyURL = DefaultPagerDutyURL
	}
	if o.NATSURL == "" {
		o.NATSURL = DefaultNATSURL
	}
	if o.DialContext == nil {
		var d net.Dialer
		o.DialContext = d.DialContext
	}
	hc := http.Client{}
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.HTTPClient = &hc
	return o
}

// NewChannel builds the channel of spec (secrets resolved) under name. It
// does no I/O: a nats channel connects, and an sns channel loads the AWS
// configuration, on its first Send. A spec with a Ref
// must be looked up first.
func NewChannel(name string, spec config.ChannelSpec, opts ChannelOptions) (Channel, error) {
	opts = opts.withDefaults()
	switch spec.Type {
	case TypeSlack:
		return NewSlack(name, spec.WebhookURL.Value(), opts)
	case TypeEmail:
		smtp := spec.SMTP
		if smtp == nil {
			smtp = opts.SMTP
		}
		return NewEmail(name, EmailConfig{SMTP: smtp, To: spec.Addresses, Subject: spec.Subject}, opts)
	case TypePagerDuty:
		return NewPagerDuty(name, spec.RoutingKey.Value(), opts)
	case TypeWebhook:
		return NewWebhook(name, spec.URL, spec.Secret.Value(), opts)
	case TypeNATS:
		u := spec.URL
		if u == "" {
			u = opts.NATSURL
		}
		return NewNATS(name, NATSConfig{URL: u, Subject: spec.Subject}, opts)
	case TypeSNS:
		return NewSNS(name, SNSConfig{
			TopicARN: spec.TopicARN, Region: spec.Region, Endpoint: spec.Endpoint,
			AccessKeyID: spec.AccessKeyID.Value(), SecretAccessKey: spec.SecretAccessKey.Value(),
			SessionToken: spec.SessionToken.Value(),
		}, opts)
	case "":
		if spec.Ref != "" {
			return nil, fmt.Errorf("channel %s: ref %q is not resolved", name, spec.Ref)
		}
	}
	return nil, fmt.Errorf("channel %s: unknown type %q", name, spec.Type)
}

// httpPost sends body to u and returns the status, headers and the first
// 4 KiB of the answer. A transport failure is retryable and its text never
// holds u (shown stands for it).
func httpPost(ctx context.Context, hc *http.Client, timeout time.Duration, u, shown string, hdr http.Header, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, Permanent(fmt.Errorf("post %s: bad request url", shown))
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := hc.Do(req)
	if errors.Is(err, egress.ErrRefused) {
		return 0, nil, nil, Permanent(transportError(shown, err))
	}
	if err != nil {
		return 0, nil, nil, Retryable(transportError(shown, err), 0)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, b, nil
}

// classifyHTTP turns an HTTP answer into nil (2xx), a RetryableError (408,
// 429 and 5xx, with the answer's Retry-After) or a PermanentError (any other
// status: the receiver rejected the message, or the endpoint is gone or
// forbidden; a 3xx is not followed, and so fails too).
func classifyHTTP(service string, status int, hdr http.Header, body []byte, now time.Time) error {
	if status >= 200 && status < 300 {
		return nil
	}
	err := fmt.Errorf("%s answered %d %s", service, status, bodySnippet(body))
	if status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500 {
		return Retryable(err, parseRetryAfter(hdr.Get("Retry-After"), now))
	}
	return Permanent(err)
}
