package egress

import (
	"net/netip"
	"strings"
)

// Class is the kind of network an address belongs to.
type Class string

// The address classes. Every class but Public is special: an address a
// token scoped to one client may not target, and one that an allowlist
// reaches only through an IP or CIDR entry.
const (
	Public      Class = "public"
	Loopback    Class = "loopback"    // 127.0.0.0/8, ::1
	Private     Class = "private"     // RFC 1918, ULA fc00::/7, site-local fec0::/10
	LinkLocal   Class = "link-local"  // 169.254.0.0/16 (cloud metadata 169.254.169.254), fe80::/10
	CGNAT       Class = "cgnat"       // 100.64.0.0/10 (RFC 6598)
	Unspecified Class = "unspecified" // 0.0.0.0/8 ("this network"), ::
	Multicast   Class = "multicast"   // 224.0.0.0/4, ff00::/8
	Reserved    Class = "reserved"    // 240.0.0.0/4 and broadcast, 198.18.0.0/15, ::/96
)

// specialRanges are the IPv4 ranges of each special class. IPv6 is
// classified in Classify.
var specialRanges = []struct {
	prefix netip.Prefix
	class  Class
}{
	{netip.MustParsePrefix("0.0.0.0/8"), Unspecified},
	{netip.MustParsePrefix("10.0.0.0/8"), Private},
	{netip.MustParsePrefix("100.64.0.0/10"), CGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), Loopback},
	{netip.MustParsePrefix("169.254.0.0/16"), LinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), Private},
	{netip.MustParsePrefix("192.168.0.0/16"), Private},
	{netip.MustParsePrefix("198.18.0.0/15"), Reserved},
	{netip.MustParsePrefix("224.0.0.0/4"), Multicast},
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved},
}

var (
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4   = netip.MustParsePrefix("2002::/16")
	v4compat = netip.MustParsePrefix("::/96")
	ula      = netip.MustParsePrefix("fc00::/7")
	site     = netip.MustParsePrefix("fec0::/10")
)

// Classify says which class an address belongs to. IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d) and addresses that embed an IPv4 address a
// gateway connects to (NAT64 64:ff9b::/96, 6to4 2002::/16) are classified
// by that IPv4 address. The zero Addr is Unspecified.
func Classify(ip netip.Addr) Class {
	if !ip.IsValid() {
		return Unspecified
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		for _, r := range specialRanges {
			if r.prefix.Contains(ip) {
				return r.class
			}
		}
		return Public
	}
	switch {
	case ip.IsUnspecified():
		return Unspecified
	case ip.IsLoopback():
		return Loopback
	case ip.IsLinkLocalUnicast():
		return LinkLocal
	case ip.IsMulticast():
		return Multicast
	case ula.Contains(ip), site.Contains(ip):
		return Private
	case nat64.Contains(ip):
		b := ip.As16()
		return Classify(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixTo4.Contains(ip):
		b := ip.As16()
		return Classify(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	case v4compat.Contains(ip):
		return Reserved
	}
	return Public
}

// isLocalhostName reports whether a host name is localhost or under
// .localhost, which resolve to loopback (RFC 6761) whatever a resolver
// says.
func isLocalhostName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
