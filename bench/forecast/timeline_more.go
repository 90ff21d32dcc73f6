package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// The scenario families of the indicators read from probe samples, the
// registry, DNS, credentials and builds.
const (
	famDegrade  = "degradation"   // api latency or errors rising until confirmed unhealthy
	famSudden   = "sudden"        // the api fails at once: no precursor
	famDomain   = "domain"        // a domain registration that lapsed (dated)
	famDNSMove  = "dns_move"      // a delegation or CNAME moved, the record not copied
	famToken    = "token"         // an API token that expired (dated)
	famAuth     = "auth_share"    // refused answers spreading until all are refused
	famRevoked  = "revoked"       // a token revoked by hand: no precursor
	famBroken   = "broken_builds" // builds failing while content waits
	famSlow     = "slow_builds"   // build time growing past the build timeout
	famHookLost = "hook_lost"     // a deploy hook gone: content waits with no failed build
)

// Constants of the generated stacks.
const (
	apiLimit     = 2 * time.Second // the api resource's max_latency
	apiBase      = 300 * time.Millisecond
	maxStaleness = 2 * time.Hour
	buildTimeout = 15 * time.Minute
)

// episode is a stretch of time in which a failure probability or a
// latency rises from its base to peak over ramp, then (fade) falls back
// over half the ramp, or (lead) holds until it ends; fix is how long
// confirmed drift lasts before the operator fixes it.
type episode struct {
	from     time.Time
	ramp     time.Duration
	peak     float64 // seconds of latency, or a failure probability
	latency  bool    // the peak is a latency (else a failure probability)
	fade     bool
	fix      time.Duration
	family   string
	end      time.Time // no effect after it
	sudden   bool      // fails outright from from until end
	exhausts bool      // the lead holds past the ramp until end
}

// level is the episode's value at t: the share of the way from base to
// peak (0 before and after).
func (e episode) level(t time.Time) float64 {
	if t.Before(e.from) || !t.Before(e.end) {
		return 0
	}
	if e.sudden {
		return 1
	}
	x := t.Sub(e.from).Hours() / e.ramp.Hours()
	switch {
	case x <= 1:
		return x
	case e.fade:
		return math.Max(0, 1-2*(x-1))
	default:
		return 1
	}
}

// genEpisodes scripts degradation episodes (about once in every weeks per
// stack, lead or fade) and sudden failures (no precursor), in time order.
func genEpisodes(r *rand.Rand, start, end time.Time, every time.Duration, degrade, sudden string) []episode {
	var out []episode
	for t := start; ; {
		t = t.Add(time.Duration(r.ExpFloat64() * float64(every)))
		if !t.Before(end) {
			break
		}
		e := episode{from: t, fix: uniform(r, 30*time.Minute, 2*time.Hour), family: degrade}
		switch k := r.Float64(); {
		case k < 1.0/3:
			e.sudden, e.family = true, sudden
			e.end = t.Add(uniform(r, 10*time.Minute, time.Hour))
		default:
			e.ramp = uniform(r, 3*time.Hour, 36*time.Hour)
			e.latency = k < 2.0/3
			e.fade = r.Float64() < 0.45
			e.peak = map[bool]float64{true: 0.8, false: 2.6}[e.fade]
			if !e.latency {
				e.peak = map[bool]float64{true: uniform01(r, 0.05, 0.25), false: 0.8}[e.fade]
			} else if e.fade {
				e.peak = uniform01(r, 0.8, 1.6)
			}
			e.end = t.Add(e.ramp * 3 / 2)
			if !e.fade {
				e.end = t.Add(e.ramp + 6*time.Hour)
			}
		}
		out = append(out, e)
		t = e.end
	}
	return out
}

func uniform01(r *rand.Rand, lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }

// expiring is a dated thing (a domain registration, a token) from from to
// until.
type expiring struct{ from, until time.Time }

