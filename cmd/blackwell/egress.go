package main

import (
	"fmt"

	"github.com/blackwellio/blackwell/internal/egress"
)

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
