package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/blackwellio/blackwell/internal/forecast"
)

// TestExperimentTrends scores trend variants (a slope significance test,
// other windows) on seeds A and B, 50 stacks x 8 weeks; it runs only with
// TREND_EXPERIMENT set (docs/PERFORMANCE.md, "Forecasts": nothing kept).
func TestExperimentTrends(t *testing.T) {
	if os.Getenv("TREND_EXPERIMENT") == "" {
		t.Skip()
	}
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC)
	h := harness{opts: genOptions{stacks: 50, weeks: 8, start: start, more: true}, interval: 5 * time.Minute, minLead: 15 * time.Minute, grace: 24 * time.Hour}
	type variant struct {
		name string
		set  func(p *forecast.Params)
	}
	vs := []variant{
		{"base", func(p *forecast.Params) {}},
		{"t1.5", func(p *forecast.Params) { p.TrendMinT = 1.5 }},
		{"t2", func(p *forecast.Params) { p.TrendMinT = 2 }},
		{"t3", func(p *forecast.Params) { p.TrendMinT = 3 }},
		{"t4", func(p *forecast.Params) { p.TrendMinT = 4 }},
		{"w9h", func(p *forecast.Params) { p.TrendWindow = 9 * time.Hour }},
		{"w9h t2", func(p *forecast.Params) { p.TrendWindow = 9 * time.Hour; p.TrendMinT = 2 }},
		{"w4h", func(p *forecast.Params) { p.TrendWindow = 4 * time.Hour }},
	}
	var ps []forecast.Params
	for _, v := range vs {
		p := forecast.DefaultParams
		v.set(&p)
		ps = append(ps, p)
	}
	f1 := func(f figures) float64 {
		p := f.Precision
		if p != p {
			p = 0
		}
		if p+f.Recall == 0 {
			return 0
		}
		return 2 * p * f.Recall / (p + f.Recall)
	}
	for _, seed := range []uint64{1, 2} {
		w := generate(seed, h.opts)
		runs := h.replayAll(w, ps)
		for i, s := range runs {
			all := groupFigures(s, []string{famDegrade, famAuth}, []string{forecast.IndicatorLatency, forecast.IndicatorErrorShare, forecast.IndicatorAuthShare})
			dg := groupFigures(s, []string{famDegrade}, []string{forecast.IndicatorLatency, forecast.IndicatorErrorShare})
			au := groupFigures(s, []string{famAuth}, []string{forecast.IndicatorAuthShare})
			ov := s.figuresOf(func(onset) bool { return true }, func(raised) bool { return true })
			fmt.Printf("seed %d %-8s trends: on %d pred %d rec %s fc %d hit %d late %d false %d prec %s F1 %.3f | degrade rec %s prec %s (%d fc) F1 %.3f | auth rec %s prec %s (%d fc) F1 %.3f | overall rec %s prec %s\n",
				seed, vs[i].name, all.Onsets, all.Predicted, pct(all.Recall), all.Forecasts, all.Hits, all.Late, all.Bad, pct(all.Precision), f1(all),
				pct(dg.Recall), pct(dg.Precision), dg.Forecasts, f1(dg), pct(au.Recall), pct(au.Precision), au.Forecasts, f1(au), pct(ov.Recall), pct(ov.Precision))
		}
	}
}
