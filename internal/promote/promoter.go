package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Errors of a promotion request; nothing is written when one is returned.
var (
	// ErrInvalid: the request is not a promotion the pipeline allows (the
	// same environment, backwards, skipping a stage).
	ErrInvalid = errors.New("invalid promotion")
	// ErrUpToDate: the target already has the source's release.
	ErrUpToDate = errors.New("nothing to promote")
	// ErrUnhealthy: the source's release is not verified healthy.
	ErrUnhealthy = errors.New("source not healthy")
)

// TriggerPromotion is the pass trigger of a promotion's verification.
const TriggerPromotion = "promotion"

// TriggerHandoff is the trigger a replica forwards to hand the promotions
// into a stack to the replica that owns it (Options.Handoff); the owner
// answers it with Kick.
const TriggerHandoff = "promotion_handoff"

// ApprovalClass is the approval class of a promotion's approval request.
const ApprovalClass = store.ApprovalClassPromotion

// Applier makes a composition a stack's desired state (state.Service).
type Applier interface {
	ApplySpec(ctx context.Context, req state.SpecRequest) (store.ApplyResult, error)
}

// Passes runs a pass of a stack and waits for its result (the reconciler's
// ReconcileWait: a pass that started after the call).
type Passes interface {
	ReconcileWait(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error)
}

// Options configure a Promoter.
type Options struct {
	Store  store.Store
	State  Applier
	Passes Passes
	Logger *slog.Logger
	Now    func() time.Time
	// VerifyTimeout bounds verification: passes of the new revision until
	// one is clean (default 5m). VerifyInterval is the pause between them
	// (default 5s).
	VerifyTimeout  time.Duration
	VerifyInterval time.Duration
	// ApprovalTTL is how long an approval request of a promotion stays
	// pending (default 24h).
	ApprovalTTL time.Duration
	// Apps caches applications for auto-promotion; the reconcile loop's
	// (Options.Environments) shares its reads. Nil: one of its own.
	Apps *Environments
	// Owns reports whether this process carries out the promotions into a
	// stack: with several replicas, the one that holds the stack's shard
	// lease (reconcile.Membership.Owns), so that exactly one replica runs
	// a promotion's steps and verification passes. Nil: every stack (one
	// process).
	Owns func(clientID, stackID string) bool
	// Handoff asks the replica that owns a stack to carry on the
	// promotions into it (a forwarded trigger, TriggerHandoff, that makes
	// the owner Kick its promoter). Nil, or a notification lost: the owner
	// finds them at its next minute's look (RunLoop).
	Handoff func(clientID, stackID string)
}

// Promoter plans, starts and carries out promotions.
type Promoter struct {
	opts Options
	log  *slog.Logger
	// running are the promotions this process is carrying out, by id.
	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
	// base is the context promotions are carried out under (RunLoop's).
	base context.Context
	// passes are committed passes for auto-promotion (AfterPass), read by
	// RunLoop; apps caches applications for it.
	passes chan store.ReconciliationResult
	apps   *Environments
	// kick asks RunLoop to resume unfinished promotions now (Kick).
	kick chan struct{}
}

// New returns a Promoter.
func New(opts Options) *Promoter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.VerifyTimeout <= 0 {
		opts.VerifyTimeout = 5 * time.Minute
	}
	if opts.VerifyInterval <= 0 {
		opts.VerifyInterval = 5 * time.Second
	}
	if opts.ApprovalTTL <= 0 {
		opts.ApprovalTTL = 24 * time.Hour
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Promoter{opts: opts, log: log, running: map[string]bool{}, base: context.Background(),
		passes: make(chan store.ReconciliationResult, 1024), apps: opts.Apps, kick: make(chan struct{}, 1)}
	if p.apps == nil {
		p.apps = &Environments{Store: opts.Store, Now: opts.Now}
	}
	return p
}

// Request asks for a promotion of an application's release from one
// environment to another.
type Request struct {
	ClientID, App, From, To string
	By                      string
}

// Plan is what a promotion would do.
type Plan struct {
	ClientID      string          `json:"client_id"`
	App           string          `json:"app"`
	From          string          `json:"from"`
	To            string          `json:"to"`
	FromStack     string          `json:"from_stack"`
	ToStack       string          `json:"to_stack"`
	FromVersion   string          `json:"from_version"`
	ToVersion     string          `json:"to_version"`
	Changes       []config.Change `json:"changes"`
	NeedsApproval bool            `json:"needs_approval"`

	spec config.StackSpec
}

