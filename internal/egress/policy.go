// Package egress decides where blackwell may connect on behalf of stacks and
// notification channels: probes, provider APIs, build hooks, channels.
//
// An operator's Policy (serve --egress-allow) is an allowlist of IP
// addresses and CIDR ranges, host names, *.domain suffixes and the keyword
// "public". When a Policy is set, every such connection is checked when it
// is dialled, against the address it is about to connect to (after DNS
// resolution, in net.Dialer's ControlContext, so a name that resolves to
// something else at dial time than when it was written, as in DNS
// rebinding, is judged by what it resolves to now) and against the host
// name that was dialled. A nil *Policy allows everything: the self-hosted
// default, where the operator's own config may probe their own network.
//
// A connection to address A for host H is allowed when:
//   - A is inside an IP or CIDR entry; or
//   - A is a public address (Classify) and the list holds "public", or H
//     matches a host entry (exactly) or a *.domain entry (a subdomain of
//     domain, at any depth; not domain itself).
//
// So a host name entry never reaches a loopback, private, link-local, CGNAT
// or other special address: those must be listed by address. This keeps a
// name entry from being turned inwards by whoever controls the name's DNS.
//
// Independently of any Policy, CheckTargets refuses the special addresses
// to writes made with a token scoped to one client (package api calls it),
// unless the Policy allows them.
package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ErrRefused is what every refusal of this package wraps; test with
// errors.Is.
var ErrRefused = errors.New("refused by the egress allowlist")

// RefusedError is a connection the Policy does not allow.
type RefusedError struct {
	// Host is the name (or address) that was dialled.
	Host string
	// Addr is the address it resolved to; invalid when the check was by
	// name only (through a proxy).
	Addr netip.Addr
	// Why says what would allow it.
	Why string
}

func (e *RefusedError) Error() string {
	target := e.Host
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		target += " (" + e.Addr.String() + ")"
	}
	return fmt.Sprintf("connection to %s refused by the egress allowlist: %s", target, e.Why)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Policy is an operator's egress allowlist. A nil *Policy allows
// everything. It is immutable and safe for concurrent use.
type Policy struct {
	prefixes []netip.Prefix
	hosts    []string // exact host names, lower case, no trailing dot
	suffixes []string // ".example.com" for "*.example.com"
	public   bool     // "public": every public address
}

// KeywordPublic is the allowlist entry that allows every public address.
const KeywordPublic = "public"

// Parse reads an allowlist: entries separated by commas (and spaces), each
// an IP address, a CIDR range, a host name, *.domain, or "public". An
// empty list is a nil Policy (everything allowed).
func Parse(list string) (*Policy, error) {
	fields := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(fields) == 0 {
		return nil, nil
	}
	p := &Policy{}
	for _, f := range fields {
		if err := p.add(f); err != nil {
			return nil, fmt.Errorf("egress allowlist entry %q: %w", f, err)
		}
	}
	return p, nil
}

func (p *Policy) add(entry string) error {
	e := strings.ToLower(entry)
	switch {
	case e == KeywordPublic:
		p.public = true
	case e == "*":
		return errors.New(`"*" is not an entry: "public" allows every public address, 0.0.0.0/0 and ::/0 every address`)
	case strings.Contains(e, "://"):
		return errors.New("want a host name, not a URL (no scheme, port or path)")
	case strings.Contains(e, "/"):
		pfx, err := netip.ParsePrefix(e)
		if err != nil {
			return fmt.Errorf("not a CIDR range: %w", err)
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(0, pfx.Bits()-96))
		}
		p.prefixes = append(p.prefixes, pfx.Masked())
	case strings.HasPrefix(e, "*."):
		d := strings.TrimSuffix(e[2:], ".")
		if !validHostName(d) {
			return errors.New("want *.domain with a valid domain name")
		}
		p.suffixes = append(p.suffixes, "."+d)
	default:
		if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
			ip = ip.WithZone("").Unmap()
			p.prefixes = append(p.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			return nil
		}
		h := strings.TrimSuffix(e, ".")
		if !validHostName(h) {
			return errors.New("want an IP address, a CIDR range, a host name, *.domain or \"public\" (no scheme, port or path)")
		}
		p.hosts = append(p.hosts, h)
	}
	return nil
}

// validHostName reports whether s is a DNS name: labels of letters,
// digits, '-' and '_', separated by dots.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// String is the allowlist in a canonical form, for logs.
func (p *Policy) String() string {
	if p == nil {
		return ""
	}
	var out []string
	if p.public {
		out = append(out, KeywordPublic)
	}
	for _, pfx := range p.prefixes {
		out = append(out, pfx.String())
	}
	out = append(out, p.hosts...)
	for _, s := range p.suffixes {
		out = append(out, "*"+s)
	}
	return strings.Join(out, ",")
}

// Allows says whether a connection to ip, dialled as host (a name or the
// address itself), may be made: nil, or a *RefusedError.
func (p *Policy) Allows(host string, ip netip.Addr) error {
	if p == nil {
		return nil
	}
	ip = ip.WithZone("").Unmap()
	if p.inPrefixes(ip) {
		return nil
	}
	class := Classify(ip)
	named := p.matchesName(host)
	if class == Public && (p.public || named) {
		return nil
	}
	var why string
	switch {
	case class != Public && named:
		why = fmt.Sprintf("%s is a %s address and host name entries allow public addresses only; list the address or its range", ip, class)
	case class != Public:
		why = fmt.Sprintf("%s is a %s address; list the address or its range to allow it", ip, class)
	default:
		why = "neither the host nor the address is listed"
	}
	return &RefusedError{Host: host, Addr: ip, Why: why}
}

// AllowsName judges a host by its name alone, for connections whose
// address blackwell does not see (a proxy resolves it): an IP address is
// judged as by Allows; a name must match a host or *.domain entry, or the
// list must hold "public".
func (p *Policy) AllowsName(host string) error {
	if p == nil {
		return nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return p.Allows(host, ip)
	}
	if isLocalhostName(host) {
		return p.Allows(host, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	}
	if p.public || p.matchesName(host) {
		return nil
	}
	return &RefusedError{Host: host, Why: "the host is not listed (through a proxy, only the name can be checked)"}
}

func (p *Policy) inPrefixes(ip netip.Addr) bool {
	return slices.ContainsFunc(p.prefixes, func(pfx netip.Prefix) bool { return pfx.Contains(ip) })
}

func (p *Policy) matchesName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "" {
		return false
	}
	if slices.Contains(p.hosts, h) {
		return true
	}
	return slices.ContainsFunc(p.suffixes, func(s string) bool { return strings.HasSuffix(h, s) })
}
