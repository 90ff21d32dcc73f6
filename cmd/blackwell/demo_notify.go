package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// The demo's notification defaults.
const (
	demoNATSURL     = notify.DefaultNATSURL
	demoNATSSubject = "blackwell.drift-events"
	demoSMTPUser    = "blackwell"
)

// demoReceivers are the local receivers the demo's notification channels
// deliver to: a Slack incoming webhook, PagerDuty's Events API, a Standard
// Webhooks endpoint, an SMTP server with STARTTLS and AUTH PLAIN (all
// internal/sim), and the NATS server on this machine when it answers.
type demoReceivers struct {
	slack *sim.SlackReceiver
	pd    *sim.PagerDutyReceiver
	hook  *sim.WebhookReceiver
	mail  *sim.SMTPReceiver
	nats  *sim.NATSReceiver // nil: no NATS with JetStream answered
	// natsErr says why there is no nats receiver.
	natsErr           error
	natsURL, natsSubj string
	smtpPassword      string
}

// startDemoReceivers starts the receivers; each accepted notification is
// handed to on.
func startDemoReceivers(ctx context.Context, o demoOptions, on func(sim.Notification)) (_ *demoReceivers, err error) {
	r := &demoReceivers{natsURL: orString(o.natsURL, demoNATSURL), natsSubj: orString(o.natsSubject, demoNATSSubject),
		smtpPassword: "demo-" + uuid.NewString()[:8]}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	opts := sim.ReceiverOptions{OnReceive: on}
	if r.slack, err = sim.NewSlackReceiver(opts); err != nil {
		return nil, err
	}
	if r.pd, err = sim.NewPagerDutyReceiver("", opts); err != nil {
		return nil, err
	}
	if r.hook, err = sim.NewWebhookReceiver("", opts); err != nil {
		return nil, err
	}
	if r.mail, err = sim.NewSMTPReceiver(sim.SMTPReceiverOptions{ReceiverOptions: opts, STARTTLS: true,
		Username: demoSMTPUser, Password: r.smtpPassword}); err != nil {
		return nil, err
	}
	r.nats, r.natsErr = sim.NewNATSReceiver(ctx, sim.NATSReceiverOptions{ReceiverOptions: opts,
		URL: r.natsURL, Subject: r.natsSubj, Timeout: 2 * time.Second})
	return r, nil
}

// Close stops every receiver (the NATS one deletes the stream it created).
func (r *demoReceivers) Close() {
	if r.slack != nil {
		r.slack.Close()
	}
	if r.pd != nil {
		r.pd.Close()
	}
	if r.hook != nil {
		r.hook.Close()
	}
	if r.mail != nil {
		r.mail.Close()
	}
	if r.nats != nil {
		r.nats.Close()
	}
}

// env holds the secrets the generated config refers to.
func (r *demoReceivers) env() map[string]string {
	return map[string]string{
		"BLACKWELL_DEMO_SLACK_WEBHOOK_URL":     r.slack.URL(),
		"BLACKWELL_DEMO_PAGERDUTY_ROUTING_KEY": r.pd.RoutingKey(),
		"BLACKWELL_DEMO_WEBHOOK_SECRET":        r.hook.Secret(),
		"BLACKWELL_DEMO_SMTP_PASSWORD":         r.smtpPassword,
	}
}

// channelOptions point the pagerduty channel at the local Events API and
// make the email channel trust the SMTP receiver's certificate.
func (r *demoReceivers) channelOptions() notify.ChannelOptions {
	return notify.ChannelOptions{PagerDutyURL: r.pd.URL(), SMTPTLS: &tls.Config{RootCAs: r.mail.RootCAs()},
		NATSURL: r.natsURL}
}

// demoChannelDoc is one NotificationChannel document.
const demoChannelDoc = `---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: %s}
spec: %s
`

