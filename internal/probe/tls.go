package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// probeTLS dials r.Address with TLS (SNI is the host) and checks the leaf
// certificate: it must not have expired, its chain must verify against
// Options.RootCAs (or the system's roots) for the host, and it must stay
// valid for at least r.MinDaysValid more days. The chain is verified after
// the handshake, with the Prober's clock, so that an expired certificate is
// reported by its date rather than as a verification error.
func (p *Prober) probeTLS(pc probeCtx, r config.Resource) drift.ResourceObservation {
	host, ok := splitAddress(r.Address)
	if !ok {
		return badAddress(r.Address)
	}
	minDays := r.MinDaysValid
	if minDays <= 0 {
		minDays = DefaultMinDaysValid
	}
	cfg := &tls.Config{
		ServerName: host,
		// Verified below, against the Prober's clock and roots.
		InsecureSkipVerify: true, //nolint:gosec // see above
	}
	start := p.now()
	conn, err := p.dialTLS(pc, r.Address, cfg)
	latency := p.now().Sub(start)
	if err != nil {
		obs := pc.netFailure(err)
		obs.Latency = latency
		return obs
	}
	defer func() { _ = conn.Close() }()
	chain := conn.ConnectionState().PeerCertificates
	obs := p.judgeCertificate(chain, host, minDays)
	obs.Latency = latency
	if len(chain) > 0 && !chain[0].NotAfter.IsZero() {
		notAfter := chain[0].NotAfter.UTC()
		obs.NotAfter = &notAfter
	}
	return obs
}

// dialTLS connects with the Prober's (egress-checked) dial function and
// completes a TLS handshake within ctx.
func (p *Prober) dialTLS(ctx context.Context, address string, cfg *tls.Config) (*tls.Conn, error) {
	raw, err := p.dial(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return conn, nil
}

func (p *Prober) judgeCertificate(chain []*x509.Certificate, host string, minDays int) drift.ResourceObservation {
	if len(chain) == 0 {
		return unhealthy("no certificate presented")
	}
	leaf := chain[0]
	now := p.now()
	expiry := leaf.NotAfter.UTC().Format(time.DateOnly)
	if !now.Before(leaf.NotAfter) {
		return unhealthy("certificate expired %s", expiry)
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         p.rootCAs,
		Intermediates: intermediates,
		DNSName:       host,
		CurrentTime:   now,
	})
	if err != nil {
		return unhealthy("%v", err)
	}
	days := int(leaf.NotAfter.Sub(now) / (24 * time.Hour))
	if days < minDays {
		return unhealthy("certificate expires in %s (%s), want at least %d days", daysText(days), expiry, minDays)
	}
	return healthy("certificate expires in %s (%s)", daysText(days), expiry)
}

func daysText(days int) string {
	switch days {
	case 0:
		return "less than a day"
	case 1:
		return "1 day"
	default:
		return itoa(days) + " days"
	}
}

// splitAddress checks that address is host:port and returns the host.
func splitAddress(address string) (host string, ok bool) {
	host, port, err := net.SplitHostPort(address)
	if err != nil || host == "" || port == "" {
		return "", false
	}
	return host, true
}

func badAddress(address string) drift.ResourceObservation {
	if address == "" {
		return unknown("no address")
	}
	return unknown("invalid address %q: want host:port", shorten(address, 80))
}
