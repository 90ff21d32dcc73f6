package egress

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ip   string
		want Class
	}{
		{"8.8.8.8", Public},
		{"1.1.1.1", Public},
		{"2606:4700:4700::1111", Public},
		{"127.0.0.1", Loopback},
		{"127.255.0.9", Loopback},
		{"::1", Loopback},
		{"10.1.2.3", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"172.32.0.1", Public},
		{"192.168.1.1", Private},
		{"fd00:ec2::254", Private}, // AWS's IPv6 metadata address is ULA
		{"fc00::1", Private},
		{"169.254.169.254", LinkLocal},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"100.64.0.1", CGNAT},
		{"100.127.255.255", CGNAT},
		{"100.128.0.1", Public},
		{"0.0.0.0", Unspecified},
		{"0.1.2.3", Unspecified},
		{"::", Unspecified},
		{"224.0.0.1", Multicast},
		{"ff02::1", Multicast},
		{"255.255.255.255", Reserved},
		{"198.18.0.1", Reserved},
		{"::ffff:127.0.0.1", Loopback},        // IPv4-mapped
		{"::ffff:169.254.169.254", LinkLocal}, // IPv4-mapped
		{"64:ff9b::a9fe:a9fe", LinkLocal},     // NAT64 of 169.254.169.254
		{"64:ff9b::808:808", Public},          // NAT64 of 8.8.8.8
		{"2002:7f00:1::1", Loopback},          // 6to4 of 127.0.0.1
		{"::7f00:1", Reserved},                // IPv4-compatible, deprecated
	}
	for _, c := range cases {
		t.Run(c.ip, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, Classify(netip.MustParseAddr(c.ip)))
		})
	}
	require.Equal(t, Unspecified, Classify(netip.Addr{}))
}

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: " , ", want: ""},
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: "10.1.2.3/8", want: "10.0.0.0/8"}, // masked
		{in: "10.1.2.3", want: "10.1.2.3/32"},
		{in: "::1", want: "::1/128"},
		{in: "[::1]", want: "::1/128"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "API.Shopify.com.", want: "api.shopify.com"},
		{in: "*.Example.com", want: "*.example.com"},
		{in: "PUBLIC, 10.0.5.0/24 hooks.example.com,*.myshopify.com", want: "public,10.0.5.0/24,hooks.example.com,*.myshopify.com"},
		{in: "*", err: `"public" allows`},
		{in: "10.0.0.0/33", err: "not a CIDR range"},
		{in: "https://example.com", err: "no scheme"},
		{in: "example.com:443", err: "no scheme, port"},
		{in: "*.", err: "*.domain"},
		{in: "*.ex!ample.com", err: "*.domain"},
		{in: "a..b", err: "host name"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(c.in)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, p.String())
			if c.want == "" {
				require.Nil(t, p)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy, host, ip string
		ok               bool
		why              string
	}{
		// No policy: everything.
		{"", "localhost", "127.0.0.1", true, ""},
		{"", "169.254.169.254", "169.254.169.254", true, ""},
		// CIDR and IP entries, whatever the host.
		{"10.0.0.0/8", "intranet.corp", "10.2.3.4", true, ""},
		{"10.0.0.0/8", "10.2.3.4", "10.2.3.4", true, ""},
		{"10.0.0.0/8", "intranet.corp", "192.168.0.1", false, "private address; list the address"},
		{"10.0.0.0/8", "example.com", "93.184.216.34", false, "neither the host nor the address"},
		{"127.0.0.1", "localhost", "127.0.0.1", true, ""},
		{"127.0.0.1", "localhost", "::1", false, "loopback"},
		{"::1", "localhost", "::ffff:127.0.0.1", false, "loopback"},
		{"127.0.0.1", "localhost", "::ffff:127.0.0.1", true, ""}, // mapped is the IPv4 address
		// Exact host entries: public addresses of that name only.
		{"api.shopify.com", "api.shopify.com", "23.227.38.65", true, ""},
		{"api.shopify.com", "API.Shopify.com.", "23.227.38.65", true, ""},
		{"api.shopify.com", "shopify.com", "23.227.38.65", false, "neither"},
		{"api.shopify.com", "api.shopify.com", "127.0.0.1", false, "host name entries allow public addresses only"},
		{"api.shopify.com", "api.shopify.com", "169.254.169.254", false, "link-local"},
		// *.domain: subdomains at any depth, not the domain itself.
		{"*.example.com", "a.example.com", "93.184.216.34", true, ""},
		{"*.example.com", "a.b.example.com", "93.184.216.34", true, ""},
		{"*.example.com", "example.com", "93.184.216.34", false, "neither"},
		{"*.example.com", "badexample.com", "93.184.216.34", false, "neither"},
		{"*.example.com", "rebind.example.com", "10.0.0.1", false, "host name entries allow public"},
		// public: any public address, no special one.
		{"public", "anything.example", "8.8.8.8", true, ""},
		{"public", "anything.example", "2606:4700:4700::1111", true, ""},
		{"public", "metadata", "169.254.169.254", false, "link-local"},
		{"public", "x", "100.64.1.1", false, "cgnat"},
		{"public", "x", "0.0.0.0", false, "unspecified"},
		{"public", "x", "fd00::1", false, "private"},
		{"public,169.254.169.254", "x", "169.254.169.254", true, ""},
	}
	for _, c := range cases {
		t.Run(c.policy+" "+c.host+" "+c.ip, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(c.policy)
			require.NoError(t, err)
			err = p.Allows(c.host, netip.MustParseAddr(c.ip))
			if c.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrRefused)
			require.ErrorContains(t, err, c.why)
			require.ErrorContains(t, err, "connection to "+c.host)
		})
	}
}

