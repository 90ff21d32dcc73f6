// Package reconcile runs the reconcile loop: a keyed work queue of stacks,
// bounded workers, scheduled passes with jitter, and the pass itself as
// ordered steps (load, observe, compare, confirm, decide; persist and emit
// in a defer, so every exit records what happened). decide turns policy
// decisions into heal attempts committed with the pass; the heal runner
// executes them after the commit.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Triggers: why a pass runs.
const (
	TriggerSchedule = "schedule"
	TriggerEvent    = "event"
	TriggerManual   = "manual"
	TriggerConfig   = "config"
	TriggerAlert    = "alert"
	TriggerStart    = "start"
	// TriggerApproval: a person approved a heal of the stack.
	TriggerApproval = "approval"
	// TriggerForecast: a pass at the eta of an open forecast that falls
	// before the stack's next scheduled pass (PassObservation.PassAt).
	TriggerForecast = "forecast"
)

// Prober observes resources. *probe.Prober implements it.
type Prober interface {
	ProbeAll(ctx context.Context, resources map[string]config.Resource) map[string]drift.ResourceObservation
}

// ProviderObserver observes a stack's declared provider bindings through
// their management APIs (reachability, webhook subscriptions). The provider
// registry implements it. A role it cannot observe is left out of the map.
type ProviderObserver interface {
	ObserveProviders(ctx context.Context, clientID, stackID string, spec config.StackSpec) map[string]drift.ProviderObservation
}

// PolicySource gives the effective policy of a stack. *state.Service
// implements it.
type PolicySource interface {
	Policy(ctx context.Context, clientID, stackID string) (config.PolicySpec, error)
}

// Options configure a Reconciler.
type Options struct {
	Store    store.Store
	Policies PolicySource
	Prober   Prober
	// Providers observes provider bindings; nil observes none.
	Providers ProviderObserver
	Metrics   *Metrics
	Logger    *slog.Logger
	// Clock drives scheduling, backoff and pass timestamps (default: real).
	Clock clock.WithTicker
	// Workers bounds the passes running at once (default 64: passes mostly
	// wait on probes).
	Workers int
	// PassTimeout bounds one pass (default 30s).
	PassTimeout time.Duration
	// CommitTimeout bounds the commit of a pass (default 30s). The commit
	// runs even when the pass's own deadline has passed (what was observed
	// is recorded), so it needs a deadline of its own: a store that does
	// not answer must not hold a worker forever.
	CommitTimeout time.Duration
	// EventWindow is how far back events are observed (default 24h).
	EventWindow time.Duration
	// ReceiverPrefix is {public_url}/v1/webhooks, for matching subscriptions.
	ReceiverPrefix string
	// Jitter is the fraction by which scheduled intervals vary (default 0.1).
	Jitter float64
	// MinInterval floors every policy's interval (default 1s), so a policy
	// cannot make the loop spin.
	MinInterval time.Duration
	// BackoffBase and BackoffMax bound the per-stack retry backoff after a
	// failed pass (default 1s and 5m).
	BackoffBase, BackoffMax time.Duration
	// OnPass, when set, is called after every committed pass with its
	// result (from the worker; keep it quick).
	OnPass func(store.ReconciliationResult)
	// Forecasts, when set, is called after every committed successful
	// pass with what the pass observed (ForecastHook, forecast_hook.go).
	Forecasts ForecastHook
	// Compliance, when set, is called after every committed successful
	// pass too (internal/compliance's Recorder evaluates the rules).
	Compliance PassHook
	// Holds, when set, is called after every committed successful pass
	// too (internal/rollback's HoldWatch gives a host its publishing back
	// when a rollback's hold expired).
	Holds PassHook
	// Environments gives a pass the other environments of its stack's
	// application, for environment_divergence (nil: not judged).
	Environments Environments
	// Snapshots, when set, is called after every committed pass that left
	// the stack healthy with everything observed (SnapshotHook,
	// snapshot_hook.go).
	Snapshots SnapshotHook
	// Heal configures heal execution; without Heal.Actions decisions are
	// recorded and attempts wait in the store.
	Heal HealOptions
	// Ownership, when set, limits passes to the stacks this replica owns
	// (a Membership) and fences their commits; without it every stack is
	// this process's.
	Ownership Ownership
	// Forward, when set, is called for a trigger of a stack this replica
	// does not own, to reach the owner (store.Leases.NotifyTriggers).
	Forward func(key, trigger string)
}

