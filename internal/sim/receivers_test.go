package sim_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

// receiverMessage is a detected message for drift id, as the feed builds it.
func receiverMessage(id string, kind notify.Kind, seq int) notify.Message {
	at := time.Now().UTC().Truncate(time.Second)
	return notify.Message{
		ClientID: "acme-corp", StackID: "shop-prod", DriftType: drift.TypeIntegration,
		Expected: map[string]any{"topic": "products/update"}, Severity: drift.SeverityHigh, Timestamp: at,
		ReconciliationID: "rec-1", DriftID: id, Code: drift.WebhookBroken, Component: "shopify.products/update",
		Kind: kind, Sequence: seq, IdempotencyKey: notify.IdempotencyKey(id, kind, seq),
		DashboardURL: "http://127.0.0.1:8080/?client_id=acme-corp",
	}
}

func post(t *testing.T, url, ctype string, hdr http.Header, body []byte) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

func TestSlackReceiverTakesOurBlockKitMessages(t *testing.T) {
	t.Parallel()
	var seen []sim.Notification
	s, err := sim.NewSlackReceiver(sim.ReceiverOptions{OnReceive: func(n sim.Notification) { seen = append(seen, n) }})
	require.NoError(t, err)
	t.Cleanup(s.Close)

	ch, err := notify.NewSlack("s", s.URL(), notify.ChannelOptions{})
	require.NoError(t, err)
	m := receiverMessage("d1", notify.KindDetected, 1)
	require.NoError(t, ch.Send(t.Context(), m))

	got := s.Received()
	require.Len(t, got, 1)
	require.Equal(t, seen, got, "OnReceive sees what is recorded")
	require.Equal(t, sim.ReceiverSlack, got[0].Receiver)
	var p sim.SlackPost
	require.NoError(t, json.Unmarshal(got[0].Body, &p))
	require.Contains(t, p.Text, "webhook_broken on acme-corp/shop-prod")
	require.NotEmpty(t, p.Blocks)
}

