// Command forecast is the evaluation harness of predictive drift
// (docs/PERFORMANCE.md, "Forecasts"). It generates scripted timelines of
// many stacks over simulated weeks (certificates renewed on time, late or
// never; pinned Shopify versions upgraded or left past their end of
// support; CMS Sunset announcements migrated or not; receiver outages that
// end quickly or outlast Shopify's retries; flapping resources; api
// latency and errors rising over hours, or fading; domains renewed or
// lapsed; DNS migrations that copy the record or not; CMS tokens rotated
// or expired, refused answers spreading; broken and slowing builds and
// lost deploy hooks; and drift with no precursor at all: subscriptions
// deleted by hand, one-off failures, deleted DNS records, sudden api
// failures, tokens revoked by hand), replays every stack's scheduled passes
// through the same pure core as the reconcile hook (forecast.Indicate and
// forecast.Track) with an injected clock, in shadow mode, and scores the
// forecasts against the scripted onsets like a classifier.
//
// The thresholds are tuned on the world of -seed-a and scored on the world
// of -seed-b; a static baseline is scored beside them.
//
//	go run ./bench/forecast -stacks 50 -weeks 8
package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

func main() {
	var (
		seedA    = flag.Uint64("seed-a", 1, "seed of the world the thresholds are tuned on")
		seedB    = flag.Uint64("seed-b", 2, "seed of the world they are scored on")
		stacks   = flag.Int("stacks", 200, "stacks per world")
		weeks    = flag.Int("weeks", 12, "simulated weeks per world")
		interval = flag.Duration("interval", 5*time.Minute, "the schedule interval of passes")
		heal     = flag.Duration("heal", 10*time.Minute, "the heal time: a forecast must arrive interval+heal before onset")
		grace    = flag.Duration("grace", 24*time.Hour, "how long after its eta a forecast without onset stays undecided")
		showGrid = flag.Bool("grid", false, "print every grid point's figures on the tuning world")
		byInd    = flag.Bool("by-indicator", false, "add a row of the forecasts of each indicator")
		oldMix   = flag.Bool("old-mix", false, "generate only the families of the first version (certificates, versions, sunsets, outages, flapping, hand deletions, blips, DNS deletions)")
	)
	flag.Parse()
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)
	h := harness{opts: genOptions{stacks: *stacks, weeks: *weeks, start: start, more: !*oldMix}, interval: *interval, minLead: *interval + *heal, grace: *grace, showGrid: *showGrid, byIndicator: *byInd}
	began := time.Now()
	if err := h.run(os.Stdout, *seedA, *seedB); err != nil {
		fmt.Fprintln(os.Stderr, "forecast:", err)
		os.Exit(1)
	}
	fmt.Printf("\n(%s on %d CPUs)\n", time.Since(began).Round(time.Second), runtime.NumCPU())
}

type harness struct {
	opts     genOptions
	interval time.Duration
	minLead  time.Duration
	grace    time.Duration
	showGrid bool
	// byIndicator adds a row of forecasts per indicator (-by-indicator).
	byIndicator bool
}

// grid is the thresholds tried on the tuning world, in lockstep: point i
// takes each list's i-th value (its last when shorter). Each knob's
// indicators forecast their own keys, so its figures at point i depend on
// its own thresholds only.
func grid() []forecast.Params {
	cert := []int{3, 5, 7, 10, 14, 21}
	api := []int{7, 14, 30, 60, 90}
	sunset := []int{7, 14, 30, 60, 90}
	refusalAge := []time.Duration{-1, 30 * time.Minute, time.Hour, 90 * time.Minute, 2 * time.Hour, 150 * time.Minute,
		3 * time.Hour, 195 * time.Minute, 210 * time.Minute, 220 * time.Minute}
	dated := []int{1, 2, 3, 5, 7, 10, 14, 21, 30}
	// The share of the old answer's TTL a DNS change must stay unfixed
	// (negative: none), with the change window at 24 h. At most three
	// quarters: blackwell serve assumes a TTL of 1 hour (the resolver does
	// not tell it), and a later raise would leave less than the 15 min a
	// forecast needs to count.
	dnsShare := []float64{-1, 0.25, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75}
	type pair struct {
		a time.Duration
		b float64
	}
	var flaps, trends []pair
	for _, w := range []time.Duration{6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		for _, r := range []float64{2, 3, 4, 5} {
			flaps = append(flaps, pair{w, r})
		}
	}
	for _, h := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour} {
		for _, sh := range []float64{0.1, 0.2, 0.35} {
			trends = append(trends, pair{h, sh})
		}
	}
	type triple struct {
		streak int
		factor float64
		share  float64 // of max_staleness waited (negative: no gate)
	}
	var contents []triple
	for _, st := range []int{3, 4} {
		for _, sh := range []float64{-1, 0.5, 0.6, 0.7, 0.75, 0.8} {
			contents = append(contents, triple{st, 12, sh})
		}
	}
	at := func(xs []int, i int) time.Duration { return time.Duration(xs[min(i, len(xs)-1)]) * day }
	var out []forecast.Params
	for i := range len(flaps) {
		out = append(out, forecast.Params{
			CertificateHorizon: at(cert, i), APIVersionHorizon: at(api, i), SunsetHorizon: at(sunset, i),
			RefusalStreak: 2, RefusalAge: refusalAge[min(i, len(refusalAge)-1)],
			FlapReturns: int(flaps[i].b), FlapWindow: flaps[i].a,
			TrendWindow: 6 * time.Hour, TrendMinPoints: 12, TrendHorizon: trends[i].a, ErrorShareLimit: trends[i].b,
			AuthHorizon: trends[i].a, AuthShareLimit: trends[i].b,
			DomainHorizon: at(dated, i), TokenHorizon: at(dated, i), DNSChangeWindow: 24 * time.Hour,
			DNSWaitShare:    dnsShare[min(i, len(dnsShare)-1)],
			BuildFailStreak: contents[i].streak, WaitFactor: contents[i].factor, ContentWaitShare: contents[i].share,
		})
	}
	return out
}

