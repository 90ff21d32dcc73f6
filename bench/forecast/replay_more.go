package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// keepSamples is how much probe and answer history a pass hands the
// indicators (the longest trend window of the grid).
const keepSamples = 6 * time.Hour

// moreState is what a stack's passes carry for the families of
// timeline_more.go and content.go.
type moreState struct {
	rng      *rand.Rand
	api      signal
	auth     signal
	probes   []forecast.ProbeSample
	statuses []forecast.StatusSample
	lapsed   bool
	dns      []forecast.DNSAnswer
	builds   []forecast.BuildSample
	bi, blo  int // builds finished by now; first of the last day
	pi       int // first publish not deployed by now
	waits    []time.Duration
}

// signal is a failing thing confirmed like drift: two failed passes in a
// row open it (its onset), and it stays failed until fixed.
type signal struct {
	ei          int // the current episode
	fails       int
	open        bool
	brokenUntil time.Time
}

// step advances s to t. fail says whether the pass fails at an episode
// level (e is nil outside episodes). It returns whether the pass failed,
// the family of an onset it confirms (empty: none) and whether the drift
// resolved.
func (s *signal) step(eps []episode, t time.Time, fail func(e *episode, level float64) bool) (failed bool, onsetFam string, resolved bool) {
	if s.open {
		if t.Before(s.brokenUntil) {
			return true, "", false
		}
		s.open, s.fails = false, 0
		s.ei++ // fixed: that episode is over
		return false, "", true
	}
	for s.ei < len(eps) && !t.Before(eps[s.ei].end) {
		s.ei++
	}
	var e *episode
	level := 0.0
	if s.ei < len(eps) && !t.Before(eps[s.ei].from) {
		e = &eps[s.ei]
		level = e.level(t)
	}
	if !fail(e, level) {
		s.fails = 0
		return false, "", false
	}
	s.fails++
	if s.fails < 2 {
		return true, "", false
	}
	s.open, onsetFam, s.brokenUntil = true, famSudden, t.Add(30*time.Minute)
	if e != nil {
		onsetFam, s.brokenUntil = e.family, t.Add(e.fix)
	}
	return true, onsetFam, false
}

func trim[T any](xs []T, at func(T) time.Time, since time.Time) []T {
	i := 0
	for i < len(xs) && at(xs[i]).Before(since) {
		i++
	}
	return xs[i:]
}

// observeMore adds to obs what the pass at t sees of the api resource, the
// domain, DNS, the cms credential and the content, and appends the onsets
// the passes confirm.
func (sr *stackReplay) observeMore(t time.Time, obs *forecast.Observation) {
	m := sr.more
	if m.rng == nil {
		m.rng = rand.New(rand.NewPCG(sr.tl.seed, uint64(sr.si)))
		for _, b := range sr.tl.content.builds {
			m.builds = append(m.builds, forecast.BuildSample{At: b.finish(), Duration: b.duration, OK: b.ok})
		}
	}
	sr.observeAPI(t, obs)
	sr.observeAuth(t, obs)
	if len(sr.tl.domains) > 0 {
		d := current(sr.tl.domains, t)
		obs.Domains = map[string]forecast.DomainReading{"home": {Domain: "site.example", Expiry: &d.until, Seen: t}}
	}
	sr.observeDNS(t, obs)
	sr.observeContent(t, obs)
}

func (sr *stackReplay) onset(code drift.Code, component string, t time.Time, fam string) {
	sr.res.onsets = append(sr.res.onsets, onset{sr.si, forecast.Key{Code: code, Component: component}, t, fam})
}

// observeAPI probes the api resource: latency base (noisy) plus the
// episode's rise, failing past apiLimit or at the episode's failure
// probability (and rarely at random).
func (sr *stackReplay) observeAPI(t time.Time, obs *forecast.Observation) {
	m := sr.more
	var lat time.Duration
	failed, fam, resolved := m.api.step(sr.tl.apiEpisodes, t, func(e *episode, level float64) bool {
		secs := apiBase.Seconds()
		p := 0.002
		switch {
		case e == nil:
		case e.sudden:
			p = 1
		case e.latency:
			secs += level * (e.peak - secs)
		default:
			p += level * e.peak
		}
		lat = time.Duration(secs * math.Exp(0.1*m.rng.NormFloat64()) * float64(time.Second))
		return lat > apiLimit || m.rng.Float64() < p
	})
	if fam != "" {
		sr.onset(drift.ResourceUnhealthy, "api", t, fam)
	}
	if resolved {
		m.probes = nil // forecast.ProbeHistory.Forget
	}
	st := drift.StatusHealthy
	if failed {
		st = drift.StatusUnhealthy
	}
	obs.Resources["api"] = drift.ResourceObservation{Status: st, Latency: lat}
	m.probes = append(trim(m.probes, func(s forecast.ProbeSample) time.Time { return s.At }, t.Add(-keepSamples)),
		forecast.ProbeSample{At: t, Latency: lat, Failed: failed})
	obs.Probes = map[string][]forecast.ProbeSample{"api": m.probes}
}