// config returns the NotificationChannel documents and the refs a policy
// lists in notifications.channels. The threshold is low: every drift of
// the demo is announced.
func (r *demoReceivers) config() (docs string, refs []string) {
	var b strings.Builder
	add := func(name, spec string) {
		fmt.Fprintf(&b, demoChannelDoc, name, spec)
		refs = append(refs, "{ref: "+name+"}")
	}
	add("demo-slack", `{type: slack, webhook_url: "${BLACKWELL_DEMO_SLACK_WEBHOOK_URL}", severity_threshold: low}`)
	add("demo-pagerduty", `{type: pagerduty, routing_key: "${BLACKWELL_DEMO_PAGERDUTY_ROUTING_KEY}", severity_threshold: low}`)
	add("demo-email", fmt.Sprintf(`{type: email, addresses: [ops@demo.example], severity_threshold: low, smtp: {host: %q, port: %d, username: %s, password: "${BLACKWELL_DEMO_SMTP_PASSWORD}", from: blackwell@demo.example}}`,
		r.mail.Host(), r.mail.Port(), demoSMTPUser))
	add("demo-webhook", fmt.Sprintf(`{type: webhook, url: %q, secret: "${BLACKWELL_DEMO_WEBHOOK_SECRET}", severity_threshold: low}`, r.hook.URL()))
	if r.nats != nil {
		add("demo-nats", fmt.Sprintf(`{type: nats, url: %q, subject: %q, severity_threshold: low}`, r.natsURL, r.natsSubj))
	}
	return b.String(), refs
}

// describe is the banner's account of the receivers.
func (r *demoReceivers) describe() string {
	var b strings.Builder
	b.WriteString("Notifications go to local receivers: Slack (incoming webhook), PagerDuty (Events API v2),\n")
	b.WriteString("email (SMTP with STARTTLS and AUTH PLAIN), a signed CloudEvents webhook")
	if r.nats != nil {
		fmt.Fprintf(&b, " and NATS JetStream\n(%s.<client_id>, stream %s)", r.natsSubj, r.nats.Stream())
	}
	b.WriteString("; each prints a notify line.\n")
	if r.nats == nil {
		fmt.Fprintf(&b, "No NATS with JetStream at %s (%v): the nats channel is left out.\n", r.natsURL, r.natsErr)
	}
	return b.String()
}

// demoNotice is a notification a demo receiver got, as the demo reads it.
type demoNotice struct {
	Receiver  string
	ClientID  string
	StackID   string
	Code      string
	Kind      string // detected, reminder, escalated, resolved, digest
	DriftID   string
	Key       string // the receiver's own key: dedup_key, webhook-id, Message-ID, Nats-Msg-Id
	Duplicate bool
}

// demoNotices reads receivers' notifications; PagerDuty's resolve events
// carry only the dedup key, so what earlier messages said about a drift is
// remembered.
type demoNotices struct {
	mu     sync.Mutex
	drifts map[string]demoNotice // by drift id
}

// titleRE reads "[HIGH] webhook_broken on acme-corp/shop-prod (...)".
var titleRE = regexp.MustCompile(`\[[A-Z]+\] (\S+) on ([^\s/:]+)(?:/([^\s:]+))?`)

