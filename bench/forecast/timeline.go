package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

const day = 24 * time.Hour

// The scenario families a drift onset comes from. Dated families are
// those whose precursor is a date (forecast.ClassDated).
const (
	famCertificate = "certificate"  // a certificate not renewed in time
	famAPIVersion  = "api_version"  // a pinned Shopify version past its end of support
	famSunset      = "sunset"       // a provider Sunset date passed
	famOutage      = "outage"       // deliveries refused until Shopify deleted the subscription
	famFlapping    = "flapping"     // a resource that keeps failing and recovering
	famHandDeleted = "hand_deleted" // a subscription deleted by hand: no precursor
	famBlip        = "blip"         // a one-off failure: no precursor
	famDNS         = "dns"          // a record deleted: no precursor
)

func datedFamily(f string) bool {
	return f == famCertificate || f == famAPIVersion || f == famSunset || f == famDomain || f == famToken
}

// onset is one real drift of the ground truth.
type onset struct {
	stack  int
	key    forecast.Key
	at     time.Time
	family string
}

// cert is one certificate a stack serves from From on.
type cert struct {
	from, notAfter time.Time
}

// attempt is one delivery attempt Shopify makes to the receiver.
type attempt struct {
	at      time.Time
	topic   string
	refused bool
	// recreated marks not a delivery but Blackwell re-creating the
	// subscription Shopify deleted.
	recreated bool
}

// down is a time the http resource "home" fails; flap marks those of a
// flapping episode.
type down struct {
	interval
	flap bool
}

// interval is [from, to).
type interval struct{ from, to time.Time }

func (iv interval) holds(t time.Time) bool { return !t.Before(iv.from) && t.Before(iv.to) }

// timeline is one stack's scripted world.
type timeline struct {
	phase time.Duration // offset of its scheduled passes
	// certs in order of From; the one in force at t is the last with From <= t.
	certs []cert
	// apiVersions: the pinned version from each time on.
	apiVersions []pinned
	// sunset: the cms provider's announced Sunset, seen from announced on,
	// until migrated (zero: never).
	sunset       *announcement
	attempts     []attempt // sorted by time
	homeDown     []down    // times the http resource "home" is unhealthy
	onsets       []onset
	flapEpisodes int
	outages      int

	seed         uint64 // of what passes sample at random (probes, answers)
	apiEpisodes  []episode
	authEpisodes []episode
	domains      []expiring // the domain's registrations
	tokens       []expiring // the cms token, when it expires
	dnsMoves     []dnsMove
	content      contentTL
}

type pinned struct {
	from    time.Time
	version string
}

type announcement struct {
	announced, sunset, migrated time.Time
}

// world is every stack's timeline over [start, end).
type world struct {
	start, end time.Time
	stacks     []timeline
}

// genOptions shape a generated world.
type genOptions struct {
	stacks int
	weeks  int
	start  time.Time
	// more adds the families of the probe, registry, DNS, credential and
	// build indicators (false: the mix before them).
	more bool
}

// retrySchedule is when Shopify retries a failed delivery, after the
// first attempt: 8 retries over about 4 hours (its docs give the count and
// the span, not the exact spacing; this doubling schedule is an
// assumption).
var retrySchedule = func() []time.Duration {
	var out []time.Duration
	at := time.Duration(0)
	for _, d := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
		32 * time.Minute, 64 * time.Minute, 113 * time.Minute} {
		at += d
		out = append(out, at)
	}
	return out
}()

// generate scripts a world from a seed.
func generate(seed uint64, o genOptions) world {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := world{start: o.start, end: o.start.Add(time.Duration(o.weeks) * 7 * day)}
	for i := range o.stacks {
		tl := timeline{phase: time.Duration(r.Int64N(int64(5 * time.Minute)))}
		genCertificates(r, &tl, i, w.start, w.end)
		genAPIVersion(r, &tl, i, w.start, w.end)
		genSunset(r, &tl, i, w.start, w.end)
		genDeliveries(r, &tl, i, w.start, w.end)
		genHome(r, &tl, i, w.start, w.end)
		if o.more {
			// A stream of its own: the families above stay those of the
			// mix before these were added.
			genMore(rand.New(rand.NewPCG(seed^0x5bd1e995, uint64(i))), &tl, i, w.start, w.end)
		}
		slices.SortFunc(tl.onsets, func(a, b onset) int { return a.at.Compare(b.at) })
		w.stacks = append(w.stacks, tl)
	}
	return w
}

func uniform(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Float64()*float64(hi-lo))
}