// Plan checks a request against the application and its pipeline and
// computes the target's new desired state. Errors: ErrUnknown (no such
// application or environment), ErrInvalid (not the next stage),
// state.ErrPinned (the target is held by a rollback), *SoakError or
// ErrUnhealthy (the source's release is not ready), ErrUpToDate.
func (p *Promoter) Plan(ctx context.Context, req Request) (Plan, error) {
	app, err := LoadApp(ctx, p.opts.Store, req.ClientID, req.App)
	if err != nil {
		return Plan{}, err
	}
	src, dst, stage, err := stagesOf(app, req.From, req.To)
	if err != nil {
		return Plan{}, err
	}
	now := p.opts.Now()
	if h := dst.Hold; h.Active(now) {
		return Plan{}, fmt.Errorf("%w: %s/%s (%s) is pinned at %s until %s by a rollback hold; blackwell unpin %s/%s ends it",
			state.ErrPinned, req.ClientID, dst.StackID, req.To, h.Version, h.Until.UTC().Format(time.RFC3339), req.ClientID, dst.StackID)
	}
	v, err := p.opts.Store.GetDesiredVersion(ctx, req.ClientID, src.StackID, src.StateVersion)
	if err != nil {
		return Plan{}, fmt.Errorf("read %s of %s/%s: %w", src.StateVersion, req.ClientID, src.StackID, err)
	}
	if src.Status != store.StatusHealthy || src.LastVerified == nil || src.LastVerified.Before(v.CreatedAt) {
		return Plan{}, fmt.Errorf("%w: %s/%s (%s) is %s at %s; a promotion needs its last pass of that version verified healthy",
			ErrUnhealthy, req.ClientID, src.StackID, req.From, src.Status, src.StateVersion)
	}
	srcStage, _ := app.Pipeline.StageOf(req.From)
	if err := CheckSoak(srcStage, v.CreatedAt, true, now); err != nil {
		return Plan{}, err
	}
	spec, changes, err := Release(src.Desired, dst.Desired)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(changes) == 0 {
		return Plan{}, fmt.Errorf("%w: %s/%s (%s) already has the release of %s (%s)", ErrUpToDate, req.ClientID, dst.StackID, req.To, req.From, src.StateVersion)
	}
	return Plan{
		ClientID: req.ClientID, App: req.App, From: req.From, To: req.To, FromStack: src.StackID, ToStack: dst.StackID,
		FromVersion: src.StateVersion, ToVersion: dst.StateVersion, Changes: changes, NeedsApproval: stage.NeedsApproval(), spec: spec,
	}, nil
}

// stagesOf finds the source and target stacks and the target's stage:
// the target must be the next environment of the pipeline that has a
// stack after the source.
func stagesOf(app App, from, to string) (src, dst store.StateRecord, stage config.Stage, err error) {
	envs := app.Environments()
	for _, env := range []string{from, to} {
		if _, ok := app.Stacks[env]; !ok {
			return src, dst, stage, fmt.Errorf("%w: application %s/%s has no environment %q (it has %v)", ErrUnknown, app.ClientID, app.Name, env, envs)
		}
	}
	order := app.Order()
	i, j := slices.Index(order, from), slices.Index(order, to)
	switch {
	case i < 0 || j < 0:
		return src, dst, stage, fmt.Errorf("%w: the pipeline of %s/%s (%v) does not list %q", ErrInvalid, app.ClientID, app.Name, order, map[bool]string{true: from, false: to}[i < 0])
	case j <= i:
		return src, dst, stage, fmt.Errorf("%w: %s comes after %s in the pipeline of %s/%s (%v): promotions go forward", ErrInvalid, from, to, app.ClientID, app.Name, order)
	}
	// envs lists to after from (both have stacks, and to comes later).
	if next := envs[slices.Index(envs, from)+1]; next != to {
		return src, dst, stage, fmt.Errorf("%w: the stage after %s in %s/%s is %s, not %s: promote through each stage", ErrInvalid, from, app.ClientID, app.Name, next, to)
	}
	stage, _ = app.Pipeline.StageOf(to)
	return app.Stacks[from], app.Stacks[to], stage, nil
}

