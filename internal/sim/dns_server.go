package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
)

// DNS wire constants (RFC 1035 section 4.1).
const (
	dnsHeaderLen  = 12
	dnsTypeA      = 1
	dnsTypeAAAA   = 28
	dnsTypeNS     = 2
	dnsTypeCNAME  = 5
	dnsClassIN    = 1
	dnsRcodeOK    = 0
	dnsRcodeForm  = 1 // FORMERR
	dnsRcodeFail  = 2 // SERVFAIL
	dnsRcodeNX    = 3 // NXDOMAIN
	dnsRcodeNoImp = 4 // NOTIMP
	dnsAnswerTTL  = 60
	dnsMaxUDP     = 512
)

// DNSOptions configure a DNSServer.
type DNSOptions struct {
	// Addr to listen on (UDP). Default "127.0.0.1:0", a free port.
	Addr string
	// Records to start with: name to addresses.
	Records map[string][]netip.Addr
	// Logger receives errors of the server. Default: discarded.
	Logger *slog.Logger
}

// DNSServer is an authoritative DNS server on UDP for A and AAAA queries,
// for tests that hold a few addresses per name (answers are not truncated).
// A name it holds answers its addresses (NOERROR, and no answers for a type
// it has none of), a name set failing answers SERVFAIL, and every other name
// answers NXDOMAIN. Its Resolver sends every lookup that /etc/hosts does not
// answer here, so a test never queries the machine's resolver. It is safe
// for concurrent use.
type DNSServer struct {
	conn    net.PacketConn
	logger  *slog.Logger
	queries atomic.Int64
	done    chan struct{}

	mu      sync.RWMutex
	records map[string][]netip.Addr // by canonical name
	failing map[string]bool
	cnames  map[string]string   // name to canonical target
	ns      map[string][]string // zone to canonical server names
}

// NewDNSServer starts a DNSServer.
func NewDNSServer(opts DNSOptions) (*DNSServer, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	conn, err := net.ListenPacket("udp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("dns listen on %s: %w", opts.Addr, err)
	}
	s := &DNSServer{
		conn:    conn,
		logger:  opts.Logger,
		done:    make(chan struct{}),
		records: make(map[string][]netip.Addr),
		failing: make(map[string]bool),
		cnames:  make(map[string]string),
		ns:      make(map[string][]string),
	}
	for name, addrs := range opts.Records {
		s.Set(name, addrs...)
	}
	go s.serve()
	return s, nil
}

// Addr is the server's host:port.
func (s *DNSServer) Addr() string { return s.conn.LocalAddr().String() }

// Resolver returns a resolver that asks this server.
func (s *DNSServer) Resolver() *net.Resolver {
	addr := s.Addr()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
}

// Set makes name answer addrs, and no longer fail.
func (s *DNSServer) Set(name string, addrs ...netip.Addr) {
	key := canonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = append([]netip.Addr(nil), addrs...)
	delete(s.failing, key)
}

// SetCNAME makes name an alias of target: a CNAME query answers target,
// an A or AAAA query the CNAME record and then target's addresses (as a
// recursive resolver does). An empty target removes the alias.
func (s *DNSServer) SetCNAME(name, target string) {
	key := canonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if target == "" {
		delete(s.cnames, key)
		return
	}
	s.cnames[key] = canonicalName(target)
	delete(s.failing, key)
}

// SetNS makes an NS query for zone answer servers (none: the zone has no
// NS records here).
func (s *DNSServer) SetNS(zone string, servers ...string) {
	key := canonicalName(zone)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(servers) == 0 {
		delete(s.ns, key)
		return
	}
	s.ns[key] = nil
	for _, srv := range servers {
		s.ns[key] = append(s.ns[key], canonicalName(srv))
	}
}

// Fail makes name answer SERVFAIL.
func (s *DNSServer) Fail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[canonicalName(name)] = true
}

// Delete makes name answer NXDOMAIN.
func (s *DNSServer) Delete(name string) {
	key := canonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
	delete(s.failing, key)
	delete(s.cnames, key)
}

// Queries is how many queries the server has received.
func (s *DNSServer) Queries() int64 { return s.queries.Load() }

// Close stops the server and waits for it.
func (s *DNSServer) Close() {
	_ = s.conn.Close()
	<-s.done
}

func (s *DNSServer) serve() {
	defer close(s.done)
	buf := make([]byte, 4096)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.logger.Warn("sim dns stopped", "error", err)
			}
			return
		}
		s.queries.Add(1)
		resp := s.answer(buf[:n])
		if resp == nil {
			continue // not even a header: drop, as servers do
		}
		if _, err := s.conn.WriteTo(resp, from); err != nil && !errors.Is(err, net.ErrClosed) {
			s.logger.Warn("sim dns write", "error", err)
		}
	}
}

