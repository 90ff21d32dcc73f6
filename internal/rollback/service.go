package rollback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/heal"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// The steps of a rollback, in the order they run.
const (
	StepDesiredState  = "desired_state"
	StepCMSAlias      = "cms_alias"
	StepSubscriptions = "subscriptions"
	StepBuild         = "build"
	StepVerify        = "verify"
)

// Steps are the steps of a rollback in order: the desired state, then the
// providers in dependency order (content, its subscriptions, the build
// that serves them), then the verification.
var Steps = []string{StepDesiredState, StepCMSAlias, StepSubscriptions, StepBuild, StepVerify}

// ErrRunning: a rollback of the stack is running already.
var ErrRunning = errors.New("a rollback of the stack is running")

// Options configure a Service.
type Options struct {
	Store    store.Store
	State    *state.Service
	Registry *provider.Registry
	// Heal makes the subscriptions match the restored desired state.
	Heal *heal.Actions
	// Pins restores the recorded build.
	Pins *Pins
	// Capturer reads what runs (for the completeness of a rollback).
	Capturer *Capturer
	// Verify runs a reconcile pass of the stack and returns when it is
	// committed; the rollback is verified when the stack is healthy after
	// it. Nil: the verify step only reads the stack's status.
	Verify func(ctx context.Context, clientID, stackID string) error
	// VerifyAttempts passes are run at most, VerifyInterval apart
	// (defaults 3 and 2s), until the stack is healthy.
	VerifyAttempts int
	VerifyInterval time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
	// Owns reports whether this process runs the rollbacks of a stack:
	// with several replicas, the one that holds the stack's shard lease
	// (reconcile.Membership.Owns), so that exactly one replica runs a
	// rollback's steps. Nil: every stack (one process).
	Owns func(clientID, stackID string) bool
	// Handoff asks the replica that owns a stack to run the rollback
	// recorded for it (a forwarded trigger, TriggerHandoff, answered with
	// Kick). Nil, or a notification lost: the owner finds it at its next
	// minute's look (RunLoop).
	Handoff func(clientID, stackID string)
}

// TriggerHandoff is the trigger a replica forwards to hand a rollback to
// the replica that owns its stack (Options.Handoff).
const TriggerHandoff = "rollback_handoff"

// handoffPoll is how often Start, on a replica that handed its rollback
// over, reads the record the owner writes.
const handoffPoll = 200 * time.Millisecond