// genCertificates: 90-day certificates. Renewal is automatic 30 days
// before notAfter (most stacks), late (5-20 days before: some after the
// probe's 14-day threshold), or missing.
func genCertificates(r *rand.Rand, tl *timeline, stack int, start, end time.Time) {
	const validity = 90 * day
	notAfter := start.Add(uniform(r, 10*day, validity))
	tl.certs = append(tl.certs, cert{from: notAfter.Add(-validity), notAfter: notAfter})
	for {
		var renewAt time.Time
		switch p := r.Float64(); {
		case p < 0.55:
			renewAt = notAfter.Add(-uniform(r, 28*day, 32*day))
		case p < 0.85:
			renewAt = notAfter.Add(-uniform(r, 5*day, 20*day))
		default:
			renewAt = notAfter.Add(2 * day) // lapsed; renewed after it expired
		}
		onsetAt := notAfter.Add(-14 * day)
		if renewAt.After(onsetAt) && onsetAt.Before(end) && !onsetAt.Before(start) {
			tl.onsets = append(tl.onsets, onset{stack, forecast.Key{Code: drift.ResourceUnhealthy, Component: "cert"}, onsetAt, famCertificate})
		}
		if !renewAt.Before(end) {
			return
		}
		notAfter = renewAt.Add(validity)
		tl.certs = append(tl.certs, cert{from: renewAt, notAfter: notAfter})
	}
}