func TestAllowsName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy, host string
		ok           bool
	}{
		{"", "anything", true},
		{"hooks.example.com", "hooks.example.com", true},
		{"hooks.example.com", "other.example.com", false},
		{"*.example.com", "other.example.com", true},
		{"public", "other.example.com", true}, // the proxy resolves it: documented
		{"public", "localhost", false},
		{"public", "app.localhost", false},
		{"public", "127.0.0.1", false},
		{"public", "8.8.8.8", true},
		{"10.0.0.0/8", "10.1.1.1", true},
		{"10.0.0.0/8", "intranet", false},
	}
	for _, c := range cases {
		t.Run(c.policy+" "+c.host, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(c.policy)
			require.NoError(t, err)
			err = p.AllowsName(c.host)
			if c.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrRefused)
			}
		})
	}
}

// fakeResolver answers from a map; a name not in it does not exist.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestCheckTargets(t *testing.T) {
	t.Parallel()
	dns := fakeResolver{
		"www.example.com":   {"93.184.216.34"},
		"internal.example":  {"10.0.0.7"},
		"dual.example":      {"93.184.216.34", "192.168.1.9"},
		"metadata.internal": {"169.254.169.254"},
	}
	cases := []struct {
		name, policy, host string
		errText            string // empty: allowed
	}{
		{"public name", "", "www.example.com", ""},
		{"public address", "", "93.184.216.34", ""},
		{"loopback literal", "", "127.0.0.1", "spec.x: host 127.0.0.1 is a loopback address"},
		{"metadata literal", "", "169.254.169.254", "link-local"},
		{"ipv6 loopback", "", "::1", "loopback"},
		{"mapped loopback", "", "::ffff:127.0.0.1", "loopback"},
		{"localhost without a lookup", "", "localhost", "host localhost resolves to 127.0.0.1, which is a loopback address"},
		{"sub.localhost", "", "app.localhost", "loopback"},
		{"name to private", "", "internal.example", "resolves to 10.0.0.7"},
		{"one address of several", "", "dual.example", "192.168.1.9"},
		{"name to metadata", "", "metadata.internal", "169.254.169.254"},
		{"cgnat", "", "100.64.0.1", "cgnat"},
		{"unspecified", "", "0.0.0.0", "unspecified"},
		{"unresolvable name is not refused", "", "nowhere.example", ""},
		{"allowed by CIDR", "10.0.0.0/8", "internal.example", ""},
		{"allowed by IP", "127.0.0.1", "localhost", ""},
		{"a name entry does not allow a private address", "internal.example", "internal.example", "10.0.0.7"},
		{"public does not allow a private address", "public", "10.0.0.7", "private"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(c.policy)
			require.NoError(t, err)
			err = CheckTargets(context.Background(), p, dns, []config.Target{{Field: "spec.x", Host: c.host}})
			if c.errText == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrRefused)
			require.ErrorContains(t, err, c.errText)
			require.ErrorContains(t, err, "spec.x: host "+c.host)
			var te *TargetError
			require.ErrorAs(t, err, &te)
			require.Equal(t, "spec.x", te.Field)
		})
	}
}

func TestCheckTargetsStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := CheckTargets(ctx, nil, fakeResolver{}, []config.Target{{Field: "f", Host: "x.example"}})
	require.ErrorIs(t, err, context.Canceled)
}
