package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Stalled is a step error that a person must resolve (a stored desired
// document that no longer decodes, say): the pass records it and the stack
// is not retried before its next scheduled pass.
type Stalled struct{ Err error }

func (e Stalled) Error() string { return "stalled: " + e.Err.Error() }
func (e Stalled) Unwrap() error { return e.Err }

// Event types the observation understands beyond content.*.
const (
	eventBuildSucceeded = "build.succeeded"
	eventBuildFailed    = "build.failed"
)

// pass is one reconcile pass of one stack; its fields are filled by the
// steps in order.
type pass struct {
	r       *Reconciler
	log     *slog.Logger
	key     string
	id      string
	trigger string
	started time.Time

	rec       store.StateRecord
	spec      config.StackSpec
	policy    config.PolicySpec
	open      []drift.Drift
	activity  store.ActivityReport // of the event window, as loaded
	forecasts []forecast.Forecast  // open, as loaded (for the forecast hook)
	observed  drift.Observed
	checked   store.EventMark // events observed through (store.ActivityReport.Mark)
	found     []drift.Drift
	known     drift.LastKnown // rec.LastKnown with this pass's observation
	unjudged  map[string]bool // drift ids this pass could not judge (drift.Unjudged)
	rule      drift.Rule
	tracked   drift.Tracked
	decisions map[string]string // drift id -> decision, for newly confirmed drifts
	heal      healPlan
	verdicts  []AutoHealEvent // of heal.verdicts, as committed
	errs      []string
	// fence is the shard lease the pass commits under (nil: no
	// distribution).
	fence *store.Fence
	// committed is the state record as the pass committed it.
	committed store.StateRecord
	// next is how long after the pass its stack's next scheduled pass
	// comes (set once the pass is done, before its commit).
	next time.Duration
}

// Reconcile runs one pass of the stack key ("client/stack") and returns its
// result and when the next scheduled pass is due. ErrNotFound means the
// stack does not exist.
func (r *Reconciler) Reconcile(ctx context.Context, key, trigger string) (res store.ReconciliationResult, next time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.PassTimeout)
	defer cancel()
	clientID, stackID := SplitKey(key)
	var fence *store.Fence
	if r.opts.Ownership != nil {
		f, ok := r.opts.Ownership.Fence(clientID, stackID)
		if !ok && r.opts.Ownership.Claims(clientID, stackID) {
			return store.ReconciliationResult{}, 0, errLeaseLapsing
		}
		if !ok {
			return store.ReconciliationResult{}, 0, ErrNotOwner
		}
		fence = &f
	}
	p := &pass{
		r: r, key: key, trigger: trigger, fence: fence,
		id:      "recon-" + uuid.NewString(),
		started: r.clock.Now(),
	}
	p.log = r.log.With("client_id", clientID, "stack_id", stackID, "reconciliation_id", p.id)
	if r.m != nil {
		r.m.active.Inc()
		defer r.m.active.Dec()
	}

	if err := p.load(ctx, clientID, stackID); err != nil {
		return store.ReconciliationResult{}, 0, err
	}
	next = r.jittered(p.policy.Schedule.Interval.D())
	// From here on every exit persists what happened.
	defer func() {
		p.next = next // the forecast hook's PassAt compares with it
		res, err = p.persist(ctx, err)
		if res.ReconciliationID != "" {
			p.emit(ctx, res, err)
		}
	}()
	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"observe", p.observe},
		{"compare", p.compare},
		{"confirm", p.confirm},
		// decide verifies heals that ran and turns the policy's decisions
		// into heal attempts (durable jobs the heal runner executes after
		// the commit), approval requests and escalations.
		{"decide", p.decide},
	} {
		if err := step.fn(ctx); err != nil {
			return res, next, fmt.Errorf("%s: %w", step.name, err)
		}
	}
	if d := p.staleDeadline(); d > 0 && d < next {
		// Content published and not built yet turns stale at a known
		// time: look again then, not at the next interval.
		next = max(d, r.opts.MinInterval)
	}
	if d := p.confirmDeadline(); d > 0 && d < next {
		// A suspected drift is confirmed or cleared by a later pass: look
		// again when the rule could confirm it, not at the next interval.
		next = max(d, r.opts.MinInterval)
	}
	return res, next, nil
}

// confirmDeadline is how long after the pass's start the first suspected
// (open, unconfirmed) drift could be confirmed (drift.ConfirmableAt); 0
// when there is none.
func (p *pass) confirmDeadline() time.Duration {
	var first time.Duration
	for _, d := range p.tracked.Open {
		at := drift.ConfirmableAt(d, p.rule, p.r.opts.MinInterval)
		if at.IsZero() {
			continue
		}
		if wait := at.Sub(p.started); first == 0 || wait < first {
			first = max(wait, time.Millisecond)
		}
	}
	return first
}