// genExpiring scripts registrations or tokens of the given validity: the
// first expiring at first; each renewed 20-45 days before (60 %), 0-10
// days before (25 %), or lapsed and renewed 1-120 h after (15 %: drift at
// the expiry, code on the component).
func genExpiring(r *rand.Rand, tl *timeline, stack int, first time.Time, validity time.Duration, key forecast.Key, fam string, start, end time.Time) []expiring {
	out := []expiring{{first.Add(-validity), first}}
	for until := first; ; {
		var renew time.Time
		switch p := r.Float64(); {
		case p < 0.6:
			renew = until.Add(-uniform(r, 20*day, 45*day))
		case p < 0.85:
			renew = until.Add(-uniform(r, 0, 10*day))
		default:
			renew = until.Add(uniform(r, time.Hour, 120*time.Hour))
			if !until.Before(start) && until.Before(end) {
				tl.onsets = append(tl.onsets, onset{stack, key, until, fam})
			}
		}
		if !renew.Before(end) {
			return out
		}
		until = renew.Add(validity)
		out = append(out, expiring{renew, until})
	}
}

// current is the one in force at t (the last whose from is not after t).
func current(xs []expiring, t time.Time) expiring {
	c := xs[0]
	for _, x := range xs {
		if !x.from.After(t) {
			c = x
		}
	}
	return c
}

// dnsMove is a delegation (or CNAME) change at at; the old answer's TTL;
// held when the new authority has the record, else fixed at fixed (zero:
// never, drift at at+ttl).
type dnsMove struct {
	at     time.Time
	ttl    time.Duration
	held   bool
	fixed  time.Time
	cname  bool
	number int
}

// genDNSMoves: about once in 20 weeks per stack a migration; 65 % copy
// the record; of the rest 60 % notice before resolvers drop the old answer.
func genDNSMoves(r *rand.Rand, tl *timeline, stack int, start, end time.Time) {
	for t, n := start, 0; ; n++ {
		t = t.Add(time.Duration(r.ExpFloat64() * float64(20*7*day)))
		if !t.Before(end) {
			return
		}
		m := dnsMove{at: t, ttl: uniform(r, 30*time.Minute, 24*time.Hour), held: r.Float64() < 0.65, cname: r.Float64() < 0.5, number: n + 1}
		if !m.held {
			if r.Float64() < 0.6 {
				m.fixed = t.Add(time.Duration(uniform01(r, 0.1, 0.9) * float64(m.ttl)))
			} else {
				tl.onsets = append(tl.onsets, onset{stack, forecast.Key{Code: drift.ResourceMissing, Component: "home"}, t.Add(m.ttl), famDNSMove})
			}
		}
		tl.dnsMoves = append(tl.dnsMoves, m)
	}
}

// genMore scripts the families above into tl.
func genMore(r *rand.Rand, tl *timeline, i int, start, end time.Time) {
	tl.seed = r.Uint64()
	tl.apiEpisodes = genEpisodes(r, start, end, 6*7*day, famDegrade, famSudden)
	tl.authEpisodes = genEpisodes(r, start, end, 10*7*day, famAuth, famRevoked)
	missing := forecast.Key{Code: drift.ResourceMissing, Component: "home"}
	tl.domains = genExpiring(r, tl, i, start.Add(uniform(r, -10*day, 365*day)), 365*day, missing, famDomain, start, end)
	if r.Float64() < 1.0/3 {
		unauthorized := forecast.Key{Code: drift.ProviderUnauthorized, Component: "cms"}
		tl.tokens = genExpiring(r, tl, i, start.Add(uniform(r, 0, 90*day)), 90*day, unauthorized, famToken, start, end)
	}
	genDNSMoves(r, tl, i, start, end)
	genContent(r, tl, i, start, end)
	slices.SortFunc(tl.dnsMoves, func(a, b dnsMove) int { return a.at.Compare(b.at) })
}
