package probe

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// maxAddrsInDetail bounds how many addresses a dns probe lists.
const maxAddrsInDetail = 5

// probeDNS resolves r.Name with Options.Resolver. A name that does not exist
// is StatusMissing; any other failure is the resolver's, so StatusUnknown.
func (p *Prober) probeDNS(pc probeCtx, r config.Resource) drift.ResourceObservation {
	if r.Name == "" {
		return unknown("no name")
	}
	start := p.now()
	addrs, err := p.resolver.LookupHost(pc, r.Name)
	latency := p.now().Sub(start)
	var obs drift.ResourceObservation
	if err != nil {
		var dnsErr *net.DNSError
		switch {
		case pc.parent.Err() != nil:
			obs = unknown("cancelled: %v", pc.parent.Err())
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			obs = missing("name %s not found", r.Name)
		case pc.Err() != nil || errors.As(err, &dnsErr) && dnsErr.IsTimeout:
			obs = unknownBecause(drift.ReasonTimeout, "lookup of %s timed out after %s", r.Name, pc.timeout)
		default:
			obs = unknownBecause(drift.ReasonUnreachable, "resolver failed: %v", err)
		}
	} else {
		obs = healthy("resolves to %s", addrList(addrs))
		obs.Answers = slices.Clone(addrs)
		slices.Sort(obs.Answers)
	}
	obs.Latency = latency
	return obs
}

func addrList(addrs []string) string {
	addrs = slices.Clone(addrs)
	slices.Sort(addrs)
	if len(addrs) <= maxAddrsInDetail {
		return strings.Join(addrs, ", ")
	}
	return strings.Join(addrs[:maxAddrsInDetail], ", ") + " and " + itoa(len(addrs)-maxAddrsInDetail) + " more"
}

func itoa(n int) string { return strconv.Itoa(n) }
