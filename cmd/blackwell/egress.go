package main

import (
	"fmt"

	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/notify"
)

// egressChannels gives the notification channels a client and a dialer
// that check the egress allowlist p (internal/egress); with a nil p, o is
// returned unchanged. The client replaces o.HTTPClient.
func egressChannels(o notify.ChannelOptions, p *egress.Policy) notify.ChannelOptions {
	if p == nil {
		return o
	}
	o.HTTPClient = p.HTTPClient()
	o.DialContext = p.DialContext(nil)
	return o
}

// egressAllowUsage is the help of --egress-allow (serve, reconcile --once).
const egressAllowUsage = "comma-separated IPs, CIDR ranges, host names, *.domain suffixes and \"public\" (every public address) that probes, provider APIs, build hooks and notification channels may connect to, checked at dial time; empty: everything (docs/SECURITY.md)"

// parseEgressAllow reads --egress-allow; a bad list is a usage error.
func parseEgressAllow(list string) (*egress.Policy, error) {
	p, err := egress.Parse(list)
	if err != nil {
		return nil, usageError{fmt.Errorf("--egress-allow: %w", err)}
	}
	return p, nil
}
