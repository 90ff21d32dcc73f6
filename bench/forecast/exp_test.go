package main

import (
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/blackwellio/blackwell/internal/forecast"
)

func expOpts() genOptions {
	return genOptions{stacks: 50, weeks: 8, start: time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC), more: true}
}

func episodeAt(eps []episode, t time.Time) *episode {
	for i := range eps {
		if !t.Before(eps[i].from) && t.Before(eps[i].end.Add(3*time.Hour)) {
			return &eps[i]
		}
	}
	return nil
}

func TestExpDiag(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	w := generate(1, expOpts())
	s := score(w, replay(w, forecast.DefaultParams, 5*time.Minute), 15*time.Minute, 24*time.Hour)
	for i, o := range s.onsets {
		if o.family != famDegrade && o.family != famAuth {
			continue
		}
		tl := w.stacks[o.stack]
		eps := tl.apiEpisodes
		if o.family == famAuth {
			eps = tl.authEpisodes
		}
		e := episodeAt(eps, o.at)
		desc := "?"
		if e != nil {
			desc = fmt.Sprintf("lat=%v fade=%v ramp=%s peak=%.2f at=%.2f ramp", e.latency, e.fade, e.ramp.Round(time.Minute), e.peak, o.at.Sub(e.from).Hours()/e.ramp.Hours())
		}
		pred := "MISS"
		if p := s.predicted[i]; p != nil {
			pred = fmt.Sprintf("hit %s lead %s", p.indicator, o.at.Sub(p.raisedAt).Round(time.Minute))
		}
		fmt.Printf("onset %-12s s%-3d %s %s\n", o.family, o.stack, desc, pred)
	}
	for i, f := range s.forecasts {
		if f.class != forecast.ClassTrend || (f.indicator != forecast.IndicatorLatency && f.indicator != forecast.IndicatorErrorShare && f.indicator != forecast.IndicatorAuthShare) {
			continue
		}
		if s.verdicts[i] == verdictHit {
			continue
		}
		tl := w.stacks[f.stack]
		eps := tl.apiEpisodes
		if f.indicator == forecast.IndicatorAuthShare {
			eps = tl.authEpisodes
		}
		e := episodeAt(eps, f.raisedAt)
		desc := "no episode"
		if e != nil {
			desc = fmt.Sprintf("lat=%v fade=%v ramp=%s peak=%.2f at=%.2f ramp", e.latency, e.fade, e.ramp.Round(time.Minute), e.peak, f.raisedAt.Sub(e.from).Hours()/e.ramp.Hours())
		}
		fmt.Printf("bad %-8s %-20s s%-3d %s\n", s.verdicts[i], f.indicator, f.stack, desc)
	}
}

type variant struct {
	name string
	p    forecast.Params
}

func f1(f figures) float64 {
	p := f.Precision
	if p != p {
		p = 0
	}
	if p+f.Recall == 0 {
		return 0
	}
	return 2 * p * f.Recall / (p + f.Recall)
}

func runVariants(t *testing.T, seed uint64, vs []variant) {
	w := generate(seed, expOpts())
	ps := make([]forecast.Params, len(vs))
	for i, v := range vs {
		ps[i] = v.p
	}
	h := harness{opts: expOpts(), interval: 5 * time.Minute, minLead: 15 * time.Minute, grace: 24 * time.Hour}
	runs := h.replayAll(w, ps)
	for i, s := range runs {
		deg := groupFigures(s, []string{famDegrade}, []string{forecast.IndicatorLatency, forecast.IndicatorErrorShare})
		au := groupFigures(s, []string{famAuth}, []string{forecast.IndicatorAuthShare})
		both := groupFigures(s, []string{famDegrade, famAuth}, []string{forecast.IndicatorLatency, forecast.IndicatorErrorShare, forecast.IndicatorAuthShare})
		all := s.figuresOf(func(o onset) bool { return !datedFamily(o.family) }, func(f raised) bool { return f.class == forecast.ClassTrend })
		fmt.Printf("%-40s deg %2d/%2d f%2d h%2d l%d b%2d  | auth %2d/%2d f%2d h%2d l%d b%2d | both R %s P %s F1 %.3f | nodated %d/%d %s P %s\n", vs[i].name,
			deg.Predicted, deg.Onsets, deg.Forecasts, deg.Hits, deg.Late, deg.Bad,
			au.Predicted, au.Onsets, au.Forecasts, au.Hits, au.Late, au.Bad,
			pct(both.Recall), pct(both.Precision), f1(both), all.Predicted, all.Onsets, pct(all.Recall), pct(all.Precision))
	}
}

