package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/redact"
)

// NATS publishes each message as JSON to the JetStream subject
// "<subject>.<client_id>" (blackwell.drift-events.acme-corp), with
// Nats-Msg-Id set to the idempotency key: a stream with a duplicate window
// stores a redelivered message once. A stream must capture the subject;
// until one does, publishing fails (retryably). The channel dials on its
// first Send unless ChannelOptions.NATSConn hands it a connection, and
// Close closes only a connection it dialled.
type NATS struct {
	name    string
	url     string
	shown   string
	subject string
	opts    ChannelOptions

	mu    sync.Mutex
	nc    *nats.Conn
	own   bool
	js    jetstream.JetStream
	close bool
}

// NATSConfig is what a nats channel needs besides the shared options.
type NATSConfig struct {
	URL     string // nats://host:4222 (credentials in it are never shown)
	Subject string // subject prefix, e.g. blackwell.drift-events
}

// NewNATS returns the NATS channel of cfg.
func NewNATS(name string, cfg NATSConfig, opts ChannelOptions) (*NATS, error) {
	opts = opts.withDefaults()
	subj := strings.TrimSuffix(cfg.Subject, ".")
	if subj == "" || strings.ContainsAny(subj, " \t\r\n*>") {
		return nil, fmt.Errorf("nats channel %s: subject %q is not a publishable subject prefix", name, cfg.Subject)
	}
	u := cfg.URL
	if u == "" {
		u = opts.NATSURL
	}
	return &NATS{name: name, url: u, shown: redact.URL(u), subject: subj, opts: opts}, nil
}

// Name is the channel's name.
func (n *NATS) Name() string { return n.name }

// Subject is the subject a message for clientID is published to.
func (n *NATS) Subject(clientID string) string {
	return n.subject + "." + subjectToken(clientID)
}

// subjectToken makes s one subject token: dots, wildcards and whitespace
// become "_", and an empty one "_".
func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r <= ' ' {
			return '_'
		}
		return r
	}, s)
}

func (n *NATS) jetStream() (jetstream.JetStream, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.close {
		return nil, Permanent(errors.New("nats channel closed"))
	}
	if n.js != nil {
		return n.js, nil
	}
	nc := n.opts.NATSConn
	if nc == nil {
		// The dialer resolves the name itself (SkipHostLookup), so that
		// an egress check sees both the name and the address.
		c, err := nats.Connect(n.url, nats.Name("blackwell-notify"), nats.Timeout(n.opts.Timeout),
			nats.MaxReconnects(-1), nats.SkipHostLookup(),
			nats.SetCustomDialer(natsDialer{dial: n.opts.DialContext, timeout: n.opts.Timeout}))
		if errors.Is(err, egress.ErrRefused) {
			return nil, Permanent(fmt.Errorf("nats %s: connect: %s", n.shown, redact.Text(err.Error())))
		}
		if err != nil {
			return nil, Retryable(fmt.Errorf("nats %s: connect: %s", n.shown, redact.Text(err.Error())), 0)
		}
		nc, n.own = c, true
	}
	js, err := jetstream.New(nc)
	if err != nil {
		if n.own {
			nc.Close()
		}
		return nil, Retryable(fmt.Errorf("nats %s: jetstream: %s", n.shown, redact.Text(err.Error())), 0)
	}
	n.nc, n.js = nc, js
	return js, nil
}

// Send publishes m and waits for the stream's acknowledgement.
func (n *NATS) Send(ctx context.Context, m Message) error {
	js, err := n.jetStream()
	if err != nil {
		return err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return Permanent(fmt.Errorf("nats: encode message: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	msg := &nats.Msg{Subject: n.Subject(m.ClientID), Data: body, Header: nats.Header{}}
	msg.Header.Set("Content-Type", "application/json")
	msg.Header.Set("Blackwell-Kind", string(m.Kind))
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.IdempotencyKey)); err != nil {
		wrapped := &redactedError{
			msg: fmt.Sprintf("nats %s: publish %s: %s", n.shown, msg.Subject, redact.Text(err.Error())),
			err: err,
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code == 400 {
			return Permanent(wrapped)
		}
		return Retryable(wrapped, 0)
	}
	return nil
}

// Close closes the connection the channel dialled.
func (n *NATS) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.close = true
	if n.own && n.nc != nil {
		n.nc.Close()
	}
	n.nc, n.js = nil, nil
	return nil
}

// natsDialer connects nats with ChannelOptions.DialContext (nats.go's
// CustomDialer has no context: each dial gets the channel's timeout).
type natsDialer struct {
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
	timeout time.Duration
}

func (d natsDialer) Dial(network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	return d.dial(ctx, network, address)
}
