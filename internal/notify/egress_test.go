package notify_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/notify"
)

// TestChannelsUnderAnEgressPolicy: a receiver the operator's allowlist
// refuses fails for good (no retries), naming the host but not the secret
// URL; one it allows is delivered to.
func TestChannelsUnderAnEgressPolicy(t *testing.T) {
	t.Parallel()
	refusing, err := egress.Parse("public")
	require.NoError(t, err)
	allowing, err := egress.Parse("127.0.0.1")
	require.NoError(t, err)
	optsOf := func(p *egress.Policy) notify.ChannelOptions {
		return notify.ChannelOptions{HTTPClient: p.HTTPClient(), DialContext: p.DialContext(nil)}
	}

	fake, hook := newFakeSlack(t)
	ch, err := notify.NewSlack("ops-slack", hook, optsOf(refusing))
	require.NoError(t, err)
	err = ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh))
	require.ErrorIs(t, err, egress.ErrRefused)
	require.True(t, notify.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "127.0.0.1")
	requireNoSecret(t, err.Error(), "XXXXSECRETXXXX", "T000")
	require.Empty(t, fake.requests())

	ch, err = notify.NewSlack("ops-slack", hook, optsOf(allowing))
	require.NoError(t, err)
	require.NoError(t, ch.Send(t.Context(), testMessage("d1", drift.SeverityHigh)))
	require.Len(t, fake.requests(), 1)

	mx := newSMTPFake(t, false, "", "")
	smtpCfg := &config.SMTP{Host: mx.host, Port: mx.port, From: "blackwell@example.com"}
	em, err := notify.NewEmail("ops-mail", notify.EmailConfig{SMTP: smtpCfg, To: []string{"ops@example.com"}}, optsOf(refusing))
	require.NoError(t, err)
	err = em.Send(t.Context(), testMessage("d1", drift.SeverityHigh))
	require.ErrorIs(t, err, egress.ErrRefused)
	require.True(t, notify.IsPermanent(err), "%v", err)

	em, err = notify.NewEmail("ops-mail", notify.EmailConfig{SMTP: smtpCfg, To: []string{"ops@example.com"}}, optsOf(allowing))
	require.NoError(t, err)
	require.NoError(t, em.Send(t.Context(), testMessage("d1", drift.SeverityHigh)))
}