func with(f func(p *forecast.Params)) forecast.Params {
	p := forecast.DefaultParams
	f(&p)
	return p
}

type olsFit struct {
	level, slope, t float64
	n               int
}

func ols(xs, ys []float64) olsFit {
	n := float64(len(xs))
	var sx, sy, sxx, sxy, syy float64
	for i := range xs {
		sx, sy, sxx, sxy, syy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i], syy+ys[i]*ys[i]
	}
	cxx := sxx - sx*sx/n
	b := (sxy - sx*sy/n) / cxx
	a := (sy - b*sx) / n
	ssr := syy - sy*sy/n - b*(sxy-sx*sy/n)
	se := mathSqrt(ssr / (n - 2) / cxx)
	return olsFit{level: a, slope: b, t: b / se, n: len(xs)}
}

func TestExpTraj(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	w := generate(1, expOpts())
	s := score(w, replay(w, forecast.DefaultParams, 5*time.Minute), 15*time.Minute, 24*time.Hour)
	type want struct {
		fam string
		at  time.Time
		hit bool
	}
	wants := map[int][]want{}
	for i, o := range s.onsets {
		if o.family == famDegrade || o.family == famAuth {
			wants[o.stack] = append(wants[o.stack], want{o.family, o.at, s.predicted[i] != nil})
		}
	}
	debugPass = func(stack int, now time.Time, obs forecast.Observation) {
		for _, wt := range wants[stack] {
			before := wt.at.Sub(now)
			if before < 0 || before > 3*time.Hour || before%(15*time.Minute) >= 5*time.Minute {
				continue
			}
			var xs, ys, lx, ly []float64
			if wt.fam == famAuth {
				for _, st := range obs.Credentials["cms"].Statuses {
					x := st.At.Sub(now).Hours()
					if x > -6 {
						xs, ys = append(xs, x), append(ys, b2f(st.Status == 401))
					}
				}
			} else {
				for _, pr := range obs.Probes["api"] {
					x := pr.At.Sub(now).Hours()
					xs, ys = append(xs, x), append(ys, b2f(pr.Failed))
					if !pr.Failed {
						lx, ly = append(lx, x), append(ly, pr.Latency.Seconds())
					}
				}
			}
			if len(xs) < 4 {
				continue
			}
			e := ols(xs, ys)
			l := olsFit{}
			if len(lx) > 4 {
				l = ols(lx, ly)
			}
			fmt.Printf("s%-3d %-12s hit=%-5v T-%-6s share %5.2f slope %5.2f t %4.1f n %3d | lat %4.2f slope %5.2f t %4.1f\n", stack, wt.fam, wt.hit, before.Round(time.Minute), e.level, e.slope, e.t, e.n, l.level, l.slope, l.t)
		}
	}
	defer func() { debugPass = nil }()
	replay(w, forecast.DefaultParams, 5*time.Minute)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func mathSqrt(x float64) float64 { return math.Sqrt(x) }

func TestExpApart(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	h, m := time.Hour, time.Minute
	vs := []variant{{"default", forecast.DefaultParams}}
	for _, x := range []struct {
		ah time.Duration
		al float64
	}{{30 * m, 0.1}, {h, 0.1}, {30 * m, 0.2}, {2 * h, 0.2}} {
		vs = append(vs, variant{fmt.Sprintf("auth %s %.2f", x.ah, x.al), with(func(p *forecast.Params) { p.AuthHorizon, p.AuthShareLimit = x.ah, x.al })})
	}
	runVariants(t, 1, vs)
}
