package report

import (
	"encoding/json"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Params says what a report covers.
type Params struct {
	// From and To bound the period, [From, To); To must be after From.
	From, To time.Time
	// ClientID limits the report to one client; empty for every client.
	ClientID string
	// Now is the report's generated_at.
	Now time.Time
}

// The audit actions a Builder reads.
const (
	actDetected     = "drift_detected"
	actResolved     = "drift_resolved"
	actAcknowledged = "drift_acknowledged"
	actHealOK       = "heal_succeeded"
	actHealFailed   = "heal_failed"
	actStackDeleted = "stack_deleted"
)

// manualActions are the audit actions of a person acting on drift.
var manualActions = map[string]bool{
	actAcknowledged: true, "approval_granted": true, "approval_rejected": true, "rollback": true,
}

// Builder folds audit entries, in chain order, into a Report. It reads
// every entry before the period's end (earlier ones say which stacks
// exist and which drifts are open when the period starts) and ignores
// later ones.
type Builder struct {
	p       Params
	clients map[string]*clientAcc
	stacks  map[stackKey]*stackAcc
	// occ is the latest occurrence of each drift id, open or resolved.
	occ      map[string]*occurrence
	series   []Bucket
	bucket   time.Duration
	firstSeq int64
	read     int64
}

type stackKey struct{ client, stack string }

// stackAcc is one stack's lives (first entry to stack_deleted) and the
// spans of its drift occurrences.
type stackAcc struct {
	alive  bool
	since  time.Time
	lives  []span
	drifts []span
}

// occurrence is one drift occurrence: its onset (first_seen), detection,
// and what happened to it.
type occurrence struct {
	key                  stackKey
	onset, detected      time.Time
	inPeriod             bool
	resolved, healed, fp bool
}

// clientAcc accumulates one client's figures and duration samples.
type clientAcc struct {
	f                            Figures
	detection, healing, recovery []float64
}

// NewBuilder returns a Builder of the report p describes.
func NewBuilder(p Params) *Builder {
	b := &Builder{p: p, clients: map[string]*clientAcc{}, stacks: map[stackKey]*stackAcc{}, occ: map[string]*occurrence{}}
	b.bucket = bucketSize(p.To.Sub(p.From))
	for t := p.From; t.Before(p.To); t = t.Add(b.bucket) {
		b.series = append(b.series, Bucket{Start: t, End: earlier(t.Add(b.bucket), p.To)})
	}
	return b
}

// bucketSize is the smallest of an hour, 6 hours, a day, a week and 30
// days that cuts a period in at most 92 buckets (longer: as many 30-day
// buckets as it takes).
func bucketSize(period time.Duration) time.Duration {
	const most = 92
	for _, d := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
		if period <= most*d {
			return d
		}
	}
	month := 30 * 24 * time.Hour
	return month * time.Duration((period+most*month-1)/(most*month))
}

// Add folds one entry; entries must come in chain (seq) order.
func (b *Builder) Add(e store.AuditEntry) {
	b.add(e, changesOf(e))
}

// add folds one entry whose changes_made c holds (decoded by changesOf,
// which reads it only for the actions the report reads it of).
func (b *Builder) add(e store.AuditEntry, c changes) {
	if b.p.ClientID != "" && e.ClientID != b.p.ClientID || !e.Timestamp.Before(b.p.To) {
		return
	}
	if b.read == 0 {
		b.firstSeq = e.Seq
	}
	b.read++
	key := stackKey{e.ClientID, e.StackID}
	if e.StackID != "" {
		b.stackSeen(key, e)
	}
	in := !e.Timestamp.Before(b.p.From)
	switch {
	case e.Action == actDetected:
		b.detected(key, e, in, c)
	case e.Action == actResolved:
		b.resolved(e)
	case e.Action == actHealOK:
		b.healSucceeded(e, in)
	case e.Action == actHealFailed && in:
		b.client(e.ClientID).f.HealsFailed++
		b.at(e.Timestamp).HealsFailed++
	case e.Action == actStackDeleted:
		b.stackDeleted(key, e.Timestamp)
	}
	if e.Action == actAcknowledged {
		b.acknowledged(e, in, c)
	}
	if manualActions[e.Action] && in {
		b.client(e.ClientID).f.ManualInterventions++
		b.at(e.Timestamp).ManualInterventions++
	}
}

// client is the accumulator of a client, made on first use.
func (b *Builder) client(id string) *clientAcc {
	c, ok := b.clients[id]
	if !ok {
		c = &clientAcc{f: Figures{ClientID: id, Acknowledgements: map[string]int{}}}
		b.clients[id] = c
	}
	return c
}

