package forecast

import (
	"slices"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// Bounds of a ProbeHistory.
const (
	// MaxProbeStacks bounds the stacks a ProbeHistory follows; a pass of
	// another one is not recorded while it is full.
	MaxProbeStacks = 10000
	// MaxProbeSamples bounds the samples kept per resource (the oldest go
	// first).
	MaxProbeSamples = 512
)

// ProbeHistory keeps, per stack and resource, the probe samples of the
// recent passes, for the trend indicators: a pass sees one probe of each
// resource, a trend needs hours of them. It is safe for concurrent use and
// holds only this process's view.
type ProbeHistory struct {
	mu     sync.Mutex
	keep   time.Duration
	stacks map[[2]string]map[string][]ProbeSample
}

// NewProbeHistory keeps the samples of the last keep (at least a day's
// worth is sensible: longer than Params.TrendWindow).
func NewProbeHistory(keep time.Duration) *ProbeHistory {
	return &ProbeHistory{keep: keep, stacks: map[[2]string]map[string][]ProbeSample{}}
}

// Record adds a pass's probes (a resource whose status is unknown adds
// nothing) and returns the stack's samples, by resource, oldest first.
func (h *ProbeHistory) Record(clientID, stackID string, at time.Time, resources map[string]drift.ResourceObservation) map[string][]ProbeSample {
	k := [2]string{clientID, stackID}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.stacks[k]
	if st == nil {
		if len(h.stacks) >= MaxProbeStacks {
			return nil
		}
		st = map[string][]ProbeSample{}
		h.stacks[k] = st
	}
	for name, obs := range resources {
		if obs.Status == drift.StatusUnknown || obs.Status == "" {
			continue
		}
		s := append(st[name], ProbeSample{At: at, Latency: obs.Latency, Failed: obs.Status != drift.StatusHealthy})
		cut := 0
		for cut < len(s) && (s[cut].At.Before(at.Add(-h.keep)) || len(s)-cut > MaxProbeSamples) {
			cut++
		}
		st[name] = slices.Clone(s[cut:])
	}
	out := make(map[string][]ProbeSample, len(st))
	for name, s := range st {
		out[name] = slices.Clone(s)
	}
	return out
}

// Forget drops the samples of a stack's resource: a confirmed drift of it
// resolved, and the samples before belong to the episode that drift ended
// (a trend fitted across the fix would still rise).
func (h *ProbeHistory) Forget(clientID, stackID, resource string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.stacks[[2]string{clientID, stackID}], resource)
}