// Start plans a promotion and records it: awaiting approval when the
// target's stage needs one (the request is written with it), else applying,
// carried out in the background (Wait waits for it). The promotion is
// returned as recorded.
func (p *Promoter) Start(ctx context.Context, req Request) (store.Promotion, Plan, error) {
	plan, err := p.Plan(ctx, req)
	if err != nil {
		return store.Promotion{}, Plan{}, err
	}
	now := p.opts.Now()
	diff, _ := json.Marshal(map[string]any{"changes": plan.Changes})
	rec := store.Promotion{
		ID: "prom-" + uuid.NewString(), ClientID: req.ClientID, App: req.App, From: req.From, To: req.To,
		FromStack: plan.FromStack, ToStack: plan.ToStack, FromVersion: plan.FromVersion, PreviousVersion: plan.ToVersion,
		Status: store.PromotionApplying, Plan: diff, RequestedBy: req.By, CreatedAt: now, UpdatedAt: now,
	}
	var approval *store.Approval
	if plan.NeedsApproval {
		rec.Status, rec.ApprovalID = store.PromotionAwaitingApproval, "appr-"+uuid.NewString()
		approval = &store.Approval{
			ID: rec.ApprovalID, ClientID: req.ClientID, StackID: plan.ToStack, DriftID: "promotion:" + rec.ID,
			Code: "environment_divergence", Component: "promotion", Action: "promote", Class: ApprovalClass, Diff: diff,
			TriggeredBy: req.By, Status: store.ApprovalPending, CreatedAt: now, ExpiresAt: now.Add(p.opts.ApprovalTTL),
		}
	}
	changes, _ := json.Marshal(map[string]any{"promotion_id": rec.ID, "app": req.App, "from": req.From, "to": req.To,
		"from_version": plan.FromVersion, "previous_version": plan.ToVersion, "status": rec.Status, "approval_id": rec.ApprovalID})
	audit := []store.AuditEntry{{Timestamp: now, Action: "promotion_requested", ClientID: req.ClientID, StackID: plan.ToStack,
		TriggeredBy: req.By, Success: true, ChangesMade: changes, ApprovalRequired: plan.NeedsApproval}}
	rec, err = p.opts.Store.CreatePromotion(ctx, rec, approval, audit)
	if err != nil {
		return store.Promotion{}, Plan{}, err
	}
	if rec.Status == store.PromotionApplying {
		p.carryOut(rec)
	}
	return rec, plan, nil
}

// RunLoop resumes unfinished promotions now (those a stopped process left)
// and every interval after (approvals that expired), and carries out
// auto-promotion after passes (AfterPass), until ctx ends;
// promotions started meanwhile are carried out under ctx: when it ends,
// their records say where they stopped, and the next start resumes them.
// Only the owner of a promotion's target stack carries it out (Options.Owns);
// Kick makes the loop look again at once (a shard gained, a promotion
// handed over by another replica). Should two processes still run one
// promotion (an ownership that moved between two checks), each step is
// written under the record's revision, so one of them carries it on.
func (p *Promoter) RunLoop(ctx context.Context, interval time.Duration) {
	p.mu.Lock()
	p.base = ctx
	p.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.Resume(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("resume promotions", "error", err)
		}
		if !p.waitTick(ctx, t.C) {
			return
		}
	}
}

// waitTick runs auto-promotion for the passes that arrive until the next
// tick; false when ctx ends.
func (p *Promoter) waitTick(ctx context.Context, tick <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			return true
		case <-p.kick:
			return true
		case res := <-p.passes:
			p.AutoPromote(ctx, res)
		}
	}
}

// Wait waits for the promotions this process is carrying out.
func (p *Promoter) Wait() { p.wg.Wait() }

// Kick makes RunLoop resume unfinished promotions now: this replica
// gained shards (their stacks' promotions are now its to carry out), or
// another replica handed one over (Options.Handoff). It never blocks.
func (p *Promoter) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// owns reports whether this process carries out promotions into the
// stack (Options.Owns).
func (p *Promoter) owns(clientID, stackID string) bool {
	return p.opts.Owns == nil || p.opts.Owns(clientID, stackID)
}

// carryOut runs a promotion in the background unless this process runs it
// already; a promotion into a stack another replica owns is handed to it.
func (p *Promoter) carryOut(rec store.Promotion) {
	if !p.owns(rec.ClientID, rec.ToStack) {
		if p.opts.Handoff != nil {
			p.opts.Handoff(rec.ClientID, rec.ToStack)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running[rec.ID] {
		return
	}
	p.running[rec.ID] = true
	base := p.base
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			delete(p.running, rec.ID)
			p.mu.Unlock()
		}()
		if _, err := p.Run(base, rec); err != nil && base.Err() == nil {
			p.log.Error("promotion", "client_id", rec.ClientID, "promotion_id", rec.ID, "error", err)
		}
	}()
}
