package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// The analysis: the store's record matched to the faults.

type auditDrift struct {
	at               time.Time
	driftID          string
	reconciliationID string
	key              driftKey
}

// result is what the store's record says of one fault.
type result struct {
	f *fault
	// detected: the drift_detected entry of the fault's drift.
	detected    bool
	detectedAt  time.Time
	observable  time.Time
	healed      bool
	healedAt    time.Time
	attempts    int // heal attempts that ran (executed, succeeded, failed)
	decided     int // every heal attempt row (also pending, cancelled)
	succeeded   int
	approvals   int
	unexpected  []driftKey // drifts on the stack in the fault's window it does not explain
	exhausted   bool
	windowEnd   time.Time
	scheduleLag time.Duration // observable - injected, for the table
	// heal is the first succeeded heal attempt of the fault.
	heal *store.HealAttempt
	// details: the stack's timeline, for a fault that is anomalous.
	details []string
}

// anomalous: the fault did not end as its class says it must.
func (r *result) anomalous() bool {
	switch r.f.kind.class {
	case healable:
		return !r.healed || len(r.unexpected) > 0
	case needsApproval:
		return r.decided > 0 || r.approvals == 0
	case alertOnly:
		return r.decided > 0 || r.approvals > 0
	}
	return !r.exhausted || !r.detected
}

// stackTimeline describes what happened on a stack, for anomalies.
func stackTimeline(s *benchStack, since time.Time, detected, resolved []auditDrift, heals []store.HealAttempt, approvals []store.Approval) []string {
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	off := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%8.3fs", t.Sub(since).Seconds())
	}
	for _, f := range s.faults {
		if !f.injectStart.IsZero() {
			lines = append(lines, line{f.injectStart, fmt.Sprintf("fault %q injected; outcome %q; clean at %s", f.kind.name, f.outcome, off(f.cleanAt))})
		}
	}
	for _, d := range detected {
		lines = append(lines, line{d.at, fmt.Sprintf("drift_detected %s %s (%s)", d.key.code, d.key.component, d.driftID)})
	}
	for _, d := range resolved {
		lines = append(lines, line{d.at, fmt.Sprintf("drift_resolved %s %s (%s)", d.key.code, d.key.component, d.driftID)})
	}
	for _, a := range heals {
		lines = append(lines, line{a.CreatedAt, fmt.Sprintf("heal %s %s %s: %s %s", a.ID, a.Code, a.Action, a.Status, a.Error)})
	}
	for _, a := range approvals {
		lines = append(lines, line{a.CreatedAt, fmt.Sprintf("approval %s %s %s (%s): %s", a.ID, a.Code, a.Class, a.DriftID, a.Status)})
	}
	slices.SortStableFunc(lines, func(a, b line) int { return a.at.Compare(b.at) })
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = off(l.at) + "  " + l.text
	}
	return out
}

type report struct {
	results        []*result
	falsePositives []auditDrift
	driftReports   int
	passes         int
	passErrors     int
	pendingApprov  int
	wall, cpu      time.Duration
	warnings       map[string]int
	load           [2]string // load average before and after
	stacks         int
	skipped        int
}

// stackAudit is a stack's drift_detected and drift_resolved entries.
type stackAudit struct{ detected, resolved []auditDrift }

// storeRecord is what the store recorded since the start, by client.
type storeRecord struct {
	audit     map[string]*stackAudit
	heals     map[string][]store.HealAttempt
	approvals map[string][]store.Approval
}