func TestSlackReceiverAnswersAsSlackDoes(t *testing.T) {
	t.Parallel()
	s, err := sim.NewSlackReceiver(sim.ReceiverOptions{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	long := strings.Repeat("x", 151)
	for _, tc := range []struct {
		name, url, ctype, body string
		status                 int
		answer                 string
	}{
		{"text only", s.URL(), "application/json", `{"text":"hello"}`, 200, "ok"},
		{"form payload", s.URL(), "application/x-www-form-urlencoded", `payload=%7B%22text%22%3A%22hi%22%7D`, 200, "ok"},
		{"not json", s.URL(), "application/json", `{"text":`, 400, "invalid_payload"},
		{"no text nor blocks", s.URL(), "application/json", `{"text":""}`, 400, "no_text"},
		{"unknown block", s.URL(), "application/json", `{"blocks":[{"type":"banner"}]}`, 400, "invalid_blocks"},
		{"header too long", s.URL(), "application/json", `{"blocks":[{"type":"header","text":{"type":"plain_text","text":"` + long + `"}}]}`, 400, "invalid_blocks"},
		{"mrkdwn header", s.URL(), "application/json", `{"blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`, 400, "invalid_blocks"},
		{"empty section", s.URL(), "application/json", `{"blocks":[{"type":"section"}]}`, 400, "invalid_blocks"},
		{"empty context", s.URL(), "application/json", `{"blocks":[{"type":"context","elements":[]}]}`, 400, "invalid_blocks"},
		{"wrong webhook", s.URL() + "x", "application/json", `{"text":"hello"}`, 404, "no_service"},
	} {
		status, answer, _ := post(t, tc.url, tc.ctype, nil, []byte(tc.body))
		require.Equal(t, tc.status, status, tc.name)
		require.Equal(t, tc.answer, answer, tc.name)
	}
	require.Len(t, s.Received(), 2, "only the accepted posts are recorded")

	s.RateLimit(2*time.Second, 1)
	status, answer, hdr := post(t, s.URL(), "application/json", nil, []byte(`{"text":"x"}`))
	require.Equal(t, http.StatusTooManyRequests, status, answer)
	require.Equal(t, "2", hdr.Get("Retry-After"))
	// The channel sees a 429 as retryable, with the wait.
	ch, err := notify.NewSlack("s", s.URL(), notify.ChannelOptions{})
	require.NoError(t, err)
	s.RateLimit(3*time.Second, 1)
	err = ch.Send(t.Context(), receiverMessage("d1", notify.KindDetected, 1))
	var re *notify.RetryableError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 3*time.Second, re.RetryAfter)
}

func TestPagerDutyReceiverTriggersAndResolvesOneAlert(t *testing.T) {
	t.Parallel()
	p, err := sim.NewPagerDutyReceiver("", sim.ReceiverOptions{})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	ch, err := notify.NewPagerDuty("pd", p.RoutingKey(), notify.ChannelOptions{PagerDutyURL: p.URL()})
	require.NoError(t, err)

	require.NoError(t, ch.Send(t.Context(), receiverMessage("d1", notify.KindDetected, 1)))
	require.NoError(t, ch.Send(t.Context(), receiverMessage("d1", notify.KindEscalated, 2)), "a second trigger adds to the open alert")
	alerts := p.Alerts()
	require.Len(t, alerts, 1)
	require.Equal(t, "triggered", alerts[0].Status)
	require.Equal(t, 2, alerts[0].Triggers)
	require.Equal(t, "error", alerts[0].Severity)

	require.NoError(t, ch.Send(t.Context(), receiverMessage("d1", notify.KindResolved, 3)))
	require.NoError(t, ch.Send(t.Context(), receiverMessage("d1", notify.KindResolved, 3)), "a resolve of no open alert is accepted and dropped")
	alerts = p.Alerts()
	require.Len(t, alerts, 1)
	require.Equal(t, "resolved", alerts[0].Status)

	require.NoError(t, ch.Send(t.Context(), receiverMessage("d1", notify.KindDetected, 4)))
	require.Len(t, p.Alerts(), 2, "a trigger after the resolution opens a new alert")

	got := p.Received()
	require.Len(t, got, 5)
	for _, n := range got {
		require.Equal(t, "d1", n.Key, "dedup_key is the drift id")
	}
	require.Equal(t, []string{"trigger", "trigger", "resolve", "resolve", "trigger"},
		[]string{got[0].Action, got[1].Action, got[2].Action, got[3].Action, got[4].Action})
}

func TestPagerDutyReceiverAnswersAsTheEventsAPIDoes(t *testing.T) {
	t.Parallel()
	p, err := sim.NewPagerDutyReceiver("", sim.ReceiverOptions{})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	key := p.RoutingKey()
	trigger := func(extra string) string {
		return `{"routing_key":"` + key + `","event_action":"trigger"` + extra + `}`
	}
	payload := `,"payload":{"summary":"s","source":"blackwell","severity":"error"}`
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"trigger", trigger(`,"dedup_key":"k1"` + payload), 202},
		{"trigger with an ISO 8601 timestamp", trigger(`,"payload":{"summary":"s","source":"b","severity":"info","timestamp":"2015-07-17T08:42:58.315+0000"}`), 202},
		{"resolve", `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"k1"}`, 202},
		{"acknowledge of no alert", `{"routing_key":"` + key + `","event_action":"acknowledge","dedup_key":"nope"}`, 202},
		{"not json", `{`, 400},
		{"no routing key", `{"event_action":"trigger"` + payload + `}`, 400},
		{"another service's key", strings.Replace(trigger(payload), key, strings.Repeat("a", 32), 1), 400},
		{"short key", strings.Replace(trigger(payload), key, "abc", 1), 400},
		{"unknown action", `{"routing_key":"` + key + `","event_action":"snooze","dedup_key":"k1"}`, 400},
		{"trigger without payload", trigger(``), 400},
		{"trigger without source", trigger(`,"payload":{"summary":"s","severity":"error"}`), 400},
		{"bad severity", trigger(`,"payload":{"summary":"s","source":"b","severity":"high"}`), 400},
		{"summary too long", trigger(`,"payload":{"summary":"` + strings.Repeat("s", 1025) + `","source":"b","severity":"info"}`), 400},
		{"bad timestamp", trigger(`,"payload":{"summary":"s","source":"b","severity":"info","timestamp":"yesterday"}`), 400},
		{"resolve without dedup key", `{"routing_key":"` + key + `","event_action":"resolve"}`, 400},
		{"dedup key too long", trigger(`,"dedup_key":"` + strings.Repeat("k", 256) + `"` + payload), 400},
	} {
		status, body, _ := post(t, p.URL(), "application/json", nil, []byte(tc.body))
		require.Equal(t, tc.status, status, "%s: %s", tc.name, body)
		var ans sim.PagerDutyEventAnswer
		require.NoError(t, json.Unmarshal([]byte(body), &ans), tc.name)
		if tc.status == 202 {
			require.Equal(t, "success", ans.Status)
			require.Equal(t, "Event processed", ans.Message)
			require.NotEmpty(t, ans.DedupKey, "a trigger without dedup_key gets a generated one")
		} else {
			require.Equal(t, "invalid event", ans.Status, tc.name)
			require.Equal(t, "Event object is invalid", ans.Message)
			require.Len(t, ans.Errors, 1)
		}
	}
	require.Len(t, p.Received(), 4)
	status, body, _ := post(t, p.URL(), "application/json", nil, bytes.Repeat([]byte("x"), 600<<10))
	require.Equal(t, 400, status, body)

	// 400 is permanent for the channel; 429 and 500 retryable.
	bad, err := notify.NewPagerDuty("pd", strings.Repeat("b", 32), notify.ChannelOptions{PagerDutyURL: p.URL()})
	require.NoError(t, err)
	err = bad.Send(t.Context(), receiverMessage("d1", notify.KindDetected, 1))
	require.True(t, notify.IsPermanent(err), "%v", err)
	require.NotContains(t, err.Error(), strings.Repeat("b", 32), "the routing key is a secret")
	ch, err := notify.NewPagerDuty("pd", key, notify.ChannelOptions{PagerDutyURL: p.URL()})
	require.NoError(t, err)
	p.RateLimit(0, 1)
	err = ch.Send(t.Context(), receiverMessage("d1", notify.KindDetected, 1))
	require.Error(t, err)
	require.False(t, notify.IsPermanent(err))
	p.FailServer(1)
	err = ch.Send(t.Context(), receiverMessage("d1", notify.KindDetected, 1))
	require.Error(t, err)
	require.False(t, notify.IsPermanent(err))
}