// baseline is a static rule per indicator: a certificate within 30 days of
// notAfter, a version, sunset, domain or token within 30 days, any refused
// delivery, any drift that came back once in a day, any DNS change in a
// week, a trend that reaches a 20 % share or the latency limit within a
// day, any failed build or a wait longer than usual.
var baseline = forecast.Params{
	CertificateHorizon: 16 * day, // notAfter within 30 days: the probe's 14 plus 16
	APIVersionHorizon:  30 * day,
	SunsetHorizon:      30 * day,
	RefusalStreak:      1,
	RefusalAge:         -1, // no bound
	FlapReturns:        1,
	FlapWindow:         24 * time.Hour,
	TrendWindow:        6 * time.Hour, TrendMinPoints: 12, TrendHorizon: 24 * time.Hour, ErrorShareLimit: 0.2,
	AuthHorizon: 24 * time.Hour, AuthShareLimit: 0.2,
	DomainHorizon: 30 * day, TokenHorizon: 30 * day, DNSChangeWindow: 7 * day, DNSWaitShare: -1,
	BuildFailStreak: 1, WaitFactor: 1, ContentWaitShare: -1,
}

// noPrecursor are the families of drift with no precursor at all.
var noPrecursor = []string{famHandDeleted, famBlip, famDNS, famSudden, famRevoked}

// oldFamilies and oldIndicators are those of the first version of the
// harness (-old-mix generates only them).
var (
	oldFamilies   = []string{famCertificate, famAPIVersion, famSunset, famOutage, famFlapping, famHandDeleted, famBlip, famDNS}
	oldIndicators = []string{forecast.IndicatorCertificate, forecast.IndicatorAPIVersion, forecast.IndicatorSunset,
		forecast.IndicatorRefusals, forecast.IndicatorFlapping}
)

// knob is a group of thresholds tuned together, judged on the onsets of
// its families and the forecasts of its indicators.
type knob struct {
	families, indicators []string
	// set copies the knob's thresholds from src and describes them.
	set func(dst *forecast.Params, src forecast.Params) string
}

