package report

import (
	"slices"
	"time"
)

// span is the half-open time interval [start, end).
type span struct{ start, end time.Time }

func (s span) empty() bool { return !s.end.After(s.start) }

// merged returns the union of spans as sorted, disjoint spans, dropping
// empty ones. It sorts in in place.
func merged(in []span) []span {
	slices.SortFunc(in, func(a, b span) int { return a.start.Compare(b.start) })
	var out []span
	for _, s := range in {
		if s.empty() {
			continue
		}
		if n := len(out); n > 0 && !s.start.After(out[n-1].end) {
			if s.end.After(out[n-1].end) {
				out[n-1].end = s.end
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// intersect returns the intersection of two sorted, disjoint span lists.
func intersect(a, b []span) []span {
	var out []span
	for i, j := 0, 0; i < len(a) && j < len(b); {
		s := span{start: later(a[i].start, b[j].start), end: earlier(a[i].end, b[j].end)}
		if !s.empty() {
			out = append(out, s)
		}
		if a[i].end.Before(b[j].end) {
			i++
		} else {
			j++
		}
	}
	return out
}

// seconds is the total length of spans, in seconds.
func seconds(spans []span) float64 {
	var d time.Duration
	for _, s := range spans {
		d += s.end.Sub(s.start)
	}
	return d.Seconds()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