func TestWebhookReceiverVerifiesOurSignatureAndCloudEvent(t *testing.T) {
	t.Parallel()
	w, err := sim.NewWebhookReceiver("", sim.ReceiverOptions{})
	require.NoError(t, err)
	t.Cleanup(w.Close)
	ch, err := notify.NewWebhook("hook", w.URL(), w.Secret(), notify.ChannelOptions{})
	require.NoError(t, err)

	m := receiverMessage("d1", notify.KindDetected, 1)
	require.NoError(t, ch.Send(t.Context(), m))
	require.NoError(t, ch.Send(t.Context(), m), "a redelivery is accepted")
	got := w.Received()
	require.Len(t, got, 2)
	require.Equal(t, "d1:detected:1", got[0].Key)
	require.Equal(t, "io.blackwell.drift.detected", got[0].Action)
	require.False(t, got[0].Duplicate)
	require.True(t, got[1].Duplicate, "the same webhook-id again")
	var ev notify.CloudEvent
	require.NoError(t, json.Unmarshal(got[0].Body, &ev))
	require.Equal(t, "d1", ev.Data.DriftID)
	require.Equal(t, "/blackwell/clients/acme-corp/stacks/shop-prod", ev.Source)

	// Signed with another secret: 401, permanent for the channel.
	other, err := notify.NewWebhook("hook", w.URL(), "whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", notify.ChannelOptions{})
	require.NoError(t, err)
	err = other.Send(t.Context(), m)
	require.True(t, notify.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "401")
	// A stale signature: 401.
	old, err := notify.NewWebhook("hook", w.URL(), w.Secret(), notify.ChannelOptions{Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }})
	require.NoError(t, err)
	require.Error(t, old.Send(t.Context(), m))
	require.Len(t, w.Received(), 2)
}