// Reconciler is the reconcile loop.
type Reconciler struct {
	opts  Options
	log   *slog.Logger
	clock clock.WithTicker
	queue workqueue.TypedRateLimitingInterface[string]
	m     *Metrics
	// healer runs heal attempts; nil without Options.Heal.Actions.
	healer *healer

	mu       sync.Mutex
	reasons  map[string]string             // key -> trigger of the pending pass
	waiters  map[string][]chan passOutcome // key -> waiting for the next pass to start
	running  map[string]bool               // keys with a pass in flight
	statuses map[string]store.Status       // key -> status after its last pass
	counts   map[store.Status]int          // stacks per status
	// due are the passes asked for at a time (TriggerAt): key -> the
	// earliest such time and its trigger, until a pass at or after it.
	due    map[string]duePass
	cancel context.CancelFunc
	done   chan struct{}
	// running is closed while passes may run; Pause replaces it with an
	// open channel that workers wait on.
	gate chan struct{}
	// stopHeals ends the heal runner's claiming when Stop begins.
	stopHeals chan struct{}
	stopOnce  sync.Once
}

// duePass is a pass asked for at a time (TriggerAt).
type duePass struct {
	at      time.Time
	trigger string
}

type passOutcome struct {
	result store.ReconciliationResult
	err    error
}

// ErrStopped is returned by ReconcileWait once the loop has stopped. It
// reports Unavailable() true, so the API answers 503 rather than 500.
var ErrStopped error = stoppedError{}

type stoppedError struct{}

func (stoppedError) Error() string     { return "reconciler stopped" }
func (stoppedError) Unavailable() bool { return true }

// New returns a Reconciler; Start runs it.
func New(opts Options) *Reconciler {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = 30 * time.Second
	}
	if opts.PassTimeout <= 0 {
		opts.PassTimeout = 30 * time.Second
	}
	if opts.EventWindow <= 0 {
		opts.EventWindow = 24 * time.Hour
	}
	if opts.Jitter <= 0 {
		opts.Jitter = 0.1
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = time.Second
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reconciler{
		opts:  opts,
		log:   log,
		clock: opts.Clock,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](opts.BackoffBase, opts.BackoffMax),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "reconcile", Clock: opts.Clock},
		),
		m:        opts.Metrics,
		reasons:  map[string]string{},
		waiters:  map[string][]chan passOutcome{},
		running:  map[string]bool{},
		statuses: map[string]store.Status{},
		counts:   map[store.Status]int{},
		due:      map[string]duePass{},
		gate:     closedGate(),
	}
	if r.m != nil {
		r.m.queueDepthFunc = func() float64 { return float64(r.queue.Len()) }
	}
	r.opts.Heal.defaults()
	if opts.Heal.Actions != nil {
		r.healer = newHealer(r, r.opts.Heal)
	}
	return r
}

// Key is the queue key of a stack.
func Key(clientID, stackID string) string { return clientID + "/" + stackID }

// SplitKey is the stack of a queue key (Key).
func SplitKey(key string) (clientID, stackID string) {
	c, s, _ := strings.Cut(key, "/")
	return c, s
}

// Start enqueues every stored stack and starts the workers. It returns once
// they run; Stop ends them. With an Ownership, Start enqueues nothing: the
// stacks of each shard are enqueued as it is gained (EnqueueShards).
func (r *Reconciler) Start(ctx context.Context) error {
	if r.opts.Ownership == nil {
		if err := r.enqueueWhere(ctx, func(store.StackRef) bool { return true }); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.mu.Lock()
	r.cancel = cancel
	r.done = make(chan struct{})
	r.stopHeals = make(chan struct{})
	r.mu.Unlock()
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r.processNext(ctx) {
			}
		}()
	}
	if r.healer != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.healer.run(ctx, r.stopHeals)
		}()
	}
	go func() {
		wg.Wait()
		close(r.done)
	}()
	return nil
}