// Service rolls stacks back across providers. It is safe for concurrent
// use; rollbacks of one stack do not overlap.
type Service struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]bool // client/stack
	kick    chan struct{}
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.VerifyAttempts <= 0 {
		opts.VerifyAttempts = 3
	}
	if opts.VerifyInterval <= 0 {
		opts.VerifyInterval = 2 * time.Second
	}
	return &Service{opts: opts, log: opts.Logger, running: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// Request asks for a rollback.
type Request struct {
	ClientID, StackID string
	// Target is a version (v1.2.0: its newest snapshot) or a snapshot id
	// (snap-...).
	Target string
	// Hold pins the stack for this long (0: no pin).
	Hold time.Duration
	By   string
}

// Plan is what a target resolves to.
type Plan struct {
	Version string
	// Snapshot is nil for a version of which no snapshot is kept: only
	// the desired state can be restored.
	Snapshot *store.Snapshot
}

// Resolve checks a request and finds its snapshot, changing nothing.
// Errors: store.ErrNotFound (no such stack, version or snapshot: pruned
// or never taken), state.ErrInvalid (a snapshot of another stack, a hold
// the policy forbids or too long), state.ErrPinned (pinned, and no new
// hold), ErrRunning.
func (s *Service) Resolve(ctx context.Context, req Request) (Plan, error) {
	key := req.ClientID + "/" + req.StackID
	cur, err := s.opts.Store.GetState(ctx, req.ClientID, req.StackID)
	if err != nil {
		return Plan{}, fmt.Errorf("stack %s %w", key, err)
	}
	var plan Plan
	if strings.HasPrefix(req.Target, "snap-") {
		snap, err := s.opts.Store.GetSnapshot(ctx, req.Target)
		if errors.Is(err, store.ErrNotFound) {
			return Plan{}, fmt.Errorf("snapshot %s of stack %s %w (pruned, or never taken: blackwell snapshots %s lists those kept)", req.Target, key, store.ErrNotFound, key)
		}
		if err != nil {
			return Plan{}, err
		}
		if snap.ClientID != req.ClientID || snap.StackID != req.StackID {
			return Plan{}, fmt.Errorf("%w: %s is not a snapshot of %s (blackwell snapshots %s lists its own)", state.ErrInvalid, req.Target, key, key)
		}
		plan = Plan{Version: snap.Version, Snapshot: &snap}
	} else if !state.ValidVersion(req.Target) {
		return Plan{}, fmt.Errorf("%w: rollback target %q is neither a version like v1.2.0 nor a snapshot id (snap-...)", state.ErrInvalid, req.Target)
	} else {
		plan.Version = req.Target
		if plan.Snapshot, err = s.newestOf(ctx, req.ClientID, req.StackID, req.Target); err != nil {
			return Plan{}, err
		}
	}
	if _, err := s.opts.Store.GetDesiredVersion(ctx, req.ClientID, req.StackID, plan.Version); err != nil {
		return Plan{}, fmt.Errorf("version %s of stack %s %w", plan.Version, key, err)
	}
	if err := s.checkHold(ctx, cur, req); err != nil {
		return Plan{}, err
	}
	if runs, err := s.opts.Store.ListRollbacks(ctx, req.ClientID, req.StackID, true); err != nil {
		return Plan{}, err
	} else if len(runs) > 0 {
		return Plan{}, fmt.Errorf("%w: %s (%s, started %s)", ErrRunning, key, runs[0].ID, runs[0].StartedAt.Format(time.RFC3339))
	}
	return plan, nil
}

// newestOf is the newest snapshot of a version, nil when none is kept.
func (s *Service) newestOf(ctx context.Context, clientID, stackID, version string) (*store.Snapshot, error) {
	snaps, err := s.opts.Store.ListSnapshots(ctx, clientID, stackID)
	if err != nil {
		return nil, err
	}
	for _, sn := range snaps {
		if sn.Version == version {
			return &sn, nil
		}
	}
	return nil, nil
}

// checkHold refuses what state.Rollback would refuse, before anything is
// written.
func (s *Service) checkHold(ctx context.Context, cur store.StateRecord, req Request) error {
	if req.Hold < 0 || req.Hold > state.MaxHold {
		return fmt.Errorf("%w: a hold lasts at most 7 days, not %s", state.ErrInvalid, req.Hold)
	}
	if req.Hold > 0 {
		pol, err := s.opts.State.Policy(ctx, req.ClientID, req.StackID)
		if err != nil {
			return err
		}
		if pol.Rollback.ForbidHold {
			return fmt.Errorf("%w: the policy of %s/%s forbids pinning it (rollback.forbid_hold): roll back without --hold", state.ErrInvalid, req.ClientID, req.StackID)
		}
	}
	if h := cur.Hold; req.Hold == 0 && h.Active(s.opts.Now()) {
		return fmt.Errorf("%w: stack %s/%s is pinned at %s until %s by a rollback hold: roll back with a hold of its own, or end it first (blackwell unpin %s/%s)",
			state.ErrPinned, req.ClientID, req.StackID, h.Version, h.Until.UTC().Format(time.RFC3339), req.ClientID, req.StackID)
	}
	return nil
}

// Start resolves the request and, with a snapshot, runs the rollback
// across providers to its end (verified or failed) and returns its
// record. Without a snapshot it returns a nil record: the caller restores
// the desired state alone (state.Service.Rollback). A rollback whose
// context ends mid-way is left running, to be resumed (Resume). On a
// replica that does not own the stack (Options.Owns), the rollback is
// recorded and handed to the owner, and Start waits for the owner to end
// it, reading the record.
func (s *Service) Start(ctx context.Context, req Request) (*store.RollbackRecord, error) {
	plan, err := s.Resolve(ctx, req)
	if err != nil || plan.Snapshot == nil {
		return nil, err
	}
	now := s.opts.Now()
	rec := &store.RollbackRecord{
		ID: "rb-" + uuid.NewString(), ClientID: req.ClientID, StackID: req.StackID,
		SnapshotID: plan.Snapshot.ID, RestoredVersion: plan.Version, By: req.By,
		Status: store.RollbackRunning, StartedAt: now, UpdatedAt: now,
	}
	if req.Hold > 0 {
		rec.Hold = req.Hold.String()
	}
	for _, st := range Steps {
		rec.Steps = append(rec.Steps, store.RollbackStep{Component: st, Outcome: OutcomePending})
	}
	if !s.owns(rec.ClientID, rec.StackID) {
		if err := s.opts.Store.PutRollback(ctx, *rec); err != nil {
			return nil, fmt.Errorf("record rollback: %w", err)
		}
		return s.handOver(ctx, rec)
	}
	if !s.claim(rec) {
		return nil, fmt.Errorf("%w: %s/%s", ErrRunning, req.ClientID, req.StackID)
	}
	defer s.release(rec)
	if err := s.opts.Store.PutRollback(ctx, *rec); err != nil {
		return nil, fmt.Errorf("record rollback: %w", err)
	}
	return rec, s.run(ctx, rec, *plan.Snapshot)
}

// owns reports whether this process runs the rollbacks of the stack
// (Options.Owns).
func (s *Service) owns(clientID, stackID string) bool {
	return s.opts.Owns == nil || s.opts.Owns(clientID, stackID)
}

// handOver asks the owner of a recorded rollback's stack to run it, and
// waits until the record is no longer running or ctx ends (the record as
// last read then: still running, it goes on on the owner). A failed
// rollback returns its error, as Start's own run does.
func (s *Service) handOver(ctx context.Context, rec *store.RollbackRecord) (*store.RollbackRecord, error) {
	if s.opts.Handoff != nil {
		s.opts.Handoff(rec.ClientID, rec.StackID)
	}
	t := time.NewTicker(handoffPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return rec, ctx.Err()
		case <-t.C:
		}
		runs, err := s.opts.Store.ListRollbacks(ctx, rec.ClientID, rec.StackID, false)
		if err != nil {
			continue // the store's hiccup: read again
		}
		for _, r := range runs {
			if r.ID != rec.ID {
				continue
			}
			*rec = r
			if r.Status == store.RollbackFailed {
				return rec, errors.New(r.Error)
			}
			if r.Status != store.RollbackRunning {
				return rec, nil
			}
		}
	}
}

