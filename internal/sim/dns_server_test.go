package sim_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/sim"
)

func setupDNS(t *testing.T, records map[string][]netip.Addr) *sim.DNSServer {
	t.Helper()
	srv, err := sim.NewDNSServer(sim.DNSOptions{Records: records})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

func TestDNSServerAnswers(t *testing.T) {
	t.Parallel()
	srv := setupDNS(t, map[string][]netip.Addr{
		"www.example.test":     {netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
		"v4only.example.test.": {netip.MustParseAddr("192.0.2.11")},
		"empty.example.test":   nil,
	})
	srv.Fail("broken.example.test")
	resolver := srv.Resolver()

	tests := []struct {
		name         string
		want         []string
		wantNotFound bool
		wantErr      bool
	}{
		{name: "www.example.test", want: []string{"192.0.2.10", "2001:db8::10"}},
		{name: "WWW.Example.TEST.", want: []string{"192.0.2.10", "2001:db8::10"}},
		{name: "v4only.example.test", want: []string{"192.0.2.11"}},
		{name: "empty.example.test", wantNotFound: true, wantErr: true}, // no records of either type
		{name: "nosuch.example.invalid", wantNotFound: true, wantErr: true},
		{name: "broken.example.test", wantErr: true},
		{name: "localhost", want: []string{"127.0.0.1"}}, // from /etc/hosts, never asked here
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addrs, err := resolver.LookupHost(t.Context(), tt.name)
			if !tt.wantErr {
				require.NoError(t, err)
				slices.Sort(addrs)
				if tt.name == "localhost" {
					require.Contains(t, addrs, "127.0.0.1")
					return
				}
				require.Equal(t, tt.want, addrs)
				return
			}
			var dnsErr *net.DNSError
			require.True(t, errors.As(err, &dnsErr), "%v", err)
			require.Equal(t, tt.wantNotFound, dnsErr.IsNotFound, "%v", err)
		})
	}
}

func TestDNSServerChangesAtRunTime(t *testing.T) {
	t.Parallel()
	srv := setupDNS(t, nil)
	resolver := srv.Resolver()
	const name = "site.example.test"

	_, err := resolver.LookupHost(t.Context(), name)
	requireNotFound(t, err, true)

	srv.Set(name, netip.MustParseAddr("192.0.2.1"))
	addrs, err := resolver.LookupHost(t.Context(), name)
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.1"}, addrs)

	srv.Fail(name)
	_, err = resolver.LookupHost(t.Context(), name)
	requireNotFound(t, err, false)

	srv.Set(name, netip.MustParseAddr("192.0.2.2"))
	addrs, err = resolver.LookupHost(t.Context(), name)
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.2"}, addrs)

	srv.Delete(name)
	_, err = resolver.LookupHost(t.Context(), name)
	requireNotFound(t, err, true)
	require.Positive(t, srv.Queries())
}

func TestDNSServerIgnoresGarbage(t *testing.T) {
	t.Parallel()
	srv := setupDNS(t, map[string][]netip.Addr{"ok.example.test": {netip.MustParseAddr("192.0.2.1")}})
	conn, err := net.Dial("udp", srv.Addr())
	require.NoError(t, err)
	defer conn.Close()
	for _, msg := range [][]byte{
		{1, 2, 3},
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63},                   // name runs off the end
		{0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0},                       // two questions
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, // compressed question
	} {
		_, err := conn.Write(msg)
		require.NoError(t, err)
	}
	// Still answering.
	addrs, err := srv.Resolver().LookupHost(t.Context(), "ok.example.test")
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.1"}, addrs)
}

func requireNotFound(t *testing.T, err error, notFound bool) {
	t.Helper()
	var dnsErr *net.DNSError
	require.True(t, errors.As(err, &dnsErr), "%v", err)
	require.Equal(t, notFound, dnsErr.IsNotFound, "%v", err)
}

// A CNAME answers its target (and, to an address query, the target's
// addresses); a zone's NS query answers its servers; both move at run time.
func TestDNSServerAliasesAndDelegations(t *testing.T) {
	t.Parallel()
	srv := setupDNS(t, map[string][]netip.Addr{"edge.host-a.test": {netip.MustParseAddr("192.0.2.20")}})
	srv.SetCNAME("www.shop.test", "edge.host-a.test")
	srv.SetNS("shop.test", "ns1.dns-a.test", "NS2.dns-a.test.")
	r := srv.Resolver()
	ctx := t.Context()

	target, err := r.LookupCNAME(ctx, "www.shop.test")
	require.NoError(t, err)
	require.Equal(t, "edge.host-a.test.", target)
	addrs, err := r.LookupHost(ctx, "www.shop.test")
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.20"}, addrs)
	ns, err := r.LookupNS(ctx, "shop.test")
	require.NoError(t, err)
	var hosts []string
	for _, n := range ns {
		hosts = append(hosts, n.Host)
	}
	slices.Sort(hosts)
	require.Equal(t, []string{"ns1.dns-a.test.", "ns2.dns-a.test."}, hosts)

	srv.SetCNAME("www.shop.test", "edge.host-b.test") // a target with no addresses
	target, err = r.LookupCNAME(ctx, "www.shop.test")
	require.NoError(t, err)
	require.Equal(t, "edge.host-b.test.", target)
	_, err = r.LookupHost(ctx, "www.shop.test")
	require.Error(t, err)
	srv.SetNS("shop.test", "ns1.dns-b.test")
	ns, err = r.LookupNS(ctx, "shop.test")
	require.NoError(t, err)
	require.Len(t, ns, 1)
	require.Equal(t, "ns1.dns-b.test.", ns[0].Host)
	srv.SetCNAME("www.shop.test", "")
	_, err = r.LookupCNAME(ctx, "www.shop.test")
	require.Error(t, err, "no alias, no record: not found")
}