// at is the bucket of a time inside the period.
func (b *Builder) at(t time.Time) *Bucket {
	return &b.series[int(t.Sub(b.p.From)/b.bucket)]
}

// stackSeen starts a stack's life at its first entry, and again at a
// desired_state_changed entry after its stack_deleted one (applied anew).
// Other entries after a deletion (a heal's outcome recorded late) do not
// bring it back.
func (b *Builder) stackSeen(key stackKey, e store.AuditEntry) {
	s, ok := b.stacks[key]
	if !ok {
		s = &stackAcc{alive: true, since: e.Timestamp}
		b.stacks[key] = s
		b.client(key.client)
	}
	if !s.alive && e.Action == "desired_state_changed" {
		s.alive, s.since = true, e.Timestamp
	}
}

func (b *Builder) stackDeleted(key stackKey, at time.Time) {
	if s := b.stacks[key]; s != nil && s.alive {
		s.alive = false
		s.lives = append(s.lives, span{s.since, at})
	}
}

// changes is what the report reads of an entry's changes_made.
type changes struct {
	FirstSeen time.Time `json:"first_seen"`
	Reason    string    `json:"reason"`
}

// changesOf decodes what the report reads of an entry's changes_made, of
// the actions it reads it of (drift_detected, drift_acknowledged); a
// foreign or broken shape reads as zero values.
func changesOf(e store.AuditEntry) changes {
	var c changes
	if len(e.ChangesMade) > 0 && (e.Action == actDetected || e.Action == actAcknowledged) {
		_ = json.Unmarshal(e.ChangesMade, &c)
	}
	return c
}

// detected opens an occurrence. Its onset is first_seen, or the entry's
// time when that is missing or later.
func (b *Builder) detected(key stackKey, e store.AuditEntry, in bool, c changes) {
	onset := c.FirstSeen
	if onset.IsZero() || onset.After(e.Timestamp) {
		onset = e.Timestamp
	}
	if prev := b.occ[e.DriftID]; prev != nil && !prev.resolved {
		// A new occurrence without the old one's resolution: it ended,
		// at the latest, when the new one began.
		prev.resolved = true
		b.closeSpan(prev, later(prev.onset, onset))
	}
	o := &occurrence{key: key, onset: onset, detected: e.Timestamp, inPeriod: in}
	b.occ[e.DriftID] = o
	if in {
		c := b.client(key.client)
		c.f.DriftsDetected++
		c.detection = append(c.detection, e.Timestamp.Sub(onset).Seconds())
		b.at(e.Timestamp).DriftsDetected++
	}
}

// resolved closes the drift's open occurrence.
func (b *Builder) resolved(e store.AuditEntry) {
	o := b.occ[e.DriftID]
	if o == nil || o.resolved {
		return // detected before the first entry read (pruned), or twice
	}
	o.resolved = true
	b.closeSpan(o, e.Timestamp)
	if o.inPeriod {
		c := b.client(o.key.client)
		c.f.DriftsResolved++
		c.recovery = append(c.recovery, e.Timestamp.Sub(o.onset).Seconds())
	}
}

// closeSpan records an ended occurrence's drift span on its stack, unless
// it was a false positive.
func (b *Builder) closeSpan(o *occurrence, end time.Time) {
	if s := b.stacks[o.key]; s != nil && !o.fp {
		s.drifts = append(s.drifts, span{o.onset, end})
	}
}

// healSucceeded counts a successful heal attempt, and the first of an
// occurrence of the period makes its time to heal.
func (b *Builder) healSucceeded(e store.AuditEntry, in bool) {
	c := b.client(e.ClientID)
	if in {
		c.f.HealsSucceeded++
		if e.ApprovalRequired {
			c.f.ApprovedHeals++
		} else {
			c.f.AutomaticHeals++
			b.at(e.Timestamp).AutomaticHeals++
		}
	}
	if o := b.occ[e.DriftID]; o != nil && o.inPeriod && !o.healed {
		o.healed = true
		c.healing = append(c.healing, e.Timestamp.Sub(o.onset).Seconds())
	}
}

// acknowledged counts an acknowledgement by reason, and marks the open
// occurrence a false positive when it says so.
func (b *Builder) acknowledged(e store.AuditEntry, in bool, ch changes) {
	reason := "unspecified"
	if r, err := drift.ParseAckReason(ch.Reason); err == nil {
		reason = string(r)
	}
	c := b.client(e.ClientID)
	if in {
		c.f.Acknowledgements[reason]++
	}
	o := b.occ[e.DriftID]
	if o == nil || o.resolved || o.fp || reason != string(drift.AckFalsePositive) {
		return
	}
	o.fp = true
	if o.inPeriod {
		c.f.FalsePositives++
	}
}