// Stop stops taking work and waits for passes in flight to finish, at most
// until ctx ends; then their contexts are cancelled and Stop waits for them
// to return. A pass commits atomically, so an abandoned pass loses nothing
// that was committed. Waiters get ErrStopped.
func (r *Reconciler) Stop(ctx context.Context) error {
	r.mu.Lock()
	cancel, done, stopHeals := r.cancel, r.done, r.stopHeals
	r.mu.Unlock()
	r.queue.ShutDown()
	r.Resume() // paused workers see the shutdown
	if stopHeals != nil {
		r.stopOnce.Do(func() { close(stopHeals) }) // no new heals; those running may finish
	}
	if done == nil {
		return nil
	}
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("passes still running at shutdown deadline: abandoned: %w", ctx.Err())
		cancel()
		<-done
	}
	cancel()
	r.mu.Lock()
	for key, ws := range r.waiters {
		for _, w := range ws {
			w <- passOutcome{err: ErrStopped}
		}
		delete(r.waiters, key)
	}
	r.mu.Unlock()
	return err
}

// Trigger asks for a pass of a stack soon. Passes are coalesced: any number
// of triggers while the stack waits cost one pass, and a trigger during a
// pass guarantees one more pass after it.
func (r *Reconciler) Trigger(clientID, stackID, trigger string) {
	if !r.owns(clientID, stackID) {
		if r.opts.Forward != nil {
			r.opts.Forward(Key(clientID, stackID), trigger)
		}
		return
	}
	r.enqueue(Key(clientID, stackID), trigger)
}

// TriggerLocal is Trigger for a trigger that came from another replica:
// a stack this replica does not own is left alone.
func (r *Reconciler) TriggerLocal(key, trigger string) {
	clientID, stackID := SplitKey(key)
	if r.owns(clientID, stackID) {
		r.enqueue(key, trigger)
	}
}

// TriggerAt asks for a pass of a stack at a time (at least MinInterval
// from now), on the loop's clock. Like Trigger it coalesces with the
// stack's other passes: the queue keeps the earliest time asked of a
// stack, so a stack whose next scheduled pass comes sooner is passed then
// and asked again by whoever asked (the forecast hook asks after every
// pass). The pass carries trigger unless it ran for another reason.
//
// Only the replica that owns the stack keeps the time: the forecast hook
// that asks runs on the owner right after its pass, and a replica that
// takes the stack over passes it at once (EnqueueShards) and its hook
// asks again, so a time asked of a stack owned elsewhere is dropped
// rather than forwarded (the replicas' trigger channel carries no time).
func (r *Reconciler) TriggerAt(clientID, stackID, trigger string, at time.Time) {
	if !r.owns(clientID, stackID) {
		return
	}
	key := Key(clientID, stackID)
	wait := max(at.Sub(r.clock.Now()), r.opts.MinInterval)
	at = r.clock.Now().Add(wait)
	r.mu.Lock()
	if d, ok := r.due[key]; !ok || at.Before(d.at) {
		r.due[key] = duePass{at: at, trigger: trigger}
	}
	r.mu.Unlock()
	r.queue.AddAfter(key, wait)
}

// owns reports whether this replica reconciles the stack now.
func (r *Reconciler) owns(clientID, stackID string) bool {
	if r.opts.Ownership == nil {
		return true
	}
	return r.opts.Ownership.Claims(clientID, stackID)
}

