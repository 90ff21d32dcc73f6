package probe_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

func TestProbeDNS(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.dns.Set("www.example.test", netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1"))
	var many []netip.Addr
	for i := range 7 {
		many = append(many, netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}))
	}
	b.dns.Set("many.example.test", many...)
	b.dns.Fail("broken.example.test")

	tests := []struct {
		name       string
		wantStatus drift.ResourceStatus
		wantDetail string
	}{
		{"localhost", drift.StatusHealthy, "resolves to 127.0.0.1"},
		{"www.example.test", drift.StatusHealthy, "resolves to 192.0.2.1, 2001:db8::1"},
		{"many.example.test", drift.StatusHealthy, "resolves to 192.0.2.10, 192.0.2.11, 192.0.2.12, 192.0.2.13, 192.0.2.14 and 2 more"},
		{"nosuch.example.invalid", drift.StatusMissing, "name nosuch.example.invalid not found"},
		{"broken.example.test", drift.StatusUnknown, "resolver failed: lookup broken.example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obs := b.prober.Probe(t.Context(), tt.name, config.Resource{Probe: config.ProbeDNS, Name: tt.name})
			require.Equal(t, tt.wantStatus, obs.Status, obs.Detail)
			require.Contains(t, obs.Detail, tt.wantDetail)
			if tt.wantStatus == drift.StatusUnknown {
				require.Equal(t, drift.ReasonUnreachable, obs.Reason, "an unknown observation says why")
			} else {
				require.Empty(t, obs.Reason)
			}
		})
	}
}