// analyse matches the store's record since the start to the faults.
func (r *bench) analyse(ctx context.Context, since time.Time) (*report, error) {
	rep := &report{stacks: len(r.stacks)}
	rec := storeRecord{}
	var err error
	if rec.audit, rep.driftReports, err = r.auditByStack(ctx, since); err != nil {
		return nil, err
	}
	if rec.heals, err = r.healsByStack(ctx, since); err != nil {
		return nil, err
	}
	if rec.approvals, rep.pendingApprov, err = r.approvalsByStack(ctx, since); err != nil {
		return nil, err
	}
	for _, s := range r.stacks {
		passes, err := r.stackPasses(ctx, s, since, rep)
		if err != nil {
			return nil, err
		}
		sa := rec.audit[s.world.ClientID]
		explained := make([]bool, len(sa.detected))
		for _, f := range s.faults {
			if f.injectStart.IsZero() {
				rep.skipped++
				continue
			}
			rep.results = append(rep.results, matchFault(s, f, since, passes, sa, explained, rec))
		}
		for i, d := range sa.detected {
			if !explained[i] {
				rep.falsePositives = append(rep.falsePositives, d)
			}
		}
	}
	return rep, nil
}

// auditByStack reads the drift_detected and drift_resolved entries since
// the start, by client; reports counts the detections.
func (r *bench) auditByStack(ctx context.Context, since time.Time) (_ map[string]*stackAudit, reports int, _ error) {
	byStack := map[string]*stackAudit{}
	for _, s := range r.stacks {
		byStack[s.world.ClientID] = &stackAudit{}
	}
	detected, err := r.auditEntries(ctx, since, "drift_detected")
	if err != nil {
		return nil, 0, err
	}
	resolved, err := r.auditEntries(ctx, since, "drift_resolved")
	if err != nil {
		return nil, 0, err
	}
	for c, ds := range detected {
		if byStack[c] == nil {
			byStack[c] = &stackAudit{}
		}
		byStack[c].detected = ds
		reports += len(ds)
	}
	for c, ds := range resolved {
		if byStack[c] == nil {
			byStack[c] = &stackAudit{}
		}
		byStack[c].resolved = ds
	}
	return byStack, reports, nil
}

// auditEntries reads the audit entries of one action since the start, by
// client.
func (r *bench) auditEntries(ctx context.Context, since time.Time, action string) (map[string][]auditDrift, error) {
	entries, err := store.All(func(cursor store.Page) ([]store.AuditEntry, store.Page, error) {
		return r.store.ListAudit(ctx, store.AuditQuery{Action: action, Since: since, Cursor: cursor, Limit: 1000})
	})
	if err != nil {
		return nil, fmt.Errorf("list %s audit entries: %w", action, err)
	}
	out := map[string][]auditDrift{}
	for _, e := range entries {
		var ch struct {
			Code      drift.Code `json:"code"`
			Component string     `json:"component"`
		}
		_ = json.Unmarshal(e.ChangesMade, &ch)
		out[e.ClientID] = append(out[e.ClientID], auditDrift{at: e.Timestamp, driftID: e.DriftID,
			reconciliationID: e.ReconciliationID, key: driftKey{ch.Code, ch.Component}})
	}
	return out, nil
}

// healsByStack reads the heal attempts since the start, by client.
func (r *bench) healsByStack(ctx context.Context, since time.Time) (map[string][]store.HealAttempt, error) {
	all, err := store.All(func(cursor store.Page) ([]store.HealAttempt, store.Page, error) {
		return r.store.ListHeals(ctx, store.HealQuery{Since: since, Cursor: cursor, Limit: 1000})
	})
	if err != nil {
		return nil, fmt.Errorf("list heal attempts: %w", err)
	}
	heals := map[string][]store.HealAttempt{}
	for _, a := range all {
		heals[a.ClientID] = append(heals[a.ClientID], a)
	}
	return heals, nil
}

