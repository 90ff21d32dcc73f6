package notify

import (
	"fmt"
	"sort"
	"time"

	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/drift"
)

// RateGate is one channel's rate limit with a digest of what it held back.
// Detected, reminder and escalated messages spend a token; when none is
// left the message is held (counted, not sent). Resolved messages always
// pass, so an incident opened on a receiver is always closed, and so do
// digests. Flush turns what was held for a client into one digest message,
// at most once per digest interval per client. Time is passed in; not safe
// for concurrent use.
type RateGate struct {
	channel  string
	limiter  *rate.Limiter
	interval time.Duration
	held     map[string]*Digest // by client
	last     map[string]time.Time
	seq      map[string]int
}

// NewRateGate returns the gate of channel: limit messages a second with
// bursts of burst (rate.Inf: no limit), and digests at most every interval.
func NewRateGate(channel string, limit rate.Limit, burst int, interval time.Duration) *RateGate {
	if burst < 1 {
		burst = 1
	}
	return &RateGate{
		channel:  channel,
		limiter:  rate.NewLimiter(limit, burst),
		interval: interval,
		held:     map[string]*Digest{},
		last:     map[string]time.Time{},
		seq:      map[string]int{},
	}
}

// Admit reports whether m may be sent at now; if not, it is held for the
// digest.
func (g *RateGate) Admit(now time.Time, m Message) bool {
	if m.Kind == KindResolved || m.Kind == KindForecastCleared || m.Kind == KindDigest {
		return true
	}
	if g.limiter.AllowN(now, 1) {
		return true
	}
	d := g.held[m.ClientID]
	if d == nil {
		d = &Digest{Channel: g.channel, Since: now, ByKind: map[Kind]int{}}
		g.held[m.ClientID] = d
	}
	d.Held++
	d.Until = now
	d.ByKind[m.Kind]++
	if len(d.Items) < MaxDigestItems {
		d.Items = append(d.Items, DigestItem{DriftID: m.DriftID, StackID: m.StackID, Code: m.Code,
			Component: m.Component, Severity: m.Severity, Kind: m.Kind, Timestamp: m.Timestamp})
	}
	return false
}

// Held counts the messages held for the next digests.
func (g *RateGate) Held() int {
	n := 0
	for _, d := range g.held {
		n += d.Held
	}
	return n
}

// Flush returns the digests due at now, one per client with held messages
// whose last digest is at least the interval old, ordered by client.
func (g *RateGate) Flush(now time.Time) []Message {
	clients := make([]string, 0, len(g.held))
	for c := range g.held {
		if last, ok := g.last[c]; ok && now.Sub(last) < g.interval {
			continue
		}
		clients = append(clients, c)
	}
	sort.Strings(clients)
	out := make([]Message, 0, len(clients))
	for _, c := range clients {
		d := g.held[c]
		delete(g.held, c)
		g.last[c] = now
		g.seq[c]++
		sev := drift.SeverityLow
		for _, it := range d.Items {
			if it.Severity.Rank() > sev.Rank() {
				sev = it.Severity
			}
		}
		out = append(out, Message{
			ClientID:  c,
			Severity:  sev,
			Timestamp: now,
			Kind:      KindDigest,
			Sequence:  g.seq[c],
			// The start of the held period keeps keys unique across restarts.
			IdempotencyKey: fmt.Sprintf("digest:%s:%s:%d", g.channel, c, d.Since.UnixMilli()),
			Digest:         d,
		})
	}
	return out
}
