package probe

import (
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// probeTCP connects to r.Address and hangs up.
func (p *Prober) probeTCP(pc probeCtx, r config.Resource) drift.ResourceObservation {
	if _, ok := splitAddress(r.Address); !ok {
		return badAddress(r.Address)
	}
	start := p.now()
	conn, err := p.dial(pc, "tcp", r.Address)
	latency := p.now().Sub(start)
	if err != nil {
		obs := pc.netFailure(err)
		obs.Latency = latency
		return obs
	}
	_ = conn.Close()
	obs := healthy("connected in %s", roundDuration(latency))
	obs.Latency = latency
	return obs
}