// staleDeadline is how long after the pass's start the first tracked
// content type that changed after the last build, and is not stale yet,
// becomes stale (content_stale); 0 when none will.
func (p *pass) staleDeadline() time.Duration {
	o, maxAge := p.observed, p.policy.Content.MaxStaleness.D()
	if o.LastBuild == nil || maxAge <= 0 {
		return 0
	}
	var first time.Duration
	for _, t := range p.spec.ContentTypes {
		updated, ok := o.ContentUpdated[t]
		if !ok || !updated.After(*o.LastBuild) {
			continue
		}
		if d := updated.Add(maxAge).Sub(p.started) + time.Millisecond; d > 0 && (first == 0 || d < first) {
			first = d
		}
	}
	return first
}

// load reads the stack, its desired document, policy, open drifts and
// event activity.
func (p *pass) load(ctx context.Context, clientID, stackID string) error {
	in, err := p.r.opts.Store.LoadPass(ctx, clientID, stackID, p.started.Add(-p.r.opts.EventWindow))
	if err != nil {
		return fmt.Errorf("load stack %s: %w", p.key, err)
	}
	p.rec, p.open, p.activity, p.forecasts = in.State, in.Drifts, in.Activity, in.Forecasts
	if p.r.opts.Policies != nil {
		pol, err := p.r.opts.Policies.Policy(ctx, clientID, stackID)
		if err != nil {
			return fmt.Errorf("load policy of %s: %w", p.key, err)
		}
		p.policy = pol
	} else {
		p.policy = config.DefaultPolicy()
	}
	if err := json.Unmarshal(p.rec.Desired, &p.spec); err != nil {
		p.errs = append(p.errs, "desired document does not decode: "+err.Error())
		return nil // observe fails below with Stalled; persist records it
	}
	return nil
}

// observe aggregates events in the window and probes the resources.
func (p *pass) observe(ctx context.Context) error {
	if len(p.errs) > 0 {
		return Stalled{errors.New(p.errs[0])}
	}
	p.observed = drift.Observed{DesiredHash: p.rec.DesiredHash, AppliedHash: p.rec.AppliedHash}
	p.observeEvents(p.activity)
	p.checked = p.activity.Mark

	if len(p.spec.Providers) > 0 && p.r.opts.Providers != nil {
		p.observed.Providers = p.r.opts.Providers.ObserveProviders(ctx, p.rec.ClientID, p.rec.StackID, p.spec)
	}
	if len(p.spec.Resources) > 0 && p.r.opts.Prober != nil {
		p.observed.Resources = p.r.opts.Prober.ProbeAll(ctx, p.spec.Resources)
		if p.r.m != nil {
			for _, o := range p.observed.Resources {
				p.r.m.probeDuration.WithLabelValues(string(o.Status)).Observe(o.Latency.Seconds())
			}
		}
	}
	return nil
}

// observeEvents folds event activity into the observation: providers seen,
// content changes per tracked type, builds, and the processing lag (from
// the oldest event no pass has seen).
func (p *pass) observeEvents(rep store.ActivityReport) {
	providers := map[string]*drift.ProviderActivity{}
	tracked := map[string]bool{}
	for _, t := range p.spec.ContentTypes {
		tracked[t] = true
	}
	var lastOK, lastFailed time.Time
	for _, a := range rep.Activity {
		pa := providers[a.ProviderName]
		if pa == nil {
			pa = &drift.ProviderActivity{Name: a.ProviderName}
			providers[a.ProviderName] = pa
		}
		pa.Count += a.Count
		if a.Last.After(pa.Last) {
			pa.Last = a.Last
		}
		switch {
		case strings.HasPrefix(a.EventType, "content.") && tracked[a.ContentType]:
			if p.observed.ContentUpdated == nil {
				p.observed.ContentUpdated = map[string]time.Time{}
			}
			if a.Last.After(p.observed.ContentUpdated[a.ContentType]) {
				p.observed.ContentUpdated[a.ContentType] = a.Last
			}
		case a.EventType == eventBuildSucceeded && a.Last.After(lastOK):
			lastOK = a.Last
		case a.EventType == eventBuildFailed && a.Last.After(lastFailed):
			lastFailed = a.Last
		}
	}
	for _, pa := range providers {
		p.observed.EventProviders = append(p.observed.EventProviders, *pa)
	}
	slices.SortFunc(p.observed.EventProviders, func(a, b drift.ProviderActivity) int { return strings.Compare(a.Name, b.Name) })
	if !lastOK.IsZero() {
		p.observed.LastBuild = &lastOK
	}
	p.observed.LastBuildFailed = lastFailed.After(lastOK)
	if oldest := rep.OldestUnchecked; oldest != nil && p.r.m != nil {
		p.r.m.eventLag.Observe(max(0, p.started.Sub(*oldest).Seconds()))
	}
}

