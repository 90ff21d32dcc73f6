package probe

import (
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"syscall"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/egress"
)

// netFailure turns the error of a dial, handshake or request into an
// observation: the caller's cancellation and a refusal by the egress
// allowlist are StatusUnknown, a name that does
// not exist is StatusMissing, a resolver that failed is StatusUnknown (the
// resolver, not the resource, is at fault), and everything else that stops
// the resource from answering is StatusUnhealthy.
func (pc probeCtx) netFailure(err error) drift.ResourceObservation {
	if obs, ok := pc.interrupted(); ok {
		return obs
	}
	var refused *egress.RefusedError
	if errors.As(err, &refused) {
		// The operator's allowlist, not the resource, stopped the probe.
		return unknown("%v", refused)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return missing("host %s not found", dnsErr.Name)
		case dnsErr.IsTimeout:
			return unknownBecause(drift.ReasonTimeout, "lookup of %s timed out", dnsErr.Name)
		default:
			return unknownBecause(drift.ReasonUnreachable, "lookup of %s failed: %s", dnsErr.Name, dnsErr.Err)
		}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		if addr := remoteAddr(err); addr != "" {
			return unhealthy("connection refused by %s", addr)
		}
		return unhealthy("connection refused")
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return unhealthy("connection reset")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return unhealthy("timeout after %s", pc.timeout)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return unhealthy("%v", certErr.Err)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		// url.Error repeats the whole URL, query string and all; the
		// cause alone is what a person needs.
		err = urlErr.Err
	}
	return unhealthy("%v", err)
}

// remoteAddr is the address a failed dial tried, if the error says.
func remoteAddr(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Addr != nil {
		return opErr.Addr.String()
	}
	return ""
}