// answer builds the response to one query message.
func (s *DNSServer) answer(q []byte) []byte {
	if len(q) < dnsHeaderLen || q[2]&0x80 != 0 { // too short, or a response
		return nil
	}
	opcode := (q[2] >> 3) & 0x0f
	qdcount := binary.BigEndian.Uint16(q[4:6])
	if opcode != 0 {
		return dnsReply(q, nil, dnsRcodeNoImp, nil)
	}
	if qdcount != 1 {
		return dnsReply(q, nil, dnsRcodeForm, nil)
	}
	name, end, ok := parseQuestionName(q, dnsHeaderLen)
	if !ok || end+4 > len(q) {
		return dnsReply(q, nil, dnsRcodeForm, nil)
	}
	question := q[dnsHeaderLen : end+4]
	qtype := binary.BigEndian.Uint16(q[end : end+2])
	qclass := binary.BigEndian.Uint16(q[end+2 : end+4])

	s.mu.RLock()
	addrs, found := s.records[name]
	failing := s.failing[name]
	target, alias := s.cnames[name]
	servers, zone := s.ns[name]
	if alias {
		addrs = s.records[target]
	}
	s.mu.RUnlock()
	switch {
	case failing:
		return dnsReply(q, question, dnsRcodeFail, nil)
	case !found && !alias && !zone:
		return dnsReply(q, question, dnsRcodeNX, nil)
	case qclass != dnsClassIN:
		return dnsReply(q, question, dnsRcodeOK, nil)
	case qtype == dnsTypeNS:
		var rrs []dnsRR
		for _, srv := range servers {
			rrs = append(rrs, dnsRR{typ: dnsTypeNS, rdata: encodeName(srv)})
		}
		return dnsReplyRRs(q, question, rrs)
	case alias:
		rrs := []dnsRR{{typ: dnsTypeCNAME, rdata: encodeName(target)}}
		if qtype != dnsTypeCNAME {
			for _, rd := range addrRdatas(addrs, qtype) {
				rrs = append(rrs, dnsRR{owner: encodeName(target), typ: qtype, rdata: rd})
			}
		}
		return dnsReplyRRs(q, question, rrs)
	}
	return dnsReply(q, question, dnsRcodeOK, addrRdatas(addrs, qtype))
}

// addrRdatas are the rdatas of addrs of type qtype (A or AAAA).
func addrRdatas(addrs []netip.Addr, qtype uint16) [][]byte {
	var out [][]byte
	for _, a := range addrs {
		switch {
		case qtype == dnsTypeA && a.Unmap().Is4():
			b := a.Unmap().As4()
			out = append(out, b[:])
		case qtype == dnsTypeAAAA && a.Is6() && !a.Is4In6():
			b := a.As16()
			out = append(out, b[:])
		}
	}
	return out
}

// dnsRR is one answer record: owner nil is the question's name.
type dnsRR struct {
	owner []byte
	typ   uint16
	rdata []byte
}

// dnsReplyRRs answers q with rrs (NOERROR), each of class IN.
func dnsReplyRRs(q, question []byte, rrs []dnsRR) []byte {
	out := dnsReply(q, question, dnsRcodeOK, nil)
	binary.BigEndian.PutUint16(out[6:8], uint16(len(rrs)))
	for _, rr := range rrs {
		if rr.owner == nil {
			out = append(out, 0xc0, dnsHeaderLen)
		} else {
			out = append(out, rr.owner...)
		}
		out = binary.BigEndian.AppendUint16(out, rr.typ)
		out = binary.BigEndian.AppendUint16(out, dnsClassIN)
		out = binary.BigEndian.AppendUint32(out, dnsAnswerTTL)
		out = binary.BigEndian.AppendUint16(out, uint16(len(rr.rdata)))
		out = append(out, rr.rdata...)
	}
	return out
}

// encodeName is a canonical name in wire form, uncompressed.
func encodeName(name string) []byte {
	var out []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l == "" {
			continue
		}
		out = append(out, byte(len(l)))
		out = append(out, l...)
	}
	return append(out, 0)
}

// dnsReply answers query q: same id, the question echoed, and one record of
// type and class as asked for each rdata, its owner a pointer to the
// question's name.
func dnsReply(q, question []byte, rcode byte, rdatas [][]byte) []byte {
	out := make([]byte, dnsHeaderLen, dnsMaxUDP)
	copy(out[0:2], q[0:2])
	out[2] = 0x80 | 0x04 | q[2]&0x01 // QR, AA, RD as asked
	out[3] = 0x80 | rcode            // RA
	if question != nil {
		binary.BigEndian.PutUint16(out[4:6], 1)
		out = append(out, question...)
	}
	if question == nil {
		return out
	}
	binary.BigEndian.PutUint16(out[6:8], uint16(len(rdatas)))
	typeClass := question[len(question)-4:]
	for _, rd := range rdatas {
		out = append(out, 0xc0, dnsHeaderLen) // name: pointer to the question
		out = append(out, typeClass...)
		out = binary.BigEndian.AppendUint32(out, dnsAnswerTTL)
		out = binary.BigEndian.AppendUint16(out, uint16(len(rd)))
		out = append(out, rd...)
	}
	return out
}

// parseQuestionName reads an uncompressed name at off and returns it in
// canonical form and the offset after it.
func parseQuestionName(msg []byte, off int) (name string, end int, ok bool) {
	var b strings.Builder
	for {
		if off >= len(msg) {
			return "", 0, false
		}
		n := int(msg[off])
		off++
		if n == 0 {
			break
		}
		if n&0xc0 != 0 || off+n > len(msg) || b.Len()+n+1 > 255 {
			return "", 0, false // compression in a question, or too long
		}
		b.Write(msg[off : off+n])
		b.WriteByte('.')
		off += n
	}
	if b.Len() == 0 {
		return ".", off, true
	}
	return strings.ToLower(b.String()), off, true
}

// canonicalName is name in lower case with a final dot.
func canonicalName(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}
