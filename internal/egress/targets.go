package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/blackwellio/blackwell/internal/config"
)

// TargetError is a target of a spec that a scoped write may not name.
type TargetError struct {
	Field string
	Host  string
	Addr  netip.Addr
	Class Class
}

func (e *TargetError) Error() string {
	where := "is"
	if e.Addr.String() != e.Host {
		where = "resolves to " + e.Addr.String() + ", which is"
	}
	return fmt.Sprintf("%s: host %s %s a %s address, which a token scoped to one client may not target (unless the server's --egress-allow lists it)",
		e.Field, e.Host, where, e.Class)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *TargetError) Is(target error) bool { return target == ErrRefused }

// Resolver looks host names up (*net.Resolver does).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckTargets refuses targets that are, or resolve now to, a special
// address (every Class but Public: loopback, private, link-local with the
// cloud metadata address, CGNAT, unspecified, multicast, reserved) that p
// does not allow by address; it returns the first as a *TargetError.
// localhost and *.localhost are loopback without a lookup. A name that does
// not resolve is not refused (it reaches nothing now); a name that
// resolves elsewhere later is judged at dial time only when p is set.
// A nil resolver is the system's.
func CheckTargets(ctx context.Context, p *Policy, resolver Resolver, targets []config.Target) error {
	if resolver == nil {
		resolver = &net.Resolver{}
	}
	for _, t := range targets {
		addrs, err := addrsOf(ctx, resolver, t.Host)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("check %s: %w", t.Field, ctx.Err())
			}
			continue
		}
		for _, a := range addrs {
			a = a.WithZone("").Unmap()
			class := Classify(a)
			if class == Public {
				continue
			}
			if p != nil && p.inPrefixes(a) {
				continue
			}
			return &TargetError{Field: t.Field, Host: t.Host, Addr: a, Class: class}
		}
	}
	return nil
}

// addrsOf is the address a host names, or those it resolves to.
func addrsOf(ctx context.Context, resolver Resolver, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(hostOf(host)); err == nil {
		return []netip.Addr{ip}, nil
	}
	if isLocalhostName(host) {
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
	}
	return resolver.LookupNetIP(ctx, "ip", host)
}
