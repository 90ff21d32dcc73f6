package report

import (
	"fmt"
	"maps"
	"slices"
)

// Head is the audit chain head a report was computed up to.
type Head struct {
	Seq  int64
	Hash string
}

// Finish ends the fold: open occurrences run to the period's end, stack
// time and compliance are computed, and the figures summarised. The
// Builder must not be used after.
func (b *Builder) Finish(head Head) Report {
	for _, o := range b.occ {
		if !o.resolved {
			b.closeSpan(o, b.p.To)
			if o.inPeriod {
				b.client(o.key.client).f.DriftsOpenAtEnd++
			}
		}
	}
	b.stackTime()
	r := Report{
		Kind: Kind, GeneratedAt: b.p.Now, From: b.p.From, To: b.p.To, ClientID: b.p.ClientID,
		Source: Source{HeadSeq: head.Seq, HeadHash: head.Hash, FirstSeq: b.firstSeq, EntriesRead: b.read,
			Verify: verifyCommand(head)},
		Clients: []Figures{}, Series: b.series, NotInAuditLog: omissions(),
	}
	var all clientAcc
	all.f.Acknowledgements = map[string]int{}
	for _, id := range slices.Sorted(maps.Keys(b.clients)) {
		c := b.clients[id]
		all.add(c)
		r.Clients = append(r.Clients, c.figures())
	}
	r.Overall = all.figures()
	for i := range r.Series {
		r.Series[i].Compliance = compliance(r.Series[i].StackSeconds, r.Series[i].DriftStackSeconds)
	}
	return r
}

// verifyCommand is the command that checks the chain up to head.
func verifyCommand(head Head) string {
	if head.Seq == 0 {
		return "blackwell audit verify"
	}
	return fmt.Sprintf("blackwell audit verify --expect-head %d:%s", head.Seq, head.Hash)
}

// stackTime adds each stack's time in the period, and the part of it with
// an open drift, to its client and to the buckets.
func (b *Builder) stackTime() {
	window := []span{{b.p.From, b.p.To}}
	for key, s := range b.stacks {
		lives := s.lives
		if s.alive {
			lives = append(lives, span{s.since, b.p.To})
		}
		live := intersect(merged(lives), window)
		if len(live) == 0 {
			continue
		}
		drifted := intersect(merged(s.drifts), live)
		c := b.client(key.client)
		c.f.Stacks++
		c.f.StackSeconds += seconds(live)
		c.f.DriftStackSeconds += seconds(drifted)
		b.spread(live, func(bk *Bucket, sec float64) { bk.StackSeconds += sec })
		b.spread(drifted, func(bk *Bucket, sec float64) { bk.DriftStackSeconds += sec })
	}
}

// spread adds each span's seconds to the buckets it covers.
func (b *Builder) spread(spans []span, add func(*Bucket, float64)) {
	for _, s := range spans {
		for i := int(s.start.Sub(b.p.From) / b.bucket); i < len(b.series); i++ {
			bk := &b.series[i]
			if !s.end.After(bk.Start) {
				break
			}
			part := span{later(s.start, bk.Start), earlier(s.end, bk.End)}
			if !part.empty() {
				add(bk, part.end.Sub(part.start).Seconds())
			}
		}
	}
}

// add adds another client's counts and samples to c.
func (c *clientAcc) add(o *clientAcc) {
	f, g := &c.f, o.f
	f.Stacks += g.Stacks
	f.DriftsDetected += g.DriftsDetected
	f.DriftsResolved += g.DriftsResolved
	f.DriftsOpenAtEnd += g.DriftsOpenAtEnd
	f.HealsSucceeded += g.HealsSucceeded
	f.HealsFailed += g.HealsFailed
	f.FalsePositives += g.FalsePositives
	f.AutomaticHeals += g.AutomaticHeals
	f.ApprovedHeals += g.ApprovedHeals
	f.ManualInterventions += g.ManualInterventions
	f.StackSeconds += g.StackSeconds
	f.DriftStackSeconds += g.DriftStackSeconds
	for k, v := range g.Acknowledgements {
		f.Acknowledgements[k] += v
	}
	c.detection = append(c.detection, o.detection...)
	c.healing = append(c.healing, o.healing...)
	c.recovery = append(c.recovery, o.recovery...)
}

// figures summarises the accumulator: durations, rates and KPIs.
func (c *clientAcc) figures() Figures {
	f := c.f
	f.DetectionTime = summarise(c.detection)
	f.TimeToHeal = summarise(c.healing)
	f.TimeToRecovery = summarise(c.recovery)
	f.AutoHealSuccessRate = ratio(float64(f.HealsSucceeded), float64(f.HealsSucceeded+f.HealsFailed))
	f.FalsePositiveRate = ratio(float64(f.FalsePositives), float64(f.DriftsDetected))
	f.AutomationRate = ratio(float64(f.AutomaticHeals), float64(f.AutomaticHeals+f.ManualInterventions))
	f.Compliance = compliance(f.StackSeconds, f.DriftStackSeconds)
	f.KPIs = kpis(f)
	return f
}

// compliance is the share of stack time without drift; nil without stack
// time.
func compliance(stackSeconds, driftSeconds float64) *float64 {
	return ratio(stackSeconds-driftSeconds, stackSeconds)
}