var knobs = []knob{
	{[]string{famCertificate}, []string{forecast.IndicatorCertificate}, func(d *forecast.Params, s forecast.Params) string {
		d.CertificateHorizon = s.CertificateHorizon
		return "certificate horizon " + days(s.CertificateHorizon)
	}},
	{[]string{famAPIVersion}, []string{forecast.IndicatorAPIVersion}, func(d *forecast.Params, s forecast.Params) string {
		d.APIVersionHorizon = s.APIVersionHorizon
		return "api version horizon " + days(s.APIVersionHorizon)
	}},
	{[]string{famSunset}, []string{forecast.IndicatorSunset}, func(d *forecast.Params, s forecast.Params) string {
		d.SunsetHorizon = s.SunsetHorizon
		return "sunset horizon " + days(s.SunsetHorizon)
	}},
	{[]string{famOutage}, []string{forecast.IndicatorRefusals}, func(d *forecast.Params, s forecast.Params) string {
		d.RefusalStreak, d.RefusalAge = s.RefusalStreak, s.RefusalAge
		return fmt.Sprintf("refusal streak %d over at least %s", s.RefusalStreak, s.RefusalAge)
	}},
	{[]string{famFlapping}, []string{forecast.IndicatorFlapping}, func(d *forecast.Params, s forecast.Params) string {
		d.FlapReturns, d.FlapWindow = s.FlapReturns, s.FlapWindow
		return fmt.Sprintf("flapping %d returns in %s", s.FlapReturns, s.FlapWindow)
	}},
	{[]string{famDegrade}, []string{forecast.IndicatorLatency, forecast.IndicatorErrorShare},
		func(d *forecast.Params, s forecast.Params) string {
			d.TrendWindow, d.TrendMinPoints, d.TrendHorizon, d.ErrorShareLimit = s.TrendWindow, s.TrendMinPoints, s.TrendHorizon, s.ErrorShareLimit
			return fmt.Sprintf("probe trends over %s (%d points) reaching their limit within %s, error share limit %.0f%%",
				s.TrendWindow, s.TrendMinPoints, s.TrendHorizon, 100*s.ErrorShareLimit)
		}},
	// The 401 share is tuned apart: its limit is never finer than the
	// line's step (forecast.Params.AuthShareLimit), so its figures do not
	// hang on how many answers the harness reads a pass.
	{[]string{famAuth}, []string{forecast.IndicatorAuthShare},
		func(d *forecast.Params, s forecast.Params) string {
			d.AuthHorizon, d.AuthShareLimit = s.AuthHorizon, s.AuthShareLimit
			return fmt.Sprintf("401 share reaching %.0f%% within %s", 100*s.AuthShareLimit, s.AuthHorizon)
		}},
	{[]string{famDomain}, []string{forecast.IndicatorDomain}, func(d *forecast.Params, s forecast.Params) string {
		d.DomainHorizon = s.DomainHorizon
		return "domain horizon " + days(s.DomainHorizon)
	}},
	{[]string{famDNSMove}, []string{forecast.IndicatorDNS}, func(d *forecast.Params, s forecast.Params) string {
		d.DNSChangeWindow, d.DNSWaitShare = s.DNSChangeWindow, s.DNSWaitShare
		return fmt.Sprintf("DNS change window %s, raised once %s of the TTL passed unfixed", s.DNSChangeWindow, share(s.DNSWaitShare))
	}},
	{[]string{famToken}, []string{forecast.IndicatorToken}, func(d *forecast.Params, s forecast.Params) string {
		d.TokenHorizon = s.TokenHorizon
		return "token horizon " + days(s.TokenHorizon)
	}},
	{[]string{famBroken, famSlow, famHookLost}, []string{forecast.IndicatorBuilds, forecast.IndicatorBuildTime, forecast.IndicatorWaiting},
		func(d *forecast.Params, s forecast.Params) string {
			d.BuildFailStreak, d.WaitFactor, d.ContentWaitShare = s.BuildFailStreak, s.WaitFactor, s.ContentWaitShare
			return fmt.Sprintf("%d failed builds, or a wait over %.0fx the usual, once %s of max_staleness was waited",
				s.BuildFailStreak, s.WaitFactor, share(s.ContentWaitShare))
		}},
}

// groupFigures are the figures of the onsets of families and the
// forecasts of indicators.
func groupFigures(s scored, families, indicators []string) figures {
	return s.figuresOf(func(o onset) bool { return slices.Contains(families, o.family) },
		func(f raised) bool { return slices.Contains(indicators, f.indicator) })
}

// replayAll replays w under each params, two at a time.
func (h harness) replayAll(w world, ps []forecast.Params) []scored {
	out := make([]scored, len(ps))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(runtime.NumCPU(), 1))
	for i, p := range ps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = score(w, replay(w, p, h.interval), h.minLead, h.grace)
		})
	}
	wg.Wait()
	return out
}

// tune picks, per knob, the grid point of highest recall whose precision
// is at least 0.8 on the tuning world (ties: higher precision); when none
// reaches 0.8, the one of highest F1. A knob whose families have no onset
// in the tuning world keeps DefaultParams.
func (h harness) tune(out io.Writer, w world) forecast.Params {
	ps := grid()
	runs := h.replayAll(w, ps)
	tuned := forecast.DefaultParams
	fmt.Fprintf(out, "Tuning on seed A: %d grid points.\n\n", len(ps))
	for _, k := range knobs {
		best, bestOK, bestF1 := -1, false, -1.0
		var bestFig figures
		for i, s := range runs {
			f := groupFigures(s, k.families, k.indicators)
			p := f.Precision
			if math.IsNaN(p) {
				p = 0
			}
			ok := p >= 0.8
			f1 := 0.0
			if p+f.Recall > 0 {
				f1 = 2 * p * f.Recall / (p + f.Recall)
			}
			if h.showGrid {
				fmt.Fprintf(out, "    %-30s point %2d: recall %s precision %s lead p10 %s\n", strings.Join(k.families, "+"), i, pct(f.Recall), pct(f.Precision), dur(f.LeadP10))
			}
			switch {
			case best < 0, ok && !bestOK,
				ok && bestOK && (f.Recall > bestFig.Recall || (f.Recall == bestFig.Recall && p > bestFig.Precision)),
				!ok && !bestOK && f1 > bestF1:
				best, bestOK, bestF1, bestFig = i, ok, f1, f
			}
		}
		if bestFig.Onsets == 0 {
			fmt.Fprintf(out, "- %s: no onset on seed A, defaults kept\n", strings.Join(k.families, "+"))
			continue
		}
		chosen := k.set(&tuned, ps[best])
		fmt.Fprintf(out, "- %s: %s (seed A: recall %s, precision %s)\n", strings.Join(k.families, "+"), chosen, pct(bestFig.Recall), pct(bestFig.Precision))
	}
	return tuned
}

