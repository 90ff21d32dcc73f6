package demo

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/sim"
)

// The demo's notification defaults.
const (
	defaultNATSURL     = notify.DefaultNATSURL
	defaultNATSSubject = "blackwell.drift-events"
	smtpUser           = "blackwell"
)

// receivers are the local receivers the demo's notification channels
// deliver to: a Slack incoming webhook, PagerDuty's Events API, a Standard
// Webhooks endpoint, an SMTP server with STARTTLS and AUTH PLAIN (all
// internal/sim), and the NATS server on this machine when it answers.
type receivers struct {
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

// startReceivers starts the receivers; each accepted notification is
// handed to on.
func startReceivers(ctx context.Context, o Options, on func(sim.Notification)) (_ *receivers, err error) {
	r := &receivers{natsURL: orString(o.NATSURL, defaultNATSURL), natsSubj: orString(o.NATSSubject, defaultNATSSubject),
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
		Username: smtpUser, Password: r.smtpPassword}); err != nil {
		return nil, err
	}
	r.nats, r.natsErr = sim.NewNATSReceiver(ctx, sim.NATSReceiverOptions{ReceiverOptions: opts,
		URL: r.natsURL, Subject: r.natsSubj, Timeout: 2 * time.Second})
	return r, nil
}

// Close stops every receiver (the NATS one deletes the stream it created).
func (r *receivers) Close() {
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
func (r *receivers) env() map[string]string {
	return map[string]string{
		"BLACKWELL_DEMO_SLACK_WEBHOOK_URL":     r.slack.URL(),
		"BLACKWELL_DEMO_PAGERDUTY_ROUTING_KEY": r.pd.RoutingKey(),
		"BLACKWELL_DEMO_WEBHOOK_SECRET":        r.hook.Secret(),
		"BLACKWELL_DEMO_SMTP_PASSWORD":         r.smtpPassword,
	}
}

// channelOptions point the pagerduty channel at the local Events API and
// make the email channel trust the SMTP receiver's certificate.
func (r *receivers) channelOptions() notify.ChannelOptions {
	return notify.ChannelOptions{PagerDutyURL: r.pd.URL(), SMTPTLS: &tls.Config{RootCAs: r.mail.RootCAs()},
		NATSURL: r.natsURL}
}

// channelDoc is one NotificationChannel document.
const channelDoc = `---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: %s}
spec: %s
`

// config returns the NotificationChannel documents and the refs a policy
// lists in notifications.channels. The threshold is low: every drift of
// the demo is announced.
func (r *receivers) config() (docs string, refs []string) {
	var b strings.Builder
	add := func(name, spec string) {
		fmt.Fprintf(&b, channelDoc, name, spec)
		refs = append(refs, "{ref: "+name+"}")
	}
	add("demo-slack", `{type: slack, webhook_url: "${BLACKWELL_DEMO_SLACK_WEBHOOK_URL}", severity_threshold: low}`)
	add("demo-pagerduty", `{type: pagerduty, routing_key: "${BLACKWELL_DEMO_PAGERDUTY_ROUTING_KEY}", severity_threshold: low}`)
	add("demo-email", fmt.Sprintf(`{type: email, addresses: [ops@demo.example], severity_threshold: low, smtp: {host: %q, port: %d, username: %s, password: "${BLACKWELL_DEMO_SMTP_PASSWORD}", from: blackwell@demo.example}}`,
		r.mail.Host(), r.mail.Port(), smtpUser))
	add("demo-webhook", fmt.Sprintf(`{type: webhook, url: %q, secret: "${BLACKWELL_DEMO_WEBHOOK_SECRET}", severity_threshold: low}`, r.hook.URL()))
	if r.nats != nil {
		add("demo-nats", fmt.Sprintf(`{type: nats, url: %q, subject: %q, severity_threshold: low}`, r.natsURL, r.natsSubj))
	}
	return b.String(), refs
}

// describe is the banner's account of the receivers.
func (r *receivers) describe() string {
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