// compare diffs desired against observed. It first folds the observation
// into what is known of the stack (an unknown observation keeps the last
// known one), then compares known facts only.
func (p *pass) compare(ctx context.Context) error {
	p.known = drift.Remember(p.rec.LastKnown, p.spec, p.observed, p.started)
	in := drift.Input{
		ClientID:       p.rec.ClientID,
		StackID:        p.rec.StackID,
		Desired:        p.spec,
		Observed:       p.observed,
		ReceiverPrefix: p.r.opts.ReceiverPrefix,
		MaxStaleness:   p.policy.Content.MaxStaleness.D(),
		Now:            p.started,
		LastKnown:      p.known,
		MaxUnknown:     p.policy.Confirmation.MaxUnknown.D(),
	}
	p.found = drift.Compare(in)
	p.unjudged = drift.Unjudged(in)
	p.compareEnvironments(ctx)
	return nil
}

// confirm tracks drifts across passes: a drift is reported once it
// persisted per the policy's confirmation rule. A stack's first pass
// confirms nothing: a new stack is reconciling, not drifting.
func (p *pass) confirm(context.Context) error {
	c := p.policy.Confirmation
	p.rule = drift.Rule{
		Observations:      c.Observations,
		GracePeriod:       c.GracePeriod.D(),
		CriticalImmediate: c.CriticalImmediate == nil || *c.CriticalImmediate,
		FirstPass:         p.rec.LastKnown.Passes == 0,
	}
	p.tracked = drift.Track(p.open, p.found, p.unjudged, p.started, p.rule)
	return nil
}

// persist commits the pass: state, drifts, result, audit and checked events
// in one transaction. It runs on every exit path after load; stepErr is the
// error that ended the pass early, if any.
func (p *pass) persist(ctx context.Context, stepErr error) (store.ReconciliationResult, error) {
	now := p.r.clock.Now()
	rec := p.rec
	res := store.ReconciliationResult{
		ReconciliationID: p.id,
		ClientID:         rec.ClientID,
		StackID:          rec.StackID,
		Trigger:          p.trigger,
		StartedAt:        p.started,
		CompletedAt:      now,
		StateVersion:     rec.StateVersion,
	}
	pass := store.Pass{Result: res}
	rec.LastVerified = &now
	if p.r.opts.Policies != nil {
		// The policy this pass ran under: a policy written on its own
		// (PUT, a client-wide one) changes no stack until here.
		rec.ReconciliationPolicy = state.PolicySummary(p.policy)
		rec.Observability.AlertChannels = state.ChannelNames(p.policy)
	}
	if stepErr != nil {
		// Keep the drifts as they were: a failed observation proves nothing.
		res.Status = store.ResultFailed
		res.Errors = append(slices.Clone(p.errs), stepErr.Error())
		if len(p.errs) > 0 && errors.As(stepErr, new(Stalled)) {
			res.Errors = res.Errors[:len(p.errs)]
		}
		rec.Status = store.StatusError
		rec.LastError = strings.Join(res.Errors, "; ")
		pass.Drifts = p.open
	} else {
		confirmed := drift.Confirmed(p.tracked.Open)
		res.Status = store.ResultSuccess
		res.DriftDetected = len(confirmed) > 0
		res.DriftCount = len(confirmed)
		rec.LastError = ""
		rec.DriftDetails = confirmed
		rec.LastKnown = p.known
		rec.LastKnown.Passes++
		if len(p.tracked.Open) == 0 && len(p.unjudged) == 0 && rec.AppliedHash != rec.DesiredHash {
			// The observed stack matches the new desired state, all of it
			// seen: it is applied.
			rec.AppliedHash = rec.DesiredHash
			rec.LastApplied = &now
		}
		switch {
		case len(confirmed) > 0:
			rec.Status = store.StatusDriftDetected
		case rec.AppliedHash == "" || len(p.known.Unseen()) > 0:
			// A stack never seen in its desired state, or something it
			// declares never observed: its state is not established
			// yet. It is reconciling, not drifting (and not healthy).
			rec.Status = store.StatusReconciling
		default:
			rec.Status = store.StatusHealthy
		}
		pass.Drifts = p.tracked.Open
		pass.CheckedThrough = p.checked
		pass.Audit = append(p.auditEntries(now), p.heal.audit...)
		pass.Heals, pass.HealUpdates, pass.Approvals = p.heal.heals, p.heal.updates, p.heal.approvals
		pass.RetiredApprovals = p.heal.retired
		res.AutoHealAttempted = slices.ContainsFunc(p.heal.heals, func(a store.HealAttempt) bool { return a.Status == store.HealPending })
		res.AutoHealSuccessCount = p.heal.success
		p.verdicts = p.heal.verdictEvents()
		for _, ev := range p.verdicts {
			pass.Stream = append(pass.Stream, ev.Event().Record())
		}
	}
	if rec.DriftDetails == nil {
		rec.DriftDetails = []drift.Drift{}
	}
	pass.State = rec
	pass.Result = res
	pass.Fence = p.fence
	// The result is the pass's last event on the stream (after its heal
	// verdicts), written with it.
	pass.Stream = append(pass.Stream, bus.NewReconciliationEvent(res).Record())
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.r.opts.CommitTimeout)
	defer cancel()
	if _, err := p.r.opts.Store.CommitPass(cctx, pass); err != nil {
		if errors.Is(err, store.ErrFenced) {
			// The shard moved to another replica during the pass: nothing
			// was written, and the pass did not happen here.
			p.log.Info("pass dropped: the stack's shard lease moved", "error", err)
			return store.ReconciliationResult{}, fmt.Errorf("persist pass: %w", err)
		}
		res.Status = store.ResultFailed
		res.Errors = append(res.Errors, "persist: "+err.Error())
		p.r.setStatus(p.key, store.StatusError)
		return res, errors.Join(stepErr, fmt.Errorf("persist pass: %w", err))
	}
	p.r.setStatus(p.key, rec.Status)
	p.committed = rec
	if stepErr != nil && errors.As(stepErr, new(Stalled)) {
		// Recorded; a person must act. Not an error for the queue: the
		// stack keeps its schedule instead of retrying hot.
		return res, nil
	}
	return res, stepErr
}