func TestWebhookReceiverRefusesWhatIsNotASignedCloudEvent(t *testing.T) {
	t.Parallel()
	w, err := sim.NewWebhookReceiver("", sim.ReceiverOptions{})
	require.NoError(t, err)
	t.Cleanup(w.Close)
	signed := func(body string) http.Header {
		h, err := stdwebhook.Header(w.Secret(), "msg_1", time.Now(), []byte(body))
		require.NoError(t, err)
		h.Del("Content-Type")
		return h
	}
	const ce = "application/cloudevents+json; charset=UTF-8"
	good := `{"specversion":"1.0","id":"e1","source":"/x","type":"t","time":"2026-11-03T10:00:00Z","data":{}}`
	for _, tc := range []struct {
		name, ctype, body string
		hdr               http.Header
		status            int
	}{
		{"good", ce, good, signed(good), 204},
		{"binary mode", "application/json", good, signed(good), 415},
		{"unsigned", ce, good, nil, 401},
		{"altered body", ce, good + " ", signed(good), 401},
		{"no id", ce, `{"specversion":"1.0","source":"/x","type":"t"}`, signed(`{"specversion":"1.0","source":"/x","type":"t"}`), 400},
		{"spec 0.3", ce, `{"specversion":"0.3","id":"e","source":"/x","type":"t"}`, signed(`{"specversion":"0.3","id":"e","source":"/x","type":"t"}`), 400},
		{"bad time", ce, `{"specversion":"1.0","id":"e","source":"/x","type":"t","time":"now"}`, signed(`{"specversion":"1.0","id":"e","source":"/x","type":"t","time":"now"}`), 400},
	} {
		status, body, _ := post(t, w.URL(), tc.ctype, tc.hdr, []byte(tc.body))
		require.Equal(t, tc.status, status, "%s: %s", tc.name, body)
	}
	require.Len(t, w.Received(), 1)
}

func TestSMTPReceiverWithSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	const pass = "demo-password-1"
	m, err := sim.NewSMTPReceiver(sim.SMTPReceiverOptions{STARTTLS: true, Username: "blackwell", Password: pass})
	require.NoError(t, err)
	t.Cleanup(m.Close)
	newEmail := func(pass string) notify.Channel {
		ch, err := notify.NewChannel("mail", config.ChannelSpec{Type: "email", Addresses: []string{"ops@acme.example"},
			SMTP: &config.SMTP{Host: m.Host(), Port: m.Port(), Username: "blackwell", Password: config.NewSecret(pass)}},
			notify.ChannelOptions{SMTPTLS: &tls.Config{RootCAs: m.RootCAs()}, Timeout: 10 * time.Second})
		require.NoError(t, err)
		return ch
	}
	msg := receiverMessage("d1", notify.KindDetected, 1)
	require.NoError(t, newEmail(pass).Send(t.Context(), msg))
	require.NoError(t, newEmail(pass).Send(t.Context(), msg))

	mails := m.Mails()
	require.Len(t, mails, 2)
	require.True(t, mails[0].TLS)
	require.Equal(t, "blackwell", mails[0].AuthUser)
	require.Equal(t, []string{"ops@acme.example"}, mails[0].To)
	got := m.Received()
	require.Equal(t, "<d1.detected.1@blackwell>", got[0].Key)
	require.False(t, got[0].Duplicate)
	require.True(t, got[1].Duplicate, "the same Message-ID again")
	parsed, err := mail.ReadMessage(bytes.NewReader(got[0].Body))
	require.NoError(t, err)
	require.Equal(t, "d1:detected:1", parsed.Header.Get("X-Blackwell-Idempotency-Key"))

	err = newEmail("wrong-password").Send(t.Context(), msg)
	require.True(t, notify.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "535")
	require.Len(t, m.Mails(), 2)
}