// shopifyVersion is the stable version released in the quarter of t.
func shopifyVersion(t time.Time) string {
	q := (int(t.Month()) - 1) / 3 * 3
	return time.Date(t.Year(), time.Month(q+1), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
}

// genAPIVersion: a pinned version whose end of support falls between 3
// weeks before the start and well after the end; half the operators
// upgrade before it (some late, within the last days), half never do.
func genAPIVersion(r *rand.Rand, tl *timeline, stack int, start, end time.Time) {
	eos := start.Add(uniform(r, -21*day, 2*end.Sub(start)))
	version := shopifyVersion(eos.AddDate(-1, 0, 0))
	eosReal, _ := forecast.ShopifyEndOfSupport(version)
	tl.apiVersions = []pinned{{from: start.Add(-365 * day), version: version}}
	if r.Float64() < 0.5 {
		up := eosReal.Add(-uniform(r, 0, 60*day))
		tl.apiVersions = append(tl.apiVersions, pinned{from: up, version: shopifyVersion(up)})
		return
	}
	if !eosReal.Before(start) && eosReal.Before(end) {
		for _, name := range []string{"orders", "products"} {
			tl.onsets = append(tl.onsets, onset{stack, forecast.Key{Code: drift.IntegrationMismatch, Component: name}, eosReal, famAPIVersion})
		}
	}
}

// genSunset: a fifth of the stacks' CMS announces a Sunset 20-120 days
// out; 60% of those migrate before it.
func genSunset(r *rand.Rand, tl *timeline, stack int, start, end time.Time) {
	if r.Float64() >= 0.2 {
		return
	}
	a := &announcement{announced: start.Add(uniform(r, -30*day, end.Sub(start)))}
	a.sunset = a.announced.Add(uniform(r, 20*day, 120*day))
	if r.Float64() < 0.6 {
		a.migrated = a.sunset.Add(-uniform(r, time.Hour, 40*day))
		if a.migrated.Before(a.announced) {
			a.migrated = a.announced.Add(time.Hour)
		}
	} else if !a.sunset.Before(start) && a.sunset.Before(end) {
		tl.onsets = append(tl.onsets, onset{stack, forecast.Key{Code: drift.ProviderChanged, Component: "cms"}, a.sunset, famSunset})
	}
	tl.sunset = a
}

// topics are the deliveries a stack receives, with their rates per hour,
// and the integration each belongs to.
var topics = []struct {
	topic, integration string
	perHour            float64
}{
	{"orders/create", "orders", 3},
	{"products/update", "products", 1.5},
}

// genDeliveries: Poisson deliveries per topic; receiver outages (store
// down: 503, or a rotated secret: 401) about once in three weeks per
// stack, lasting minutes (most) to many hours. A delivery refused for all
// its attempts makes Shopify delete the subscription: webhook_broken when
// its last retry fails. Subscriptions are also deleted by hand, with no
// precursor, about once in twelve weeks per stack.
func genDeliveries(r *rand.Rand, tl *timeline, stack int, start, end time.Time) {
	var outages []interval
	for t := start; ; {
		t = t.Add(time.Duration(r.ExpFloat64() * float64(21*day)))
		if !t.Before(end) {
			break
		}
		// Log-normal: median 25 min, a long tail past 4 h.
		d := time.Duration(math.Exp(math.Log(25)+1.6*r.NormFloat64()) * float64(time.Minute))
		outages = append(outages, interval{t, t.Add(d)})
		t = t.Add(d)
	}
	tl.outages = len(outages)
	refused := func(t time.Time) bool {
		for _, o := range outages {
			if o.holds(t) {
				return true
			}
		}
		return false
	}
	for _, tp := range topics {
		// delAt is when Shopify deleted the subscription, recreated when
		// Blackwell re-created it (within the hour); zero: not deleted.
		var delAt, recreated time.Time
		for t := start; ; {
			t = t.Add(time.Duration(r.ExpFloat64() / tp.perHour * float64(time.Hour)))
			if !t.Before(end) {
				break
			}
			if !delAt.IsZero() && !t.Before(delAt) && t.Before(recreated) {
				continue // no subscription: nothing is delivered
			}
			if !refused(t) {
				tl.attempts = append(tl.attempts, attempt{at: t, topic: tp.topic})
				continue
			}
			tl.attempts = append(tl.attempts, attempt{at: t, topic: tp.topic, refused: true})
			gaveUp := true
			for _, d := range retrySchedule {
				rt := t.Add(d)
				if !rt.Before(end) || (!delAt.IsZero() && t.Before(delAt) && !rt.Before(delAt)) {
					// The end of the world, or the subscription was
					// deleted meanwhile: its pending retries are gone.
					gaveUp = false
					break
				}
				ok := !refused(rt)
				tl.attempts = append(tl.attempts, attempt{at: rt, topic: tp.topic, refused: !ok})
				if ok {
					gaveUp = false
					break
				}
			}
			if gaveUp {
				at := t.Add(retrySchedule[len(retrySchedule)-1])
				tl.onsets = append(tl.onsets, onset{stack, forecast.Key{Code: drift.WebhookBroken, Component: tp.integration}, at, famOutage})
				delAt, recreated = at, at.Add(time.Hour)
				tl.attempts = append(tl.attempts, attempt{at: recreated, topic: tp.topic, recreated: true})
			}
		}
	}
	for _, tp := range topics {
		for t := start; ; {
			t = t.Add(time.Duration(r.ExpFloat64() * float64(12*7*day)))
			if !t.Before(end) {
				break
			}
			tl.onsets = append(tl.onsets, onset{stack, forecast.Key{Code: drift.WebhookBroken, Component: tp.integration}, t, famHandDeleted})
		}
	}
	slices.SortFunc(tl.attempts, func(a, b attempt) int { return a.at.Compare(b.at) })
}

// genHome: the http resource "home". A tenth of the stacks have flapping
// episodes (down 10-20 minutes every 1-4 hours, for 4-30 hours); every
// stack has one-off failures about once in four weeks, and DNS records
// deleted about once in twenty weeks (resource_missing, no precursor).
func genHome(r *rand.Rand, tl *timeline, stack int, start, end time.Time) {
	if r.Float64() < 0.1 {
		for t := start; ; {
			t = t.Add(time.Duration(r.ExpFloat64() * float64(14*day)))
			if !t.Before(end) {
				break
			}
			tl.flapEpisodes++
			epEnd := t.Add(uniform(r, 4*time.Hour, 30*time.Hour))
			gap := uniform(r, time.Hour, 4*time.Hour)
			for d := t; d.Before(epEnd) && d.Before(end); d = d.Add(gap + uniform(r, -10*time.Minute, 10*time.Minute)) {
				tl.homeDown = append(tl.homeDown, down{interval{d, d.Add(uniform(r, 10*time.Minute, 20*time.Minute))}, true})
			}
			t = epEnd
		}
	}
	for t := start; ; {
		t = t.Add(time.Duration(r.ExpFloat64() * float64(28*day)))
		if !t.Before(end) {
			break
		}
		tl.homeDown = append(tl.homeDown, down{interval{t, t.Add(uniform(r, 10*time.Minute, 40*time.Minute))}, false})
	}
	slices.SortFunc(tl.homeDown, func(a, b down) int { return a.from.Compare(b.from) })
	for t := start; ; {
		t = t.Add(time.Duration(r.ExpFloat64() * float64(20*7*day)))
		if !t.Before(end) {
			break
		}
		tl.onsets = append(tl.onsets, onset{stack, forecast.Key{Code: drift.ResourceMissing, Component: "home"}, t, famDNS})
	}
}
