package notify_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app/servertest"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/notify"
)

// goaws is an SNS and SQS emulator (github.com/Admiral-Piett/goaws) run
// in this test binary: the channel publishes to its topic over SNS's query
// protocol, and its SQS queues subscribed to the topic show what a
// subscriber gets. goaws keeps its state in package variables, so only
// TestSNSDeliversToGoaws starts one.
type goaws struct {
	t   *testing.T
	url string
}

func startGoaws(t *testing.T) goaws {
	t.Helper()
	srv, err := servertest.New("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Quit() })
	return goaws{t: t, url: srv.URL()}
}

// call makes one query-protocol call and returns the answer's body.
func (g goaws) call(form url.Values) []byte {
	g.t.Helper()
	resp, err := http.PostForm(g.url+"/", form)
	require.NoError(g.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(g.t, err)
	require.Equal(g.t, http.StatusOK, resp.StatusCode, "%s: %s", form.Get("Action"), body)
	return body
}

// subscribeQueue creates queue name and subscribes it to topicARN with
// filterPolicy (JSON, "" for none).
func (g goaws) subscribeQueue(topicARN, name, filterPolicy string) {
	g.call(url.Values{"Action": {"CreateQueue"}, "QueueName": {name}})
	form := url.Values{"Action": {"Subscribe"}, "TopicArn": {topicARN}, "Protocol": {"sqs"},
		"Endpoint": {"arn:aws:sqs:us-east-1:000000000000:" + name}}
	if filterPolicy != "" {
		form.Set("Attributes.entry.1.key", "FilterPolicy")
		form.Set("Attributes.entry.1.value", filterPolicy)
	}
	g.call(form)
}

// snsEnvelope is what SNS puts in an SQS subscriber's message body.
type snsEnvelope struct {
	Type              string
	TopicArn          string
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// receive takes up to 10 messages from queue name.
func (g goaws) receive(name string) []snsEnvelope {
	g.t.Helper()
	body := g.call(url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {g.url + "/queue/" + name},
		"MaxNumberOfMessages": {"10"}, "WaitTimeSeconds": {"1"}})
	var resp struct {
		Messages []struct {
			Body string `xml:"Body"`
		} `xml:"ReceiveMessageResult>Message"`
	}
	require.NoError(g.t, xml.Unmarshal(body, &resp), "%s", body)
	out := make([]snsEnvelope, len(resp.Messages))
	for i, m := range resp.Messages {
		require.NoError(g.t, json.Unmarshal([]byte(m.Body), &out[i]), "%s", m.Body)
	}
	return out
}

// TestSNSDeliversToGoaws: the drift event arrives at SQS subscribers of the
// topic with the client_id, severity and drift_type attributes, and a
// subscription's filter policy on severity lets only high drifts through.
// A topic that does not exist is a permanent failure.
func TestSNSDeliversToGoaws(t *testing.T) {
	t.Parallel()
	g := startGoaws(t)
	topic := "blackwell-drift-events-" + randomToken(t)
	g.call(url.Values{"Action": {"CreateTopic"}, "Name": {topic}})
	arn := "arn:aws:sns:us-east-1:000000000000:" + topic
	all, high := "all-"+randomToken(t), "high-"+randomToken(t)
	g.subscribeQueue(arn, all, "")
	g.subscribeQueue(arn, high, `{"severity":["high","critical"]}`)

	ch, err := notify.NewSNS("drift-topic", notify.SNSConfig{
		TopicARN: arn, Endpoint: g.url, AccessKeyID: "AKIDTEST", SecretAccessKey: "TESTSECRETKEY",
	}, notify.ChannelOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	hi, lo := testMessage("d-high", drift.SeverityHigh), testMessage("d-low", drift.SeverityLow)
	require.NoError(t, ch.Send(t.Context(), hi))
	require.NoError(t, ch.Send(t.Context(), lo))

	got := g.receive(all)
	require.Len(t, got, 2)
	for i, want := range []notify.Message{hi, lo} {
		env := got[i]
		require.Equal(t, "Notification", env.Type)
		require.Equal(t, arn, env.TopicArn)
		require.Contains(t, env.Subject, "webhook_broken on acme-corp/cms-ecom-prod")
		var event map[string]any
		require.NoError(t, json.Unmarshal([]byte(env.Message), &event))
		for k, v := range map[string]any{
			"client_id": "acme-corp", "stack_id": "cms-ecom-prod", "drift_type": string(drift.TypeIntegration),
			"severity": string(want.Severity), "timestamp": "2026-11-03T10:00:00Z", "auto_heal_attempted": true,
			"reconciliation_id": "rec-42", "drift_id": want.DriftID, "idempotency_key": want.IdempotencyKey,
		} {
			require.Equal(t, v, event[k], k)
		}
		require.Contains(t, event, "expected")
		require.Contains(t, event, "observed")
		attrs := map[string]string{}
		for k, a := range env.MessageAttributes {
			require.Equal(t, "String", a.Type, k)
			attrs[k] = a.Value
		}
		require.Equal(t, map[string]string{"client_id": "acme-corp", "severity": string(want.Severity),
			"drift_type": string(drift.TypeIntegration), "kind": "detected"}, attrs)
	}
	filtered := g.receive(high)
	require.Len(t, filtered, 1, "the filter policy lets only the high drift through")
	require.Contains(t, filtered[0].Message, `"drift_id":"d-high"`)

	// From the config: a NotificationChannel whose credentials are
	// references, routed by a client's policy.
	getenv := func(k string) (string, bool) {
		v, ok := map[string]string{"SNS_KEY": "AKIDTEST", "SNS_SECRET": "TESTSECRETKEY"}[k]
		return v, ok
	}
	cfg, err := config.Parse("blackwell.yaml", []byte(fmt.Sprintf(`apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: drift-topic}
spec: {type: sns, topic_arn: %q, endpoint: %q, access_key_id: "${SNS_KEY}", secret_access_key: "${SNS_SECRET}"}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme-corp}
spec:
  notifications:
    channels: [{ref: drift-topic}]
`, arn, g.url)), getenv)
	require.NoError(t, err)
	for i := range cfg.Channels {
		require.NoError(t, cfg.Channels[i].Spec.ResolveSecrets(getenv))
	}
	plan, err := notify.PlanFromConfig(cfg, notify.ChannelOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.Equal(t, []string{"drift-topic"}, plan.Select(hi))
	require.NoError(t, plan.Routes[0].Channel.Send(t.Context(), testMessage("d-config", drift.SeverityCritical)))
	got = g.receive(all)
	require.Len(t, got, 1)
	require.Contains(t, got[0].Message, `"drift_id":"d-config"`)

	gone, err := notify.NewSNS("gone", notify.SNSConfig{
		TopicARN: "arn:aws:sns:us-east-1:000000000000:no-such-topic-" + randomToken(t), Endpoint: g.url,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "TESTSECRETKEY",
	}, notify.ChannelOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	err = gone.Send(t.Context(), hi)
	require.True(t, notify.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "no-such-topic")
}

// TestSNSClassifiesAnswers: throttling, server errors and no answer are
// retried; a denied publish, a bad parameter and a refused egress are not.
// Credentials never appear in the error.
func TestSNSClassifiesAnswers(t *testing.T) {
	t.Parallel()
	snsError := func(status int, code string) answer {
		return answer{status: status, header: http.Header{"Content-Type": {"text/xml"}}, body: `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">` +
			`<Error><Type>Sender</Type><Code>` + code + `</Code><Message>said no</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`}
	}
	cases := []struct {
		name      string
		answer    answer
		permanent bool
	}{
		{"throttled", snsError(400, "Throttling"), false},
		{"internal error", snsError(500, "InternalError"), false},
		{"unavailable", answer{status: 503, body: "busy"}, false},
		{"authorization", snsError(403, "AuthorizationError"), true},
		{"invalid parameter", snsError(400, "InvalidParameter"), true},
		{"not found", snsError(404, "NotFound"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeHTTP(t, "/", func(*http.Request, []byte) *answer { return nil }, tc.answer)
			ch, err := notify.NewSNS("topic", notify.SNSConfig{
				TopicARN: "arn:aws:sns:eu-west-1:123456789012:blackwell-drift-events", Endpoint: fake.srv.URL,
				AccessKeyID: "AKIDTEST", SecretAccessKey: "TESTSECRETKEY",
			}, notify.ChannelOptions{Timeout: 10 * time.Second})
			require.NoError(t, err)
			err = ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh))
			require.Error(t, err)
			require.Equal(t, tc.permanent, notify.IsPermanent(err), "%v", err)
			require.Len(t, fake.requests(), 1, "the SDK does not retry by itself: the outbox does")
			requireNoSecret(t, err.Error(), "TESTSECRETKEY")
			form, perr := url.ParseQuery(string(fake.requests()[0].body))
			require.NoError(t, perr)
			require.Equal(t, "Publish", form.Get("Action"))
			require.True(t, strings.HasPrefix(fake.requests()[0].header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/"))
		})
	}
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		fake := newFakeHTTP(t, "/", func(*http.Request, []byte) *answer { return nil }, answer{status: 200})
		fake.srv.Close()
		ch, err := notify.NewSNS("topic", notify.SNSConfig{TopicARN: "arn:aws:sns:eu-west-1:123456789012:t",
			Endpoint: fake.srv.URL, AccessKeyID: "AKIDTEST", SecretAccessKey: "TESTSECRETKEY"}, notify.ChannelOptions{})
		require.NoError(t, err)
		err = ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh))
		require.Error(t, err)
		require.False(t, notify.IsPermanent(err), "%v", err)
	})
	t.Run("egress refused", func(t *testing.T) {
		t.Parallel()
		refusing, err := egress.Parse("public")
		require.NoError(t, err)
		fake := newFakeHTTP(t, "/", func(*http.Request, []byte) *answer { return nil }, answer{status: 200})
		ch, err := notify.NewSNS("topic", notify.SNSConfig{TopicARN: "arn:aws:sns:eu-west-1:123456789012:t",
			Endpoint: fake.srv.URL, AccessKeyID: "AKIDTEST", SecretAccessKey: "TESTSECRETKEY"},
			notify.ChannelOptions{HTTPClient: refusing.HTTPClient()})
		require.NoError(t, err)
		err = ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh))
		require.ErrorIs(t, err, egress.ErrRefused)
		require.True(t, notify.IsPermanent(err), "%v", err)
		require.Empty(t, fake.requests())
	})
}

// TestNewSNSRefusesBadConfig: the topic must be an SNS ARN with a region
// (its own or the channel's), and static credentials come in pairs.
func TestNewSNSRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  notify.SNSConfig
		want string
	}{
		{notify.SNSConfig{TopicARN: "blackwell-drift-events"}, "not an SNS topic ARN"},
		{notify.SNSConfig{TopicARN: "arn:aws:sqs:eu-west-1:1:q"}, "not an SNS topic ARN"},
		{notify.SNSConfig{TopicARN: "arn:aws:sns:::t"}, "no region"},
		{notify.SNSConfig{TopicARN: "arn:aws:sns:eu-west-1:1:t", AccessKeyID: "AKID"}, "go together"},
	} {
		_, err := notify.NewSNS("c", tc.cfg, notify.ChannelOptions{})
		require.ErrorContains(t, err, tc.want, "%+v", tc.cfg)
	}
	_, err := notify.NewSNS("c", notify.SNSConfig{TopicARN: "arn:aws:sns:::t", Region: "eu-west-1"}, notify.ChannelOptions{})
	require.NoError(t, err)
}