// auditEntries are the audit records of drift reported and cleared.
func (p *pass) auditEntries(now time.Time) []store.AuditEntry {
	var out []store.AuditEntry
	for _, d := range p.tracked.NewlyConfirmed {
		changes, _ := json.Marshal(map[string]any{
			"code": d.Code, "component": d.Component, "severity": d.Severity,
			"expected": d.Expected, "observed": d.Observed, "decision": p.decisions[d.ID],
			"observations": d.Observations, "first_seen": d.FirstSeen, "authoritative": d.Authoritative,
		})
		out = append(out, store.AuditEntry{
			Timestamp: now, Action: "drift_detected", ClientID: d.ClientID, StackID: d.StackID,
			TriggeredBy: "reconciler:" + p.trigger, Success: true, ChangesMade: changes,
			ReconciliationID: p.id, DriftID: d.ID,
		})
	}
	for _, d := range p.tracked.Resolved {
		if !d.Confirmed {
			continue
		}
		changes, _ := json.Marshal(map[string]any{"code": d.Code, "component": d.Component, "first_seen": d.FirstSeen})
		out = append(out, store.AuditEntry{
			Timestamp: now, Action: "drift_resolved", ClientID: d.ClientID, StackID: d.StackID,
			TriggeredBy: "reconciler:" + p.trigger, Success: true, ChangesMade: changes,
			ReconciliationID: p.id, DriftID: d.ID,
		})
	}
	return out
}

// emit records metrics and logs of the committed pass.
func (p *pass) emit(ctx context.Context, res store.ReconciliationResult, err error) {
	if m := p.r.m; m != nil {
		m.passDuration.WithLabelValues(p.trigger, string(res.Status)).Observe(res.CompletedAt.Sub(res.StartedAt).Seconds())
		if res.Status == store.ResultFailed {
			m.passFailure.WithLabelValues(p.trigger).Inc()
		} else {
			m.passSuccess.WithLabelValues(p.trigger).Inc()
		}
	}
	if err != nil || res.Status == store.ResultFailed {
		if !errors.Is(err, context.Canceled) {
			p.log.Warn("reconcile pass failed", "trigger", p.trigger, "errors", res.Errors)
		}
		return
	}
	p.emitHeals(ctx, p.verdicts)
	p.forecast(ctx, res) // forecast_hook.go
	p.snapshot(ctx, res) // snapshot_hook.go
	for _, d := range p.tracked.NewlyConfirmed {
		if p.r.m != nil {
			p.r.m.driftDetected.WithLabelValues(string(d.Type), string(d.Code), string(d.Severity)).Inc()
		}
		p.log.Info("drift detected", "drift_id", d.ID, "code", d.Code, "component", d.Component,
			"severity", d.Severity, "decision", p.decisions[d.ID])
	}
	for _, d := range p.tracked.Resolved {
		if !d.Confirmed {
			continue
		}
		if p.r.m != nil {
			p.r.m.driftResolved.WithLabelValues(string(d.Type), string(d.Code)).Inc()
		}
		p.log.Info("drift resolved", "drift_id", d.ID, "code", d.Code, "component", d.Component)
	}
	p.log.Debug("reconcile pass", "trigger", p.trigger, "status", res.Status, "drift_count", res.DriftCount,
		"duration", res.CompletedAt.Sub(res.StartedAt))
}
