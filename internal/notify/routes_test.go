package notify_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
)

const routingYAML = `apiVersion: blackwell.io/v1
kind: Stack
metadata:
  client_id: acme-corp
  stack_id: shop-prod
spec:
  providers:
    cms:
      name: sanity
---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata:
  name: ops-pagerduty
spec:
  type: pagerduty
  routing_key: ${PD_KEY}
  severity_threshold: critical
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata:
  client_id: acme-corp
spec:
  notifications:
    channels:
      - ref: ops-pagerduty
      - type: slack
        webhook_url: ${SLACK_URL}
        severity_threshold: medium
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata:
  client_id: acme-corp
  stack_id: shop-prod
spec:
  notifications:
    channels:
      - ref: ops-pagerduty
      - type: webhook
        url: https://hooks.acme.example/blackwell
        secret: ${HOOK_SECRET}
`

func TestPlanFromConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"PD_KEY":      "R0UT1NGKEY0123456789abcdefABCDEF",
		"SLACK_URL":   "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX",
		"HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
	cfg, err := config.Parse("blackwell.yaml", []byte(routingYAML), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	require.NoError(t, err)
	plan, err := notify.PlanFromConfig(cfg, notify.ChannelOptions{})
	require.NoError(t, err)

	var names []string
	thresholds := map[string]drift.Severity{}
	for _, r := range plan.Routes {
		names = append(names, r.Channel.Name())
		thresholds[r.Channel.Name()] = r.Threshold
	}
	require.Equal(t, []string{"ops-pagerduty", "acme-corp/*/1-slack", "acme-corp/shop-prod/1-webhook"}, names)
	// config.AllChannels (what plan, apply and validate show) names them as
	// the routes do.
	var declared []string
	for _, c := range cfg.AllChannels() {
		declared = append(declared, c.Name)
	}
	require.Equal(t, names, declared)
	require.Equal(t, drift.SeverityCritical, thresholds["ops-pagerduty"])
	require.Equal(t, drift.SeverityMedium, thresholds["acme-corp/*/1-slack"])

	msg := func(client, stack string) notify.Message { return notify.Message{ClientID: client, StackID: stack} }
	require.Equal(t, []string{"ops-pagerduty", "acme-corp/*/1-slack"}, plan.Select(msg("acme-corp", "cms-prod")))
	require.Equal(t, []string{"ops-pagerduty", "acme-corp/shop-prod/1-webhook"}, plan.Select(msg("acme-corp", "shop-prod")),
		"the stack's own policy replaces the client's")
	require.Empty(t, plan.Select(msg("globex", "site")))

	_, err = notify.NewDispatcher(plan.Routes, notify.DispatcherOptions{Select: plan.Select})
	require.NoError(t, err)
}
