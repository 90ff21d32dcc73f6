package forecast

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Tracked is the outcome of Track for one stack.
type Tracked struct {
	// Raised are new forecasts, with ID and RaisedAt set.
	Raised []Forecast
	// Updated are open forecasts still indicated whose ETA moved by more
	// than a minute or whose confidence changed: the stored one with the
	// new ETA, Confidence and Evidence (ID and RaisedAt kept).
	Updated []Forecast
	// Kept are open forecasts left as they are: still indicated and
	// unchanged, or not judged this pass by the indicator that raised
	// them (Reading.Unknown).
	Kept []Forecast
	// Cleared are open forecasts whose indicator went away (and that no
	// other indicator indicates), with ClearedAt set.
	Cleared []Forecast
}

// Open is every forecast open after the pass: Raised, Updated and Kept.
func (t Tracked) Open() []Forecast {
	out := slices.Concat(t.Raised, t.Updated, t.Kept)
	slices.SortFunc(out, func(a, b Forecast) int { return strings.Compare(a.Key().String(), b.Key().String()) })
	return out
}

// Track merges a Reading into a stack's open forecasts at now. It is pure;
// newID names a raised forecast.
//
// A forecast is raised once: an indicated key that is open already updates
// it (only when its ETA, confidence, class or indicator changed) rather
// than raising another. An open forecast belongs to the indicator of its
// evidence (the one that raised it), and what the reading says of the
// forecast's key and that indicator decides it:
//   - unknown (Reading.Unknown holds its Source): kept unchanged, whatever
//     other indicators read of the key, since an unknown observation is no
//     evidence either way;
//   - indicated by its indicator: updated from that reading;
//   - not indicated by its indicator but by another: handed to the other
//     (updated with its evidence, so that the other's reading decides it
//     from then on);
//   - indicated by none: cleared, its indicator went away (a renewed
//     certificate, an accepted delivery, a drift that stopped reopening).
//
// So one indicator's unknown holds only the forecasts it raised, and one
// indicator's "no precursor" clears only those. Entries of open that carry
// ClearedAt are ignored; when open holds a key twice, the first is the
// forecast.
func Track(open []Forecast, r Reading, now time.Time, newID func() string) Tracked {
	prev := map[Key]Forecast{}
	var order []Key
	for _, f := range open {
		if f.ClearedAt != nil {
			continue
		}
		if _, dup := prev[f.Key()]; !dup {
			prev[f.Key()] = f
			order = append(order, f.Key())
		}
	}
	// The reading's forecasts by key, in order; the first of a key
	// unless the open forecast's own indicator also indicates it.
	found := map[Key]Forecast{}
	var keys []Key
	for _, f := range r.Forecasts {
		k := f.Key()
		cur, seen := found[k]
		if !seen {
			keys = append(keys, k)
			found[k] = f
			continue
		}
		if old, isOpen := prev[k]; isOpen && cur.Source() != old.Source() && f.Source() == old.Source() {
			found[k] = f
		}
	}
	var t Tracked
	for _, k := range keys {
		f := found[k]
		old, ok := prev[k]
		switch {
		case !ok:
			f.ID, f.RaisedAt, f.ClearedAt = newID(), now, nil
			t.Raised = append(t.Raised, f)
		case held(r, old):
			t.Kept = append(t.Kept, old)
		case changed(old, f):
			old.ETA, old.Confidence, old.Evidence, old.Class = f.ETA, f.Confidence, f.Evidence, f.Class
			t.Updated = append(t.Updated, old)
		default:
			t.Kept = append(t.Kept, old)
		}
	}
	for _, k := range order {
		if _, indicated := found[k]; indicated {
			continue
		}
		f := prev[k]
		if held(r, f) {
			t.Kept = append(t.Kept, f)
			continue
		}
		at := now
		f.ClearedAt = &at
		t.Cleared = append(t.Cleared, f)
	}
	return t
}

// held reports whether the indicator that raised f could not judge its key
// in r (and its own reading does not indicate it either).
func held(r Reading, f Forecast) bool {
	if _, unknown := r.Unknown[f.Source()]; !unknown {
		return false
	}
	return !slices.ContainsFunc(r.Forecasts, func(x Forecast) bool { return x.Source() == f.Source() })
}

// changed reports whether a new reading of a forecast differs enough from
// the stored one to be written: its ETA moved by more than a minute, or its
// confidence by 0.05 or more, or its class or indicator changed.
func changed(old, f Forecast) bool {
	d := old.ETA.Sub(f.ETA)
	return d > time.Minute || d < -time.Minute || math.Abs(old.Confidence-f.Confidence) >= 0.05 || old.Class != f.Class ||
		old.Evidence.Indicator != f.Evidence.Indicator
}

// MaterialChange reports whether an open forecast moved enough since prev
// (what was last published of it) to be published again as an update
// (the stream's forecast.updated): its eta moved by more than one pass
// interval and by more than a tenth of the time then left to prev's eta,
// or its confidence by 0.1 or more, or its class or indicator changed
// (other evidence, such as the wording of its detail, does not count). A
// trend's eta wanders by minutes from pass to pass as samples come in,
// and Track stores each such move; publishing every one would make the
// stream a per-pass feed. Interval <= 0 counts as 5 minutes. Pure.
func MaterialChange(prev, next Forecast, interval time.Duration, now time.Time) bool {
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	shift := next.ETA.Sub(prev.ETA).Abs()
	left := max(prev.ETA.Sub(now), 0)
	switch {
	case shift > interval && shift > left/10:
		return true
	case math.Abs(next.Confidence-prev.Confidence) >= 0.1-1e-9:
		return true
	}
	return prev.Class != next.Class || prev.Evidence.Indicator != next.Evidence.Indicator
}