// EnqueueShards enqueues every stack of the shards (a replica gained
// them). It lists each shard's stacks by the store's shard index, so a
// replica that joins or takes over reads the stacks it will reconcile,
// not every stack.
func (r *Reconciler) EnqueueShards(ctx context.Context, shards []int) error {
	for _, shard := range shards {
		cursor := ""
		for {
			refs, next, err := r.opts.Store.ListShardStacks(ctx, store.ShardStacksQuery{Shard: shard, Cursor: cursor,
				Limit: store.MaxLimit})
			if err != nil {
				return fmt.Errorf("list stacks: %w", err)
			}
			for _, ref := range refs {
				r.enqueue(ref.Key(), TriggerStart)
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return nil
}

// enqueueWhere enqueues every stored stack that keep accepts.
func (r *Reconciler) enqueueWhere(ctx context.Context, keep func(store.StackRef) bool) error {
	cursor := ""
	for {
		refs, next, err := r.opts.Store.ListStackRefs(ctx, cursor, store.MaxLimit)
		if err != nil {
			return fmt.Errorf("list stacks: %w", err)
		}
		for _, ref := range refs {
			if keep(ref) {
				r.enqueue(ref.Key(), TriggerStart)
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

func (r *Reconciler) enqueue(key, trigger string) {
	r.mu.Lock()
	if _, ok := r.reasons[key]; !ok {
		r.reasons[key] = trigger
	}
	r.mu.Unlock()
	r.queue.Add(key)
}

// ReconcileWait triggers a pass and returns the result of the first pass of
// the stack that starts after the call.
func (r *Reconciler) ReconcileWait(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error) {
	key := Key(clientID, stackID)
	if !r.owns(clientID, stackID) {
		return r.reconcileRemote(ctx, clientID, stackID, trigger)
	}
	ch := make(chan passOutcome, 1)
	r.mu.Lock()
	if r.queue.ShuttingDown() {
		r.mu.Unlock()
		return store.ReconciliationResult{}, ErrStopped
	}
	r.waiters[key] = append(r.waiters[key], ch)
	r.mu.Unlock()
	r.enqueue(key, trigger)
	select {
	case out := <-ch:
		return out.result, out.err
	case <-ctx.Done():
		r.mu.Lock()
		ws := r.waiters[key]
		for i, w := range ws {
			if w == ch {
				r.waiters[key] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		r.mu.Unlock()
		return store.ReconciliationResult{}, ctx.Err()
	}
}

// remotePoll is how often reconcileRemote looks for the owner's result.
const remotePoll = 50 * time.Millisecond

// reconcileRemote asks the replica that owns the stack for a pass and
// waits for its result in the store: the first result whose id was not
// the newest when the call began.
func (r *Reconciler) reconcileRemote(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error) {
	newest := func() (store.ReconciliationResult, error) {
		rs, _, err := r.opts.Store.ListReconciliations(ctx, clientID, stackID, "", 1)
		if err != nil || len(rs) == 0 {
			return store.ReconciliationResult{}, err
		}
		return rs[0], nil
	}
	before, err := newest()
	if err != nil {
		return store.ReconciliationResult{}, err
	}
	if _, err := r.opts.Store.GetState(ctx, clientID, stackID); err != nil {
		return store.ReconciliationResult{}, err
	}
	if r.opts.Forward == nil {
		return store.ReconciliationResult{}, ErrNotOwner
	}
	r.opts.Forward(Key(clientID, stackID), trigger)
	t := time.NewTicker(remotePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return store.ReconciliationResult{}, ctx.Err()
		case <-t.C:
		}
		res, err := newest()
		if err != nil {
			return store.ReconciliationResult{}, err
		}
		if res.ReconciliationID != "" && res.ReconciliationID != before.ReconciliationID {
			return res, nil
		}
	}
}

// errLeaseLapsing: this replica holds the stack's shard, but its lease is
// too close to expiry to start a pass under (its renewal is late: a
// loaded store, a slow tick). The pass is tried again after
// lapsingRetry; once the lease is renewed it runs, and if the lease is
// lost instead the next try finds ErrNotOwner and drops the stack (its
// new owner enqueued it when it claimed the shard).
var errLeaseLapsing = errors.New("the shard's lease is due for renewal")

// lapsingRetry is how long a pass waits for a late lease renewal before
// it is tried again.
const lapsingRetry = time.Second

// ErrNotOwner: another replica owns the stack (and none could be asked).
// It reports Unavailable() true, so the API answers 503.
var ErrNotOwner error = notOwnerError{}

type notOwnerError struct{}

func (notOwnerError) Error() string     { return "another replica reconciles this stack" }
func (notOwnerError) Unavailable() bool { return true }

// InFlight reports whether a pass of the stack is running.
func (r *Reconciler) InFlight(clientID, stackID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[Key(clientID, stackID)]
}

func closedGate() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Pause stops starting passes (the store is unreachable, say): workers
// wait, triggers keep queueing and coalescing, passes in flight finish.
// Resume lets them go on.
func (r *Reconciler) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.gate:
		r.gate = make(chan struct{})
	default: // already paused
	}
}

// Resume undoes Pause.
func (r *Reconciler) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.gate:
	default:
		close(r.gate)
	}
}

// Paused reports whether passes are paused.
func (r *Reconciler) Paused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.gate:
		return false
	default:
		return true
	}
}

// processNext runs one pass from the queue; false once the queue shut down.
func (r *Reconciler) processNext(ctx context.Context) bool {
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
		return false
	}
	key, shutdown := r.queue.Get()
	if shutdown {
		return false
	}
	defer r.queue.Done(key)

	r.mu.Lock()
	trigger := r.reasons[key]
	delete(r.reasons, key)
	if d, ok := r.due[key]; ok && !r.clock.Now().Before(d.at) {
		// The pass asked for at this time (TriggerAt), unless a trigger
		// came with it.
		delete(r.due, key)
		if trigger == "" {
			trigger = d.trigger
		}
	}
	if trigger == "" {
		trigger = TriggerSchedule
	}
	waiters := r.waiters[key]
	delete(r.waiters, key)
	r.running[key] = true
	r.mu.Unlock()

	res, next, err := r.Reconcile(ctx, key, trigger)

	r.mu.Lock()
	delete(r.running, key)
	if errors.Is(err, errLeaseLapsing) {
		// Not a pass: the stack keeps its trigger and its waiters, and is
		// tried again once the lease had time to be renewed.
		if _, ok := r.reasons[key]; !ok {
			r.reasons[key] = trigger
		}
		r.waiters[key] = append(waiters, r.waiters[key]...)
		r.mu.Unlock()
		r.queue.AddAfter(key, lapsingRetry)
		return true
	}
	r.mu.Unlock()
	// A pass that ran has a result, failed or not; waiters get it. Only a
	// pass that could not start (stack gone) answers with an error.
	out := passOutcome{result: res}
	if res.ReconciliationID == "" {
		out.err = err
	}
	for _, w := range waiters {
		w <- out
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		// The stack is gone: forget it, schedule nothing.
		r.queue.Forget(key)
		r.forgetStatus(key)
	case errors.Is(err, ErrNotOwner), errors.Is(err, store.ErrFenced):
		// Another replica has the stack now; it schedules its passes.
		r.queue.Forget(key)
		r.forgetStatus(key)
	case err != nil && !errors.Is(err, context.Canceled):
		r.queue.AddRateLimited(key)
	default:
		r.queue.Forget(key)
		if next > 0 {
			r.queue.AddAfter(key, next)
		}
	}
	// After the next pass is scheduled: whoever learns of this pass from
	// OnPass can rely on that.
	if r.opts.OnPass != nil && res.ReconciliationID != "" {
		r.opts.OnPass(res)
	}
	return true
}

// jittered spreads an interval by ±Jitter so stacks with one interval do not
// all pass at once.
func (r *Reconciler) jittered(d time.Duration) time.Duration {
	if d < r.opts.MinInterval {
		d = r.opts.MinInterval
	}
	j := r.opts.Jitter
	f := 1 - j + 2*j*rand.Float64()
	return time.Duration(float64(d) * f)
}

// setStatus records a stack's status after a pass for the consistency score.
func (r *Reconciler) setStatus(key string, s store.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.statuses[key]; ok {
		r.counts[old]--
		r.deleteStackStatusLocked(key, old)
	}
	r.statuses[key] = s
	r.counts[s]++
	if r.m != nil {
		c, k := SplitKey(key)
		r.m.stackStatus.WithLabelValues(c, k, string(s)).Set(1)
	}
	r.publishCountsLocked()
}

// deleteStackStatusLocked removes a stack's blackwell_stack_status series
// of status s, so each stack has one series, of its current status.
func (r *Reconciler) deleteStackStatusLocked(key string, s store.Status) {
	if r.m == nil {
		return
	}
	c, k := SplitKey(key)
	r.m.stackStatus.DeleteLabelValues(c, k, string(s))
}

func (r *Reconciler) forgetStatus(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.due, key)
	if old, ok := r.statuses[key]; ok {
		r.counts[old]--
		delete(r.statuses, key)
		r.deleteStackStatusLocked(key, old)
	}
	r.publishCountsLocked()
}

func (r *Reconciler) publishCountsLocked() {
	if r.m == nil {
		return
	}
	total := 0
	for s, n := range r.counts {
		r.m.stacks.WithLabelValues(string(s)).Set(float64(n))
		total += n
	}
	if total > 0 {
		r.m.consistency.Set(float64(r.counts[store.StatusHealthy]) / float64(total))
	} else {
		r.m.consistency.Set(1)
	}
}