// observeAuth reads three answers of the cms provider a pass: refused at
// the episode's share, or all while the token lapsed (that drift is the
// token family's, scripted at the expiry).
func (sr *stackReplay) observeAuth(t time.Time, obs *forecast.Observation) {
	m := sr.more
	var tok *expiring
	if len(sr.tl.tokens) > 0 {
		c := current(sr.tl.tokens, t)
		tok = &c
	}
	lapsed := tok != nil && !t.Before(tok.until)
	if m.lapsed && !lapsed {
		m.statuses = nil // a new token: the old answers say nothing of it
	}
	m.lapsed = lapsed
	share := 0.0
	if lapsed {
		share = 1
	} else {
		_, fam, resolved := m.auth.step(sr.tl.authEpisodes, t, func(e *episode, level float64) bool {
			switch {
			case e == nil:
				share = 0
			case e.sudden:
				share = 1
			case e.latency:
				share = level * math.Min(e.peak/2.6, 1)
			default:
				share = level * e.peak
			}
			return m.rng.Float64() < share
		})
		if m.auth.open {
			share = 1
		}
		if fam != "" {
			sr.onset(drift.ProviderUnauthorized, "cms", t, fam)
		}
		if resolved {
			m.statuses = nil
		}
	}
	m.statuses = trim(m.statuses, func(s forecast.StatusSample) time.Time { return s.At }, t.Add(-keepSamples))
	for i := range 3 {
		st := http.StatusOK
		if m.rng.Float64() < share {
			st = http.StatusUnauthorized
		}
		m.statuses = append(m.statuses, forecast.StatusSample{At: t.Add(time.Duration(i) * time.Second), Status: st})
	}
	c := forecast.CredentialReading{Statuses: m.statuses}
	if tok != nil {
		c.ExpiresAt = &tok.until
	}
	obs.Credentials = map[string]forecast.CredentialReading{"cms": c}
}

// observeDNS looks up the home name: name servers and CNAME target of the
// latest move, and whether the new authority holds the record.
func (sr *stackReplay) observeDNS(t time.Time, obs *forecast.Observation) {
	m := sr.more
	moves := sr.tl.dnsMoves
	k := 0
	for k < len(moves) && !moves[k].at.After(t) {
		k++
	}
	a := forecast.DNSAnswer{At: t, NS: []string{"ns1.provider0.example"}, Target: "site.host0.example", TTL: time.Hour, Held: true}
	if k < len(moves) {
		a.TTL = moves[k].ttl // the answer resolvers cache until the next move
	}
	nsN, targetN := 0, 0
	for _, mv := range moves[:k] {
		if mv.cname {
			targetN = mv.number
		} else {
			nsN = mv.number
		}
	}
	a.NS = []string{fmt.Sprintf("ns1.provider%d.example", nsN)}
	a.Target = fmt.Sprintf("site.host%d.example", targetN)
	if k > 0 {
		mv := moves[k-1]
		a.Held = mv.held || (!mv.fixed.IsZero() && !t.Before(mv.fixed))
	}
	if n := len(m.dns); n == 0 || m.dns[n-1].Held != a.Held || !slices.Equal(m.dns[n-1].NS, a.NS) || m.dns[n-1].Target != a.Target {
		m.dns = append(m.dns, a)
		if len(m.dns) > 4 {
			m.dns = m.dns[len(m.dns)-4:]
		}
	}
	obs.DNS = map[string][]forecast.DNSAnswer{"home": append(slices.Clip(m.dns), a)}
}

// observeContent reads the content waiting for a deploy, the builds of the
// last day and the median wait of the last 15 deploys.
func (sr *stackReplay) observeContent(t time.Time, obs *forecast.Observation) {
	m, c := sr.more, &sr.tl.content
	for m.bi < len(m.builds) && !m.builds[m.bi].At.After(t) {
		m.bi++
	}
	for m.blo < m.bi && m.builds[m.blo].At.Before(t.Add(-day)) {
		m.blo++
	}
	for m.pi < len(c.publishes) && !c.deployed[m.pi].IsZero() && !c.deployed[m.pi].After(t) {
		m.waits = append(m.waits, c.deployed[m.pi].Sub(c.publishes[m.pi]))
		if len(m.waits) > 15 {
			m.waits = m.waits[1:]
		}
		m.pi++
	}
	cr := &forecast.ContentReading{MaxStaleness: maxStaleness, Builds: m.builds[m.blo:m.bi:m.bi], BuildTimeout: buildTimeout}
	if len(m.waits) >= 5 {
		w := slices.Clone(m.waits)
		slices.Sort(w)
		cr.UsualWait = w[len(w)/2]
	}
	if m.pi < len(c.publishes) && !c.publishes[m.pi].After(t) {
		cr.Waiting = map[string]time.Time{"post": c.publishes[m.pi]}
	}
	obs.Content = cr
}