func (h harness) run(out io.Writer, seedA, seedB uint64) error {
	a := generate(seedA, h.opts)
	tuned := h.tune(out, a)

	b := generate(seedB, h.opts)
	runs := h.replayAll(b, []forecast.Params{tuned, baseline})
	s, base := runs[0], runs[1]
	passes := h.opts.stacks * int(b.end.Sub(b.start)/h.interval)
	fmt.Fprintf(out, "\nScored on seed B: %d stacks x %d weeks, passes every %s (%d passes), a hit needs %s of lead.\n\n",
		h.opts.stacks, h.opts.weeks, h.interval, passes, h.minLead)

	fmt.Fprintln(out, "| group | onsets | predicted | recall | forecasts | hits | late | false | undecided | precision | false/stack-week | lead p50 | lead p10 | Brier |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	row := func(name string, f figures) {
		fmt.Fprintf(out, "| %s | %d | %d | %s | %d | %d | %d | %d | %d | %s | %.3f | %s | %s | %s |\n", name, f.Onsets, f.Predicted, pct(f.Recall),
			f.Forecasts, f.Hits, f.Late, f.Bad, f.Undetermined, pct(f.Precision), f.FalsePerStackWeek, dur(f.LeadP50), dur(f.LeadP10), num(f.Brier))
	}
	codes := map[drift.Code]bool{}
	for _, o := range s.onsets {
		codes[o.key.Code] = true
	}
	for _, f := range s.forecasts {
		codes[f.key.Code] = true
	}
	var cs []string
	for c := range codes {
		cs = append(cs, string(c))
	}
	sort.Strings(cs)
	for _, c := range cs {
		row("code "+c, s.figuresOf(func(o onset) bool { return string(o.key.Code) == c }, func(f raised) bool { return string(f.key.Code) == c }))
	}
	for _, k := range knobs {
		row("scenario "+strings.Join(k.families, ", "), groupFigures(s, k.families, k.indicators))
	}
	for _, fam := range noPrecursor {
		row("scenario "+fam+" (no precursor)", groupFigures(s, []string{fam}, nil))
	}
	if h.byIndicator {
		// Where the forecasts (and the false ones) come from; onsets are
		// not split by indicator (an onset has none).
		inds := map[string]bool{}
		for _, f := range s.forecasts {
			inds[f.indicator] = true
		}
		for _, ind := range slices.Sorted(maps.Keys(inds)) {
			row("indicator "+ind, s.figuresOf(func(onset) bool { return false }, func(f raised) bool { return f.indicator == ind }))
		}
	}
	all := func(onset) bool { return true }
	anyF := func(raised) bool { return true }
	trendO := func(o onset) bool { return !datedFamily(o.family) }
	trendF := func(f raised) bool { return f.class == forecast.ClassTrend }
	oldO := func(o onset) bool { return slices.Contains(oldFamilies, o.family) }
	oldF := func(f raised) bool { return slices.Contains(oldIndicators, f.indicator) }
	row("**overall**", s.figuresOf(all, anyF))
	row("**overall without dated**", s.figuresOf(trendO, trendF))
	row("baseline overall", base.figuresOf(all, anyF))
	row("baseline without dated", base.figuresOf(trendO, trendF))
	if h.opts.more {
		row("overall, the families before issue 17's second part only", s.figuresOf(oldO, oldF))
		row("the same without dated", s.figuresOf(func(o onset) bool { return oldO(o) && trendO(o) }, func(f raised) bool { return oldF(f) && trendF(f) }))
	}
	fmt.Fprintf(out, "\nTuned: %+v\n", tuned)
	return nil
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}

// share prints a gate's share (negative: none).
func share(v float64) string {
	if v <= 0 {
		return "none"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func days(d time.Duration) string { return fmt.Sprintf("%dd", int(d/day)) }

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d >= 2*day:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}