// Kick makes RunLoop resume the rollbacks left running now: this replica
// gained shards, or another replica handed one over. It never blocks.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// RunLoop resumes the rollbacks left running now (those a stopped process
// left), when kicked (Kick) and every interval after, until ctx ends.
func (s *Service) RunLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.Resume(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("resume rollbacks", "error", err)
		} else if n > 0 {
			s.log.Info("resumed rollbacks", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Service) claim(rec *store.RollbackRecord) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := rec.ClientID + "/" + rec.StackID
	if s.running[key] {
		return false
	}
	s.running[key] = true
	return true
}

func (s *Service) release(rec *store.RollbackRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, rec.ClientID+"/"+rec.StackID)
}

// Resume runs every rollback left running (by a crash or a shutdown, or
// handed over by another replica) of the stacks this process owns
// (Options.Owns) to its end, oldest first, and returns how many it
// resumed.
func (s *Service) Resume(ctx context.Context) (int, error) {
	runs, err := s.opts.Store.ListRollbacks(ctx, "", "", true)
	if err != nil {
		return 0, fmt.Errorf("list running rollbacks: %w", err)
	}
	n := 0
	for i := len(runs) - 1; i >= 0; i-- {
		rec := runs[i]
		if !s.owns(rec.ClientID, rec.StackID) || !s.claim(&rec) {
			continue
		}
		s.log.InfoContext(ctx, "resuming rollback", "client_id", rec.ClientID, "stack_id", rec.StackID, "rollback_id", rec.ID)
		err := s.resumeOne(ctx, &rec)
		s.release(&rec)
		n++
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if err != nil {
			s.log.WarnContext(ctx, "resumed rollback failed", "client_id", rec.ClientID, "stack_id", rec.StackID, "rollback_id", rec.ID, "error", err)
		}
	}
	return n, nil
}

func (s *Service) resumeOne(ctx context.Context, rec *store.RollbackRecord) error {
	snap, err := s.opts.Store.GetSnapshot(ctx, rec.SnapshotID)
	if err != nil {
		return s.finish(ctx, rec, fmt.Errorf("read snapshot %s: %w", rec.SnapshotID, err))
	}
	return s.run(ctx, rec, snap)
}

