package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// world describes a generated audit history: clients × stacks stacks over
// days days from start, each with about rate drift occurrences a day, one
// at a time, ending in the ways the reconciler's entries show (healed,
// healed on the second attempt, a false positive, healed after an
// approval, fixed by hand). The tests recompute figures from it; the
// benchmark reports on it.
type world struct {
	clients, stacks int
	start           time.Time
	days            int
	rate            float64
	seed            uint64
}

func (w world) end() time.Time { return w.start.Add(time.Duration(w.days) * 24 * time.Hour) }

// entries is the world's history in chain order (by time), numbered from
// 1, without the entries the history's end cuts off.
func (w world) entries() []store.AuditEntry {
	rng := rand.New(rand.NewPCG(w.seed, 1))
	var out []store.AuditEntry
	for c := range w.clients {
		for s := range w.stacks {
			out = append(out, w.stack(rng, fmt.Sprintf("client-%03d", c), fmt.Sprintf("stack-%03d", s))...)
		}
	}
	end := w.end()
	out = slices.DeleteFunc(out, func(e store.AuditEntry) bool { return !e.Timestamp.Before(end) })
	slices.SortStableFunc(out, func(a, b store.AuditEntry) int { return a.Timestamp.Compare(b.Timestamp) })
	for i := range out {
		out[i].Seq = int64(i + 1)
	}
	return out
}

// stack is one stack's history: applied before the start (one in twenty
// later), deleted on the last day by one in fifty, and its drifts.
func (w world) stack(rng *rand.Rand, client, stack string) []store.AuditEntry {
	h := history{client: client, stack: stack}
	born := w.start.Add(-time.Hour)
	if rng.IntN(20) == 0 {
		born = w.start.Add(time.Duration(rng.Int64N(int64(w.days)*24*3600/2)) * time.Second)
	}
	h.add(born, "desired_state_changed", "", nil, false)
	died := w.end().Add(time.Hour)
	if rng.IntN(50) == 0 {
		died = w.end().Add(-time.Duration(rng.Int64N(24*3600)) * time.Second)
	}
	// Drifts of different components overlap; one component's come one
	// after another.
	mean := float64(24*time.Hour) / w.rate
	busy, onsets := map[string]time.Time{}, map[string]time.Time{}
	for t := born; ; {
		t = t.Add(time.Duration(rng.ExpFloat64() * mean)).Truncate(time.Second) // as stored, to the second
		id := fmt.Sprintf("%s/%s/%d", client, stack, rng.IntN(4))
		onset := later(t, busy[id].Add(time.Second))
		if !onset.Before(died) {
			break
		}
		busy[id], onsets[id] = h.occurrence(rng, id, onset), onset
	}
	if died.Before(w.end()) {
		// Deleting a stack resolves its open drifts and cancels the rest,
		// in one transaction (internal/state/stack_delete.go).
		h.out = slices.DeleteFunc(h.out, func(e store.AuditEntry) bool { return e.Timestamp.After(died) })
		for _, id := range slices.Sorted(maps.Keys(busy)) {
			if busy[id].After(died) {
				h.add(died, "drift_resolved", id, map[string]any{"first_seen": onsets[id]}, false)
			}
		}
		h.add(died, "stack_deleted", "", nil, false)
	}
	return h.out
}

// history collects one stack's entries.
type history struct {
	client, stack string
	out           []store.AuditEntry
}

func (h *history) add(at time.Time, action, driftID string, changes map[string]any, approval bool) {
	e := store.AuditEntry{Timestamp: at, Action: action, ClientID: h.client, StackID: h.stack, DriftID: driftID,
		TriggeredBy: "reconciler:schedule", Success: action != "heal_failed", ApprovalRequired: approval}
	if changes != nil {
		e.ChangesMade, _ = json.Marshal(changes)
	}
	h.out = append(h.out, e)
}

// between is a uniformly random time in [a, b] after t, in whole seconds.
func between(rng *rand.Rand, t time.Time, a, b time.Duration) time.Time {
	return t.Add(a + time.Duration(rng.Int64N(int64((b-a)/time.Second)+1))*time.Second)
}

// occurrence adds one drift occurrence with onset at onset and returns
// when it was resolved.
func (h *history) occurrence(rng *rand.Rand, id string, onset time.Time) time.Time {
	s, m := time.Second, time.Minute
	seen := map[string]any{"code": "webhook_broken", "component": "cms", "first_seen": onset}
	t := between(rng, onset, 10*s, 150*s)
	h.add(t, "drift_detected", id, seen, false)
	heal := func(t time.Time, approval bool) time.Time {
		h.add(t, "heal_scheduled", id, nil, approval)
		t = between(rng, t, 5*s, 60*s)
		h.add(t, "heal_executed", id, nil, approval)
		return between(rng, t, 30*s, 300*s)
	}
	switch r := rng.Float64(); {
	case r < 0.70: // healed
		t = heal(t, false)
		h.add(t, "heal_succeeded", id, nil, false)
	case r < 0.80: // the first attempt fails, the second heals
		t = heal(t, false)
		h.add(t, "heal_failed", id, nil, false)
		t = heal(t.Add(time.Minute), false)
		h.add(t, "heal_succeeded", id, nil, false)
	case r < 0.88: // a false positive; it clears on its own
		t = between(rng, t, m, 30*m)
		h.add(t, "drift_acknowledged", id, map[string]any{"reason": "false_positive", "first_seen": onset}, false)
		t = between(rng, t, m, 60*m)
	case r < 0.95: // healed after an approval
		h.add(t, "approval_requested", id, nil, true)
		t = between(rng, t, 5*m, 60*m)
		h.add(t, "approval_granted", id, nil, true)
		t = heal(t, true)
		h.add(t, "heal_succeeded", id, nil, true)
	default: // fixed by hand
		t = between(rng, t, 5*m, 30*m)
		h.add(t, "drift_acknowledged", id, map[string]any{"reason": "fixed_by_hand", "first_seen": onset}, false)
		t = between(rng, t, 10*m, 120*m)
	}
	h.add(t, "drift_resolved", id, seen, false)
	return t
}
