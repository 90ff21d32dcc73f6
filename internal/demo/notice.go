package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"sync"

	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/sim"
)

// Notice is a notification a demo receiver got, as the demo reads it.
type Notice struct {
	Receiver  string
	ClientID  string
	StackID   string
	Code      string
	Kind      string // detected, reminder, escalated, resolved, digest
	DriftID   string
	Key       string // the receiver's own key: dedup_key, webhook-id, Message-ID, Nats-Msg-Id
	Duplicate bool
}

// notices reads receivers' notifications; PagerDuty's resolve events
// carry only the dedup key, so what earlier messages said about a drift is
// remembered.
type notices struct {
	mu     sync.Mutex
	drifts map[string]Notice // by drift id
}

// titleRE reads "[HIGH] webhook_broken on acme-corp/shop-prod (...)".
var titleRE = regexp.MustCompile(`\[[A-Z]+\] (\S+) on ([^\s/:]+)(?:/([^\s:]+))?`)

// read turns a receiver's notification into a notice.
func (dn *notices) read(n sim.Notification) (Notice, error) {
	out := Notice{Receiver: n.Receiver, Key: n.Key, Duplicate: n.Duplicate}
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
		dn.drifts = map[string]Notice{}
	}
	if known, ok := dn.drifts[out.DriftID]; ok && out.ClientID == "" {
		out.ClientID, out.StackID, out.Code = known.ClientID, known.StackID, known.Code
	} else if out.ClientID != "" {
		dn.drifts[out.DriftID] = out
	}
	return out, nil
}

// line is how the demo prints a notice.
func (n Notice) line() string {
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