// run runs the pending steps in order, recording each outcome before the
// next step; the first failure ends the rollback as failed.
func (s *Service) run(ctx context.Context, rec *store.RollbackRecord, snap store.Snapshot) error {
	for i := range rec.Steps {
		st := &rec.Steps[i]
		if st.Outcome != OutcomePending {
			continue
		}
		if !s.owns(rec.ClientID, rec.StackID) {
			// The stack's new owner resumes it from this step.
			s.log.InfoContext(ctx, "rollback left to the replica that owns its stack now", "client_id", rec.ClientID, "stack_id", rec.StackID, "rollback_id", rec.ID, "step", st.Component)
			return nil
		}
		outcome, detail, err := s.step(ctx, rec, snap, st.Component)
		if ctx.Err() != nil {
			// Interrupted: left running, resumed later from this step.
			return ctx.Err()
		}
		if errors.Is(err, errNothing) {
			outcome, err = OutcomeSkipped, nil
		}
		at := s.opts.Now()
		st.Outcome, st.Detail, st.At = outcome, detail, &at
		if err != nil {
			st.Outcome, st.Detail = OutcomeFailed, err.Error()
			return s.finish(ctx, rec, fmt.Errorf("%s: %w", st.Component, err))
		}
		rec.UpdatedAt = at
		if err := s.opts.Store.PutRollback(ctx, *rec); err != nil {
			return fmt.Errorf("record rollback progress: %w", err)
		}
	}
	return s.finish(ctx, rec, nil)
}

// finish records the end of a rollback and audits it with the outcome of
// every component.
func (s *Service) finish(ctx context.Context, rec *store.RollbackRecord, runErr error) error {
	ctx = context.WithoutCancel(ctx)
	rec.Status, rec.UpdatedAt = store.RollbackVerified, s.opts.Now()
	if runErr != nil {
		rec.Status, rec.Error = store.RollbackFailed, runErr.Error()
	}
	if err := s.opts.Store.PutRollback(ctx, *rec); err != nil {
		return errors.Join(runErr, fmt.Errorf("record rollback: %w", err))
	}
	changes, _ := json.Marshal(map[string]any{
		"rollback_id": rec.ID, "snapshot": rec.SnapshotID, "restored_version": rec.RestoredVersion,
		"new_version": rec.NewVersion, "status": rec.Status, "hold": rec.Hold, "components": rec.Steps,
	})
	entry := store.AuditEntry{Timestamp: rec.UpdatedAt, Action: "rollback_providers", ClientID: rec.ClientID,
		StackID: rec.StackID, TriggeredBy: rec.By, Success: runErr == nil, ChangesMade: changes}
	if err := s.opts.Store.AppendAudit(ctx, []store.AuditEntry{entry}); err != nil {
		return errors.Join(runErr, fmt.Errorf("audit rollback: %w", err))
	}
	return runErr
}

// step runs one step and says how it went.
func (s *Service) step(ctx context.Context, rec *store.RollbackRecord, snap store.Snapshot, name string) (string, string, error) {
	switch name {
	case StepDesiredState:
		return s.restoreDesired(ctx, rec, snap)
	case StepVerify:
		return s.verify(ctx, rec, snap)
	}
	cur, err := s.opts.Store.GetState(ctx, rec.ClientID, rec.StackID)
	if err != nil {
		return OutcomeFailed, "", err
	}
	var spec config.StackSpec
	if err := json.Unmarshal(cur.Desired, &spec); err != nil {
		return OutcomeFailed, "", fmt.Errorf("decode the desired state: %w", err)
	}
	bindings, err := s.opts.Registry.Bindings(rec.ClientID, rec.StackID, spec)
	if err != nil {
		return OutcomeFailed, "", fmt.Errorf("%w: %v", provider.ErrConfig, err)
	}
	ctx = provider.ForHeal(ctx)
	switch name {
	case StepCMSAlias:
		return s.restoreAlias(ctx, bindings, snap.Components.CMSAlias)
	case StepSubscriptions:
		if len(spec.Integrations) == 0 {
			return OutcomeSkipped, "", errNothing
		}
		detail, err := s.opts.Heal.Execute(ctx, store.HealAttempt{ClientID: rec.ClientID, StackID: rec.StackID,
			Action: heal.ActionApplyDesiredState}, spec)
		if err != nil {
			return OutcomeFailed, detail, err
		}
		return OutcomeRestored, detail, nil
	case StepBuild:
		b, ok := bindings[config.RoleSSG]
		if snap.Components.Build == nil || !ok {
			return OutcomeSkipped, "", errNothing
		}
		return s.opts.Pins.RestoreBuild(ctx, b, *snap.Components.Build, false)
	}
	return OutcomeFailed, "", fmt.Errorf("unknown step %q", name)
}

