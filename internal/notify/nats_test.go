package notify_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
)

// natsURL is the NATS server with JetStream that runs on this machine (and
// that .ci/run starts).
const natsURL = "nats://127.0.0.1:4222"

// connectNATS connects to the local server; without one the test is
// skipped, except under CI=true where that is a failure.
func connectNATS(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(3*time.Second))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s is required under CI=true: %v", natsURL, err)
		}
		t.Skipf("no NATS at %s (under CI=true this fails instead): %v", natsURL, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func randomToken(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

func TestNATSJetStreamPublishesOnce(t *testing.T) {
	t.Parallel()
	nc := connectNATS(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// A stream of its own, so parallel runs and other tests do not meet.
	tok := randomToken(t)
	prefix := "bwtest-" + tok + ".drift-events"
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       "BWTEST_" + strings.ToUpper(tok),
		Subjects:   []string{prefix + ".>"},
		Storage:    jetstream.MemoryStorage,
		Duplicates: time.Minute,
		MaxAge:     10 * time.Minute,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = js.DeleteStream(context.WithoutCancel(ctx), "BWTEST_"+strings.ToUpper(tok))
	})

	ch, err := notify.NewNATS("bus", notify.NATSConfig{URL: natsURL, Subject: prefix}, notify.ChannelOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ch.Close()) })

	m := testMessage("d1", drift.SeverityHigh)
	require.NoError(t, ch.Send(ctx, m))
	require.NoError(t, ch.Send(ctx, m), "a redelivery")
	resolved := m
	resolved.Kind, resolved.Sequence = notify.KindResolved, 2
	resolved.IdempotencyKey = notify.IdempotencyKey("d1", notify.KindResolved, 2)
	require.NoError(t, ch.Send(ctx, resolved))

	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(2), info.State.Msgs, "JetStream dropped the redelivery by Nats-Msg-Id")

	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var got []notify.Message
	for msg := range batch.Messages() {
		require.Equal(t, prefix+".acme-corp", msg.Subject())
		var gm notify.Message
		require.NoError(t, json.Unmarshal(msg.Data(), &gm))
		require.Equal(t, gm.IdempotencyKey, msg.Headers().Get(jetstream.MsgIDHeader))
		got = append(got, gm)
	}
	require.NoError(t, batch.Error())
	require.Len(t, got, 2)
	require.Equal(t, notify.KindDetected, got[0].Kind)
	require.Equal(t, "rec-42", got[0].ReconciliationID)
	require.Equal(t, notify.KindResolved, got[1].Kind)
}

func TestNATSWithoutStreamIsRetryable(t *testing.T) {
	t.Parallel()
	nc := connectNATS(t)
	ch, err := notify.NewNATS("bus", notify.NATSConfig{Subject: "bwtest-nostream-" + randomToken(t)},
		notify.ChannelOptions{NATSConn: nc, Timeout: 3 * time.Second})
	require.NoError(t, err)
	err = ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh))
	require.Error(t, err)
	require.False(t, notify.IsPermanent(err), "%v", err)
	require.NoError(t, ch.Close())
	require.False(t, nc.IsClosed(), "a handed-in connection belongs to the caller")
}

func TestNATSSubjectPerClient(t *testing.T) {
	t.Parallel()
	ch, err := notify.NewNATS("bus", notify.NATSConfig{Subject: "blackwell.drift-events"}, notify.ChannelOptions{})
	require.NoError(t, err)
	require.Equal(t, "blackwell.drift-events.acme-corp", ch.Subject("acme-corp"))
	require.Equal(t, "blackwell.drift-events.acme_corp", ch.Subject("acme.corp"), "one token per client")
	_, err = notify.NewNATS("bus", notify.NATSConfig{Subject: "blackwell.>"}, notify.ChannelOptions{})
	require.Error(t, err)
}

func TestNATSConnectErrorHidesCredentials(t *testing.T) {
	t.Parallel()
	ch, err := notify.NewNATS("bus", notify.NATSConfig{URL: "nats://blackwell:NATS-PASSWORD@127.0.0.1:1", Subject: "x"},
		notify.ChannelOptions{Timeout: 2 * time.Second})
	require.NoError(t, err)
	err = ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh))
	require.Error(t, err)
	require.False(t, notify.IsPermanent(err))
	requireNoSecret(t, err.Error(), "NATS-PASSWORD")
	require.NoError(t, ch.Close())
}
