package server

import (
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
