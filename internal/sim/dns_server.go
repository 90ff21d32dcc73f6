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
	s.mu.RUnlock()
	switch {
	case failing:
		return dnsReply(q, question, dnsRcodeFail, nil)
	case !found:
		return dnsReply(q, question, dnsRcodeNX, nil)
	case qclass != dnsClassIN:
		return dnsReply(q, question, dnsRcodeOK, nil)
	}
	var answers [][]byte
	for _, a := range addrs {
		switch {
		case qtype == dnsTypeA && a.Unmap().Is4():
			b := a.Unmap().As4()
			answers = append(answers, b[:])
		case qtype == dnsTypeAAAA && a.Is6() && !a.Is4In6():
			b := a.As16()
			answers = append(answers, b[:])
		}
	}
	return dnsReply(q, question, dnsRcodeOK, answers)
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
