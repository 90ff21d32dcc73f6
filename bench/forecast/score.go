package main

import (
	"math"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/forecast"
)

// familyOf is the scenario family an indicator's forecasts aim at.
var familyOf = map[string]string{
	forecast.IndicatorCertificate: famCertificate,
	forecast.IndicatorAPIVersion:  famAPIVersion,
	forecast.IndicatorSunset:      famSunset,
	forecast.IndicatorRefusals:    famOutage,
	forecast.IndicatorFlapping:    famFlapping,
}

// verdict of one forecast.
const (
	verdictHit          = "hit"          // named an onset at least minLead before it
	verdictLate         = "late"         // an onset of its key came, but sooner than minLead after the raise
	verdictFalse        = "false"        // cleared, or its eta (plus grace) passed, with no onset
	verdictUndetermined = "undetermined" // still open at the end, eta (plus grace) after it
)

// scored is a replay judged against its ground truth.
type scored struct {
	onsets    []onset
	predicted []*raised // per onset: the forecast that predicted it, or nil
	verdicts  []string  // per forecast
	forecasts []raised
	stacks    int
	weeks     float64
}

// score matches forecasts to onsets. An onset is predicted by a forecast
// of its stack, code and component that was raised at least minLead (one
// schedule interval plus the heal time) before it, was still open at that
// moment, and predicted no earlier onset. A forecast without an onset is false once it was cleared
// or its eta plus grace passed; an onset of its key inside minLead of its
// raise makes it late (not a hit).
func score(w world, r replayResult, minLead, grace time.Duration) scored {
	s := scored{forecasts: r.forecasts, stacks: len(w.stacks), weeks: w.end.Sub(w.start).Hours() / (7 * 24)}
	byKey := map[[2]any][]int{}
	for i, f := range r.forecasts {
		k := [2]any{f.stack, f.key}
		byKey[k] = append(byKey[k], i)
	}
	hit := make([]bool, len(r.forecasts))
	late := make([]bool, len(r.forecasts))
	for _, o := range r.onsets {
		if o.at.Before(w.start) || !o.at.Before(w.end) {
			continue
		}
		s.onsets = append(s.onsets, o)
		var pred *raised
		due := o.at.Add(-minLead)
		for _, i := range byKey[[2]any{o.stack, o.key}] {
			f := &r.forecasts[i]
			if f.raisedAt.After(o.at) {
				continue
			}
			if !f.raisedAt.After(due) && (f.clearedAt == nil || f.clearedAt.After(due)) {
				if hit[i] {
					// A forecast predicts one onset: the next onset of
					// its key (a subscription deleted again while the
					// refusals go on) needs a forecast of its own.
					continue
				}
				pred = f
				hit[i] = true
				continue
			}
			if f.raisedAt.After(due) && (f.clearedAt == nil || !f.clearedAt.Before(o.at)) {
				late[i] = true
			}
		}
		s.predicted = append(s.predicted, pred)
	}
	for i, f := range r.forecasts {
		switch {
		case hit[i]:
			s.verdicts = append(s.verdicts, verdictHit)
		case late[i]:
			s.verdicts = append(s.verdicts, verdictLate)
		case f.clearedAt != nil || f.eta.Add(grace).Before(w.end):
			s.verdicts = append(s.verdicts, verdictFalse)
		default:
			s.verdicts = append(s.verdicts, verdictUndetermined)
		}
	}
	return s
}

// figures are the classifier figures of a group of onsets and forecasts.
type figures struct {
	Onsets, Predicted          int
	Forecasts, Hits, Late, Bad int
	Undetermined               int
	Recall, Precision          float64
	FalsePerStackWeek          float64
	LeadP50, LeadP10           time.Duration
	Brier                      float64
}

// figuresOf computes figures over the onsets and forecasts that keep
// selects.
func (s scored) figuresOf(keepOnset func(onset) bool, keepForecast func(raised) bool) figures {
	var f figures
	var leads []time.Duration
	for i, o := range s.onsets {
		if !keepOnset(o) {
			continue
		}
		f.Onsets++
		if p := s.predicted[i]; p != nil {
			f.Predicted++
			leads = append(leads, o.at.Sub(p.raisedAt))
		}
	}
	var brier float64
	judged := 0
	for i, fc := range s.forecasts {
		if !keepForecast(fc) {
			continue
		}
		f.Forecasts++
		outcome := 0.0
		switch s.verdicts[i] {
		case verdictHit:
			f.Hits++
			outcome = 1
		case verdictLate:
			f.Late++
			outcome = 1 // the drift came: the probability was right, the timing not
		case verdictFalse:
			f.Bad++
		default:
			f.Undetermined++
			continue
		}
		judged++
		brier += (fc.confidence - outcome) * (fc.confidence - outcome)
	}
	if f.Onsets > 0 {
		f.Recall = float64(f.Predicted) / float64(f.Onsets)
	}
	if n := f.Hits + f.Late + f.Bad; n > 0 {
		f.Precision = float64(f.Hits) / float64(n)
	} else {
		f.Precision = math.NaN()
	}
	if judged > 0 {
		f.Brier = brier / float64(judged)
	} else {
		f.Brier = math.NaN()
	}
	f.FalsePerStackWeek = float64(f.Bad+f.Late) / (float64(s.stacks) * s.weeks)
	slices.Sort(leads)
	if len(leads) > 0 {
		f.LeadP50 = leads[len(leads)/2]
		f.LeadP10 = leads[len(leads)/10]
	}
	return f
}