// read turns a receiver's notification into a notice.
func (dn *demoNotices) read(n sim.Notification) (demoNotice, error) {
	out := demoNotice{Receiver: n.Receiver, Key: n.Key, Duplicate: n.Duplicate}
	fromMessage := func(m notify.Message) {
		out.ClientID, out.StackID, out.Code, out.Kind, out.DriftID = m.ClientID, m.StackID, string(m.Code), string(m.Kind), m.DriftID
	}
	fromTitle := func(title string) {
		if m := titleRE.FindStringSubmatch(title); m != nil {
			out.Code, out.ClientID, out.StackID = m[1], m[2], m[3]
		}
	}
	fromKey := func(key string) {
		parts := strings.Split(key, ":")
		if parts[0] == string(notify.KindDigest) { // digest:<channel>:<client>:<since>
			out.Kind = parts[0]
			if len(parts) >= 4 {
				out.ClientID = parts[len(parts)-2]
			}
			return
		}
		if len(parts) >= 3 {
			out.DriftID = strings.Join(parts[:len(parts)-2], ":")
			out.Kind = parts[len(parts)-2]
		}
	}
	switch n.Receiver {
	case sim.ReceiverSlack:
		var m notify.SlackMessage
		if err := json.Unmarshal(n.Body, &m); err != nil {
			return out, err
		}
		fromTitle(m.Text)
		for _, b := range m.Blocks {
			for _, e := range b.Elements {
				if _, rest, ok := strings.Cut(e.Text, "key `"); ok {
					key, _, _ := strings.Cut(rest, "`")
					fromKey(key)
				}
			}
		}
	case sim.ReceiverPagerDuty:
		var ev notify.PDEvent
		if err := json.Unmarshal(n.Body, &ev); err != nil {
			return out, err
		}
		switch {
		case ev.EventAction == "resolve":
			out.DriftID, out.Kind = ev.DedupKey, string(notify.KindResolved)
		case ev.Payload != nil && ev.Payload.CustomDetails != nil:
			fromMessage(*ev.Payload.CustomDetails)
		default:
			out.DriftID, out.Kind = ev.DedupKey, ev.EventAction
		}
	case sim.ReceiverWebhook:
		var ev notify.CloudEvent
		if err := json.Unmarshal(n.Body, &ev); err != nil {
			return out, err
		}
		fromMessage(ev.Data)
	case sim.ReceiverEmail:
		msg, err := mail.ReadMessage(strings.NewReader(string(n.Body)))
		if err != nil {
			return out, err
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			return out, err
		}
		fromTitle(subject)
		fromKey(msg.Header.Get("X-Blackwell-Idempotency-Key"))
	case sim.ReceiverNATS:
		var m notify.Message
		if err := json.Unmarshal(n.Body, &m); err != nil {
			return out, err
		}
		fromMessage(m)
	default:
		return out, fmt.Errorf("unknown receiver %q", n.Receiver)
	}
	switch {
	case out.Kind == string(notify.KindDigest):
		return out, nil
	case out.DriftID == "" || out.Kind == "":
		return out, errors.New("no drift id or kind in it")
	}
	dn.mu.Lock()
	defer dn.mu.Unlock()
	if dn.drifts == nil {
		dn.drifts = map[string]demoNotice{}
	}
	if known, ok := dn.drifts[out.DriftID]; ok && out.ClientID == "" {
		out.ClientID, out.StackID, out.Code = known.ClientID, known.StackID, known.Code
	} else if out.ClientID != "" {
		dn.drifts[out.DriftID] = out
	}
	return out, nil
}

// line is how the demo prints a notice.
func (n demoNotice) line() string {
	where := n.ClientID
	if n.StackID != "" {
		where += "/" + n.StackID
	}
	if where == "" {
		where = "drift " + n.DriftID
	}
	s := "notify " + n.Receiver + ": " + where
	for _, f := range []string{n.Code, n.Kind} {
		if f != "" {
			s += " " + f
		}
	}
	if n.Kind == string(notify.KindDigest) {
		s += " (held back by the channel's rate limit)"
	}
	if n.Duplicate {
		s += " (redelivery)"
	}
	return s
}

// verifyDemoAudit checks the demo store's whole audit chain.
func verifyDemoAudit(ctx context.Context, st store.Store) (count, seq int64, hash string, err error) {
	var v audit.Verifier
	cursor := ""
	for {
		entries, next, err := st.ListAudit(ctx, store.AuditQuery{Cursor: cursor, Limit: 500})
		if err != nil {
			return 0, 0, "", err
		}
		for _, e := range entries {
			if err := v.Add(e); err != nil {
				seq, hash, count = v.Head()
				return count, seq, hash, err
			}
		}
		if next == "" || len(entries) == 0 {
			break
		}
		cursor = next
	}
	seq, hash, count = v.Head()
	return count, seq, hash, nil
}
