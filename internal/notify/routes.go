package notify

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// DefaultRateLimit is the rate limit of a channel type: Slack about one
// message a second with short bursts (api.slack.com/docs/rate-limits),
// PagerDuty 120 events a minute per routing key (Events API v2 rate
// limits), email one every 10 seconds with bursts of 5 (a mailbox is read
// by people); webhooks and NATS are machine receivers and unlimited (0).
func DefaultRateLimit(typ string) (rate.Limit, int) {
	switch typ {
	case TypeSlack:
		return 1, 5
	case TypePagerDuty:
		return 2, 20
	case TypeEmail:
		return rate.Every(10 * time.Second), 5
	}
	return 0, 0
}

// Plan is the routing of a configuration: the routes of every channel some
// policy uses, and Select, which names the channels of the policy that
// applies to a message's client and stack (the stack's own policy, else
// the client's; see config.Config.PolicyFor).
type Plan struct {
	Routes []Route
	Select func(m Message) []string
}

// PlanFromConfig builds the plan of cfg, whose secrets are resolved. A
// NotificationChannel is one route named by its metadata.name, however
// many policies refer to it; an inline channel is a route named
// "<client_id>/<stack_id or *>/<index>-<type>".
func PlanFromConfig(cfg *config.Config, opts ChannelOptions) (Plan, error) {
	named := map[string]config.ChannelSpec{}
	for _, c := range cfg.Channels {
		named[c.Metadata.Name] = c.Spec
	}
	built := map[string]bool{}
	var routes []Route
	// scopes maps "client\x00stack" (stack "" for client-wide) to channels.
	scopes := map[string][]string{}
	for _, p := range cfg.Policies {
		scope := p.Metadata.ClientID + "\x00" + p.Metadata.StackID
		names := []string{}
		for i, spec := range p.Spec.Notifications.Channels {
			name := spec.Ref
			if spec.Ref != "" {
				s, ok := named[spec.Ref]
				if !ok {
					return Plan{}, fmt.Errorf("policy %s: channel ref %q names no NotificationChannel", policyName(p), spec.Ref)
				}
				spec = s
			} else {
				stack := p.Metadata.StackID
				if stack == "" {
					stack = "*"
				}
				name = fmt.Sprintf("%s/%s/%d-%s", p.Metadata.ClientID, stack, i, spec.Type)
			}
			names = append(names, name)
			if built[name] {
				continue
			}
			ch, err := NewChannel(name, spec, opts)
			if err != nil {
				return Plan{}, err
			}
			limit, burst := DefaultRateLimit(spec.Type)
			routes = append(routes, Route{Channel: ch, Threshold: drift.Severity(spec.SeverityThreshold),
				Limit: limit, Burst: burst})
			built[name] = true
		}
		scopes[scope] = names
	}
	sel := func(m Message) []string {
		if names, ok := scopes[m.ClientID+"\x00"+m.StackID]; ok && m.StackID != "" {
			return names
		}
		return scopes[m.ClientID+"\x00"]
	}
	return Plan{Routes: routes, Select: sel}, nil
}

func policyName(p config.Policy) string {
	if p.Metadata.StackID == "" {
		return p.Metadata.ClientID
	}
	return p.Metadata.ClientID + "/" + p.Metadata.StackID
}