// approvalsByStack reads the approvals created since the start, by
// client; pending counts those still pending.
func (r *bench) approvalsByStack(ctx context.Context, since time.Time) (_ map[string][]store.Approval, pending int, _ error) {
	all, err := store.All(func(cursor store.Page) ([]store.Approval, store.Page, error) {
		return r.store.ListApprovals(ctx, store.ApprovalQuery{Cursor: cursor, Limit: 1000})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list approvals: %w", err)
	}
	approvals := map[string][]store.Approval{}
	for _, a := range all {
		if !a.CreatedAt.Before(since) {
			approvals[a.ClientID] = append(approvals[a.ClientID], a)
			if a.Status == store.ApprovalPending {
				pending++
			}
		}
	}
	return approvals, pending, nil
}

// passLog is a stack's passes since the start, oldest first.
type passLog struct {
	passes []store.ReconciliationResult
	byID   map[string]store.ReconciliationResult
}

// firstAfter is the start of the first pass after t.
func (sp passLog) firstAfter(t time.Time) (time.Time, bool) {
	for _, p := range sp.passes {
		if p.StartedAt.After(t) {
			return p.StartedAt, true
		}
	}
	return time.Time{}, false
}

// stackPasses reads the stack's passes since the start and counts them
// (and the failed ones) in rep.
func (r *bench) stackPasses(ctx context.Context, s *benchStack, since time.Time, rep *report) (passLog, error) {
	w := s.world
	var passes []store.ReconciliationResult
	cursor := ""
pages:
	for {
		rs, page, err := r.store.ListReconciliations(ctx, w.ClientID, w.StackID, cursor, 1000)
		if err != nil {
			return passLog{}, fmt.Errorf("list the passes of %s: %w", w.ClientID, err)
		}
		for _, res := range rs {
			if res.StartedAt.Before(since) {
				break pages
			}
			passes = append(passes, res)
			rep.passes++
			if res.Status != store.ResultSuccess {
				rep.passErrors++
			}
		}
		if page == "" {
			break
		}
		cursor = page
	}
	slices.Reverse(passes)
	byID := map[string]store.ReconciliationResult{}
	for _, p := range passes {
		byID[p.ReconciliationID] = p
	}
	return passLog{passes: passes, byID: byID}, nil
}

// matchFault is what the record says of one injected fault of s; the
// stack's detections it explains are marked in explained.
func matchFault(s *benchStack, f *fault, since time.Time, passes passLog, sa *stackAudit, explained []bool, rec storeRecord) *result {
	client := s.world.ClientID
	res := &result{f: f}
	end := f.cleanAt
	if end.IsZero() {
		end = time.Now().Add(time.Hour)
	}
	res.windowEnd = end
	matchDetections(res, s, passes, sa, explained)
	decidedIn := func(t time.Time) bool { return t.After(f.quietSince) && !t.After(end) }
	for _, a := range rec.heals[client] {
		if !decidedIn(a.CreatedAt) {
			continue
		}
		res.decided++
		switch a.Status {
		case store.HealExecuted, store.HealSucceeded, store.HealFailed, store.HealRunning:
			res.attempts++
		}
		if a.Status == store.HealSucceeded {
			res.succeeded++
			if res.heal == nil {
				res.heal = &a
			}
		}
	}
	res.healed = res.succeeded > 0 && !res.healedAt.IsZero()
	for _, a := range rec.approvals[client] {
		if decidedIn(a.CreatedAt) {
			res.approvals++
		}
	}
	res.exhausted = strings.HasPrefix(f.outcome, "exhausted")
	if res.anomalous() {
		res.details = stackTimeline(s, since, sa.detected, sa.resolved, rec.heals[client], rec.approvals[client])
	}
	return res
}

// matchDetections sets what the stack's detections in the fault's window
// (up to res.windowEnd) say: the fault's drift detected, when it was
// observable and healed, and the drifts the fault does not explain.
func matchDetections(res *result, s *benchStack, passes passLog, sa *stackAudit, explained []bool) {
	f, end := res.f, res.windowEnd
	in := func(t time.Time) bool { return !t.Before(f.injectStart) && !t.After(end) }
	expect := []driftKey{{f.kind.code, f.kind.component(s)}}
	if f.kind.also != nil {
		expect = append(expect, f.kind.also(s)...)
	}
	for i, d := range sa.detected {
		if !in(d.at) {
			continue
		}
		explained[i] = true
		if !slices.Contains(expect, d.key) {
			res.unexpected = append(res.unexpected, d.key)
			continue
		}
		if d.key != expect[0] || res.detected {
			continue
		}
		res.detected, res.detectedAt = true, d.at
		res.observable, res.scheduleLag = observable(f, d, passes)
		for _, rd := range sa.resolved {
			if rd.driftID == d.driftID && rd.at.After(d.at) && !rd.at.After(end) {
				res.healedAt = rd.at
				break
			}
		}
	}
}

// observable is when the fault's drift was first observable (see
// docs/PERFORMANCE.md), and how long after that the schedule looked.
func observable(f *fault, d auditDrift, passes passLog) (obs time.Time, scheduleLag time.Duration) {
	switch {
	case f.kind.staleness && !f.eventAt.IsZero():
		obs, _ = passes.firstAfter(f.eventAt.Add(maxStaleness))
	case !f.eventAt.IsZero():
		obs = f.eventAt
	default:
		obs, _ = passes.firstAfter(f.injectStart)
	}
	if p, ok := passes.byID[d.reconciliationID]; ok && (obs.IsZero() || p.StartedAt.Before(obs)) {
		obs = p.StartedAt
	}
	switch {
	case f.kind.staleness && !f.eventAt.IsZero():
		scheduleLag = max(0, obs.Sub(f.eventAt.Add(maxStaleness)))
	case f.eventAt.IsZero():
		scheduleLag = max(0, obs.Sub(f.injected))
	}
	return obs, scheduleLag
}

type stats struct {
	n              int
	mean, p50, p99 time.Duration
	max            time.Duration
}

func statsOf(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	q := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return stats{n: len(ds), mean: sum / time.Duration(len(ds)), p50: q(0.5), p99: q(0.99), max: ds[len(ds)-1]}
}

func (s stats) String() string {
	if s.n == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", ms(s.mean), ms(s.p50), ms(s.p99))
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
}

// headline are the headline numbers.
type headline struct {
	detect, detectObs, heal  stats
	healable, healed         int
	unhealable, unhealHeals  int
	attemptsHealable, faults int
	attemptsAll              int
	approvalFaults, approved int
	unfixable, unfixRuns     int
	unfixExhausted           int
	notDetected              int
	unexpected               int
}

func (rep *report) summary() headline {
	var k headline
	var det, detObs, heal []time.Duration
	for _, r := range rep.results {
		k.faults++
		k.attemptsAll += r.attempts
		k.unexpected += len(r.unexpected)
		if r.detected {
			det = append(det, r.detectedAt.Sub(r.f.injectStart))
			detObs = append(detObs, max(0, r.detectedAt.Sub(r.observable)))
		} else {
			k.notDetected++
		}
		switch r.f.kind.class {
		case healable:
			k.healable++
			k.attemptsHealable += r.attempts
			if r.healed {
				k.healed++
				heal = append(heal, r.healedAt.Sub(r.f.injectStart))
			}
		case needsApproval, alertOnly:
			k.unhealable++
			k.unhealHeals += r.decided
			if r.f.kind.class == needsApproval {
				k.approvalFaults++
				if r.approvals > 0 {
					k.approved++
				}
			}
		case unfixable:
			k.unfixable++
			k.unfixRuns += r.attempts
			if r.exhausted {
				k.unfixExhausted++
			}
		}
	}
	k.detect, k.detectObs, k.heal = statsOf(det), statsOf(detObs), statsOf(heal)
	return k
}

// print writes the report: the run, a table per fault kind, the
// headline KPIs, where heal time goes, the anomalies and the outcomes.
func (rep *report) print(out io.Writer, kinds []*faultKind) {
	k := rep.summary()
	rep.printRun(out, k)
	rep.printKinds(out, kinds)
	rep.printKPIs(out, k)
	rep.printHealPhases(out)
	rep.printAnomalies(out)
	rep.printOutcomes(out)
}

// printRun says what ran: stacks, faults, load, passes.
func (rep *report) printRun(out io.Writer, k headline) {
	fmt.Fprintf(out, "\nHealing KPIs: %d stacks, %d faults (%d skipped), %s of faults, %.2f cores used on average (%s CPU)\n",
		rep.stacks, k.faults, rep.skipped, rep.wall.Round(time.Second), rep.cpu.Seconds()/rep.wall.Seconds(), rep.cpu.Round(time.Second))
	var busy time.Duration
	for _, r := range rep.results {
		end := r.f.cleanAt
		if end.IsZero() {
			end = r.f.heldUntil // left in place after the hold
		}
		busy += end.Sub(r.f.injectStart)
	}
	fmt.Fprintf(out, "faults in flight on average: %.1f (mean time from injection to a clean stack %s)\n",
		busy.Seconds()/rep.wall.Seconds(), ms(busy/time.Duration(max(1, len(rep.results)))))
	fmt.Fprintf(out, "machine load average before / after: %s / %s\n", rep.load[0], rep.load[1])
	fmt.Fprintf(out, "passes: %d (%d failed); drift reports: %d\n\n", rep.passes, rep.passErrors, rep.driftReports)

}

// printKinds writes the table of detection and healing per fault kind.
func (rep *report) printKinds(out io.Writer, kinds []*faultKind) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tclass\tcode\tn\tdetected\tdetect from injection\tdetect from observable\tschedule wait\thealed\theal time\tattempts\tapprovals\tunexpected")
	fmt.Fprintln(tw, "\t\t\t\t\tmean / p50 / p99\tmean / p50 / p99\tmean\t\tmean / p50 / p99\t\t\t")
	for _, kind := range kinds {
		var n, detected, healed, attempts, approvals, unexpected int
		var det, detObs, heal, lag []time.Duration
		for _, r := range rep.results {
			if r.f.kind != kind {
				continue
			}
			n++
			attempts += r.attempts
			approvals += r.approvals
			unexpected += len(r.unexpected)
			if r.detected {
				detected++
				det = append(det, r.detectedAt.Sub(r.f.injectStart))
				detObs = append(detObs, max(0, r.detectedAt.Sub(r.observable)))
				lag = append(lag, r.scheduleLag)
			}
			if r.healed {
				healed++
				heal = append(heal, r.healedAt.Sub(r.f.injectStart))
			}
		}
		healedText := "-"
		if kind.class == healable || healed > 0 {
			healedText = fmt.Sprintf("%d", healed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", kind.name, kind.class, kind.code, n, detected,
			statsOf(det), statsOf(detObs), ms(statsOf(lag).mean), healedText, statsOf(heal), attempts, approvals, unexpected)
	}
	tw.Flush()

}

// printKPIs writes the headline KPIs and the false positives.
func (rep *report) printKPIs(out io.Writer, k headline) {
	fmt.Fprintf(out, "\ndetection, injection -> drift confirmed: mean / p50 / p99 = %s (max %s), %d not detected\n", k.detect, ms(k.detect.max), k.notDetected)
	fmt.Fprintf(out, "detection, observable -> drift confirmed: mean / p50 / p99 = %s (max %s)\n", k.detectObs, ms(k.detectObs.max))
	fmt.Fprintf(out, "healing, injection -> resolved with a succeeded heal: mean / p50 / p99 = %s (max %s)\n", k.heal, ms(k.heal.max))
	fmt.Fprintf(out, "auto-heal success: %d of %d healable faults (%.2f%%)\n", k.healed, k.healable, pct(k.healed, k.healable))
	fmt.Fprintf(out, "false positives: %d of %d drift reports (%.2f%%); drifts on a faulted stack its fault does not explain: %d\n",
		len(rep.falsePositives), rep.driftReports, pct(len(rep.falsePositives), rep.driftReports), k.unexpected)
	fmt.Fprintf(out, "heal attempts run per healable fault: %.3f; per fault overall: %.3f\n",
		ratio(k.attemptsHealable, k.healable), ratio(k.attemptsAll, k.faults))
	fmt.Fprintf(out, "heals decided for faults that must not be healed: %d (of %d such faults); approval requests: %d of %d faults that need one; pending at the end: %d\n",
		k.unhealHeals, k.unhealable, k.approved, k.approvalFaults, rep.pendingApprov)
	fmt.Fprintf(out, "site down (a rebuild cannot fix it): %d faults, %d heal attempts ran, %d exhausted the budget\n", k.unfixable, k.unfixRuns, k.unfixExhausted)
	for _, fp := range rep.falsePositives {
		fmt.Fprintf(out, "  false positive: %s %s on %s at %s\n", fp.key.code, fp.key.component, fp.driftID, fp.at.Format(time.RFC3339Nano))
	}
}

// printHealPhases says where a heal's time goes, for healed faults.
func (rep *report) printHealPhases(out io.Writer) {
	var toClaim, action, toVerify, verify []time.Duration
	for _, r := range rep.results {
		a := r.heal
		if !r.healed || a == nil || a.StartedAt == nil || a.CompletedAt == nil || a.VerifiedAt == nil {
			continue
		}
		toClaim = append(toClaim, a.StartedAt.Sub(r.detectedAt))
		action = append(action, a.CompletedAt.Sub(*a.StartedAt))
		toVerify = append(toVerify, a.VerifiedAt.Sub(*a.CompletedAt))
		verify = append(verify, r.healedAt.Sub(*a.VerifiedAt))
	}
	fmt.Fprintf(out, "heal phases, mean / p50 / p99: drift confirmed -> action starts %s; action %s; action done -> verifying pass starts %s; verifying pass %s\n",
		statsOf(toClaim), statsOf(action), statsOf(toVerify), statsOf(verify))
}

// printAnomalies writes the stack's timeline of each anomalous fault.
func (rep *report) printAnomalies(out io.Writer) {
	for _, r := range rep.results {
		if len(r.details) == 0 {
			continue
		}
		fmt.Fprintf(out, "\nanomaly: %q on %s/%s (%s); the stack's timeline:\n", r.f.kind.name, r.f.stack.world.ClientID, r.f.stack.world.StackID, r.f.outcome)
		for _, l := range r.details {
			fmt.Fprintln(out, "  "+l)
		}
	}
}

// printOutcomes writes the faults' outcomes as the benchmark followed
// them, and the server's warnings.
func (rep *report) printOutcomes(out io.Writer) {
	outcomes := map[string]int{}
	for _, r := range rep.results {
		outcomes[r.f.kind.name+": "+r.f.outcome]++
		for _, u := range r.unexpected {
			outcomes["unexpected drift with "+r.f.kind.name+": "+string(u.code)+" "+u.component]++
		}
	}
	fmt.Fprintln(out, "\noutcomes as the benchmark followed them:")
	for _, key := range slices.Sorted(maps.Keys(outcomes)) {
		fmt.Fprintf(out, "  %4d  %s\n", outcomes[key], key)
	}
	if len(rep.warnings) > 0 {
		fmt.Fprintln(out, "server log lines at warn and above:")
		for _, key := range slices.Sorted(maps.Keys(rep.warnings)) {
			fmt.Fprintf(out, "  %4d  %s\n", rep.warnings[key], key)
		}
	}
}

// check says which of the guarantees was broken; unlike the latencies,
// they do not depend on the machine.
func (rep *report) check() error {
	k := rep.summary()
	var errs []error
	if k.unhealHeals > 0 {
		errs = append(errs, fmt.Errorf("%d heal attempts were decided for faults that must not be healed", k.unhealHeals))
	}
	if len(rep.falsePositives) > 0 {
		errs = append(errs, fmt.Errorf("%d false positives", len(rep.falsePositives)))
	}
	return errors.Join(errs...)
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