func (s *Service) restoreDesired(ctx context.Context, rec *store.RollbackRecord, snap store.Snapshot) (string, string, error) {
	var hold time.Duration
	if rec.Hold != "" {
		d, err := time.ParseDuration(rec.Hold)
		if err != nil {
			return OutcomeFailed, "", fmt.Errorf("hold %q: %w", rec.Hold, err)
		}
		// A resumed rollback pins for what is left of the hold asked for.
		hold = max(time.Second, d-s.opts.Now().Sub(rec.StartedAt))
	}
	res, err := s.opts.State.Rollback(ctx, state.RollbackRequest{ClientID: rec.ClientID, StackID: rec.StackID,
		Version: snap.Version, By: rec.By, Hold: hold, Snapshot: snap.ID})
	if err != nil {
		return OutcomeFailed, "", err
	}
	rec.NewVersion = res.Version
	if !res.Changed {
		return OutcomeUnchanged, "the desired state of " + snap.Version + " is in force (" + res.Version + ")", nil
	}
	return OutcomeRestored, "the desired state of " + snap.Version + " is " + res.Version, nil
}

func (s *Service) restoreAlias(ctx context.Context, bindings map[string]provider.Binding, want *store.AliasSnapshot) (string, string, error) {
	if want == nil {
		return OutcomeSkipped, "", errNothing
	}
	b, ok := bindings[want.Role]
	if !ok || b.Name != want.Provider {
		return OutcomeFailed, "", fmt.Errorf("the %s binding of the snapshot (%s) is not declared now", want.Role, want.Provider)
	}
	al, ok := s.opts.Capturer.aliaser(b)
	if !ok {
		return OutcomeFailed, "", fmt.Errorf("the %s binding names no settings.%s now", want.Role, "environment_alias")
	}
	_, env, err := al.AliasTarget(ctx, b)
	if err != nil {
		return OutcomeFailed, "", err
	}
	if env == want.Environment {
		return OutcomeUnchanged, want.Alias + " targets " + env, nil
	}
	if err := al.SetAliasTarget(ctx, b, want.Environment); err != nil {
		return OutcomeFailed, "", err
	}
	return OutcomeRestored, fmt.Sprintf("%s targets %s again (was %s)", want.Alias, want.Environment, env), nil
}

// verify runs passes until the stack is healthy (at most
// VerifyAttempts), then compares what runs with the snapshot.
func (s *Service) verify(ctx context.Context, rec *store.RollbackRecord, snap store.Snapshot) (string, string, error) {
	var status store.Status
	for attempt := 1; ; attempt++ {
		if s.opts.Verify != nil {
			if err := s.opts.Verify(ctx, rec.ClientID, rec.StackID); err != nil {
				return OutcomeFailed, "", fmt.Errorf("verification pass: %w", err)
			}
		}
		cur, err := s.opts.Store.GetState(ctx, rec.ClientID, rec.StackID)
		if err != nil {
			return OutcomeFailed, "", err
		}
		status = cur.Status
		if status == store.StatusHealthy || attempt >= s.opts.VerifyAttempts {
			break
		}
		t := time.NewTimer(s.opts.VerifyInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return OutcomeFailed, "", ctx.Err()
		case <-t.C:
		}
	}
	if status != store.StatusHealthy {
		return OutcomeFailed, "", fmt.Errorf("the stack is %s after %d verification passes", status, s.opts.VerifyAttempts)
	}
	detail := "the stack is healthy"
	if got, ok := s.latestSince(ctx, rec); ok {
		ms := Compare(snap.Components, got.Components)
		detail += fmt.Sprintf("; %d of %d components match the snapshot", Matched(ms), len(ms))
		for _, m := range ms {
			if !m.Match {
				detail += fmt.Sprintf("; %s is %q, not %q", m.Component, m.Got, m.Want)
			}
		}
	}
	return OutcomeRestored, detail, nil
}

// latestSince is the stack's newest snapshot taken or confirmed since the
// rollback started (the verification pass records one).
func (s *Service) latestSince(ctx context.Context, rec *store.RollbackRecord) (store.Snapshot, bool) {
	snaps, err := s.opts.Store.ListSnapshots(ctx, rec.ClientID, rec.StackID)
	if err != nil {
		return store.Snapshot{}, false
	}
	var best store.Snapshot
	found := false
	for _, sn := range snaps {
		if !sn.ConfirmedAt.Before(store.Truncate(rec.StartedAt)) && (!found || sn.ConfirmedAt.After(best.ConfirmedAt)) {
			best, found = sn, true
		}
	}
	return best, found
}