func TestSMTPReceiverPlainOnLoopback(t *testing.T) {
	t.Parallel()
	m, err := sim.NewSMTPReceiver(sim.SMTPReceiverOptions{Username: "u", Password: "p"})
	require.NoError(t, err)
	t.Cleanup(m.Close)
	require.Nil(t, m.RootCAs())
	ch, err := notify.NewChannel("mail", config.ChannelSpec{Type: "email", Addresses: []string{"ops@acme.example"},
		SMTP: &config.SMTP{Host: m.Host(), Port: m.Port(), Username: "u", Password: config.NewSecret("p")}},
		notify.ChannelOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.NoError(t, ch.Send(t.Context(), receiverMessage("d1", notify.KindResolved, 2)))
	mails := m.Mails()
	require.Len(t, mails, 1)
	require.False(t, mails[0].TLS)
	require.Equal(t, "u", mails[0].AuthUser)
}

// natsReceiver starts a NATSReceiver on a subject of its own; without a
// NATS server the test is skipped, except under CI=true.
func natsReceiver(t *testing.T) (*sim.NATSReceiver, string) {
	t.Helper()
	prefix := "bwsim-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".drift-events"
	r, err := sim.NewNATSReceiver(t.Context(), sim.NATSReceiverOptions{Subject: prefix})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at 127.0.0.1:4222 is required under CI=true: %v", err)
		}
		t.Skipf("no NATS at 127.0.0.1:4222 (under CI=true this fails instead): %v", err)
	}
	return r, prefix
}

func TestNATSReceiverSeesWhatTheStreamStores(t *testing.T) {
	t.Parallel()
	r, prefix := natsReceiver(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			r.Close()
		}
	})
	ch, err := notify.NewNATS("nats", notify.NATSConfig{Subject: prefix}, notify.ChannelOptions{Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ch.Close() })
	m := receiverMessage("d1", notify.KindDetected, 1)
	require.NoError(t, ch.Send(t.Context(), m))
	require.NoError(t, ch.Send(t.Context(), m), "a redelivery, dropped by the stream")
	require.NoError(t, ch.Send(t.Context(), receiverMessage("d1", notify.KindResolved, 2)))

	poll.Until(t, 10*time.Second, "two messages in the stream", func() bool { return len(r.Received()) >= 2 })
	got := r.Received()
	require.Len(t, got, 2)
	require.Equal(t, prefix+".acme-corp", got[0].Subject)
	require.Equal(t, "d1:detected:1", got[0].Key)
	require.Equal(t, "d1:resolved:2", got[1].Key)
	var gm notify.Message
	require.NoError(t, json.Unmarshal(got[1].Body, &gm))
	require.Equal(t, notify.KindResolved, gm.Kind)

	// Close deletes the stream it created: publishing then has no stream.
	r.Close()
	closed = true
	err = ch.Send(t.Context(), receiverMessage("d2", notify.KindDetected, 1))
	require.Error(t, err)
}

func TestNATSReceiverRefusesABadSubject(t *testing.T) {
	t.Parallel()
	_, err := sim.NewNATSReceiver(t.Context(), sim.NATSReceiverOptions{Subject: "blackwell.>"})
	require.Error(t, err)
}
