// Package timeline keeps the compliance timeline: it evaluates the
// compliance rules after every reconcile pass and records the statuses
// that changed in the store.
package timeline

import (
	"context"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blackwellio/blackwell/internal/compliance"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

// Recorder evaluates the rules after every pass (a reconcile.PassHook)
// and keeps the results as the compliance timeline in the store. A
// stack's last recorded statuses are remembered for cacheTTL, so a pass
// whose statuses did not change costs no store access; after cacheTTL (or
// in another replica, which owns the stack after a move) the store is
// read again.
type Recorder struct {
	store  store.ComplianceStore
	engine func(ctx context.Context) (*compliance.Engine, error)
	log    *slog.Logger

	mu   sync.Mutex
	last map[string]recorded // by client/stack
	// sigs interns the signatures: stacks share a few sets of
	// statuses, so the signature of a stack is seldom a new string.
	sigs map[string]string
	keys atomic.Uint64 // numbers input keys, so that none is reused
}

type recorded struct {
	sig   string // of the statuses last recorded (appendSignature), interned
	at    time.Time
	memo  *compliance.Memo // the outcomes of the stack's rules
	input *inputState      // what memo's input key stands for
}

const cacheTTL = 10 * time.Minute

// maxSignatures bounds Recorder.sigs (a signature no stack holds any
// longer stays until the map is started anew).
const maxSignatures = 1 << 10

// NewRecorder returns a Recorder writing to st, evaluating the rules that
// engine returns (the state service's Organization, cached).
func NewRecorder(st store.ComplianceStore, engine func(ctx context.Context) (*compliance.Engine, error), log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: st, engine: engine, log: log, last: map[string]recorded{}}
}

var _ reconcile.PassHook = (*Recorder)(nil)

// AfterPass evaluates the rules for the pass's stack and records the
// statuses that changed.
func (r *Recorder) AfterPass(ctx context.Context, p reconcile.PassObservation) {
	e, err := r.engine(ctx)
	if err != nil {
		r.log.WarnContext(ctx, "compliance: rules unavailable", "client_id", p.ClientID, "stack_id", p.StackID, "error", err)
		return
	}
	status := string(store.StatusHealthy)
	if len(p.Open) > 0 {
		status = string(store.StatusDriftDetected)
	}
	obs := compliance.ObservedOf(status, p.Observed, p.Open)
	key := p.ClientID + "/" + p.StackID
	r.mu.Lock()
	last := r.last[key]
	r.mu.Unlock()
	in := compliance.Input{
		Stack:       compliance.StackView{ClientID: p.ClientID, StackID: p.StackID, Environment: p.Environment},
		Key:         r.inputKey(&last, p),
		ObservedKey: obs.Key(),
	}
	if last.memo == nil {
		last.memo = &compliance.Memo{}
	}
	buf := scratchPool.Get().(*scratch)
	if !e.Fresh(last.memo, in.Key, in.ObservedKey) {
		// Something changed: the rules that depend on it read the views
		// (the stack's in buf's maps: the engine keeps nothing of it).
		in.Stack = buf.stacks.StackOf(config.StackMeta{ClientID: p.ClientID, StackID: p.StackID, Environment: p.Environment}, p.Spec)
		in.Policy, in.Observed = compliance.PolicyOf(p.Policy), &obs
	}
	buf.results = e.EvaluateAppend(buf.results[:0], in, p.At, last.memo)
	r.mu.Lock()
	rec := r.last[key]
	rec.memo, rec.input = last.memo, last.input
	r.last[key] = rec
	r.mu.Unlock()
	if err := r.record(ctx, p.ClientID, p.StackID, p.At, buf.results, buf); err != nil {
		r.log.WarnContext(ctx, "compliance: record", "client_id", p.ClientID, "stack_id", p.StackID, "error", err)
	}
	clear(buf.results) // keeps no message or exception alive
	scratchPool.Put(buf)
}

// scratch is what one AfterPass builds and drops: the stack's view, the
// results (Record copies what it writes out of them) and the signature's
// encoding.
type scratch struct {
	stacks  compliance.StackBuffer
	results []compliance.Result
	sig     []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// inputState is what an input key stands for: the stack's desired hash,
// environment and effective policy.
type inputState struct {
	desired, environment string
	policy               config.PolicySpec
	key                  string
}

// inputKey returns the key of the pass's desired state and policy
// (compliance.Input.Key): the last one when they are unchanged, else a
// new one, remembered in last.input ("" when the desired hash is unknown:
// nothing is reused).
func (r *Recorder) inputKey(last *recorded, p reconcile.PassObservation) string {
	if p.Observed.DesiredHash == "" {
		last.input = nil
		return ""
	}
	in := last.input
	if in != nil && in.desired == p.Observed.DesiredHash && in.environment == p.Environment && reflect.DeepEqual(in.policy, p.Policy) {
		return in.key
	}
	last.input = &inputState{desired: p.Observed.DesiredHash, environment: p.Environment, policy: p.Policy,
		key: p.Observed.DesiredHash + "/" + strconv.FormatUint(r.keys.Add(1), 10)}
	return last.input.key
}

// Record writes one evaluation of a stack (every rule that applies to it)
// unless its statuses are those recorded last.
func (r *Recorder) Record(ctx context.Context, clientID, stackID string, at time.Time, results []compliance.Result) error {
	buf := scratchPool.Get().(*scratch)
	defer scratchPool.Put(buf)
	return r.record(ctx, clientID, stackID, at, results, buf)
}

// record is Record, the signature encoded in buf.sig.
func (r *Recorder) record(ctx context.Context, clientID, stackID string, at time.Time, results []compliance.Result, buf *scratch) error {
	key := clientID + "/" + stackID
	buf.sig = appendSignature(buf.sig[:0], results)
	r.mu.Lock()
	prev, ok := r.last[key]
	sig, interned := r.sigs[string(buf.sig)]
	if !interned {
		if len(r.sigs) >= maxSignatures {
			r.sigs = nil // those held stay valid, just not shared
		}
		if r.sigs == nil {
			r.sigs = map[string]string{}
		}
		sig = string(buf.sig)
		r.sigs[sig] = sig
	}
	r.mu.Unlock()
	if ok && prev.sig == sig && time.Since(prev.at) < cacheTTL {
		return nil
	}
	w := store.ComplianceWrite{ClientID: clientID, StackID: stackID, At: at, Complete: true,
		Results: make([]store.ComplianceResult, 0, len(results))}
	for _, res := range results {
		w.Results = append(w.Results, store.ComplianceResult{Rule: res.Rule, Mode: res.Mode, Status: string(res.Status), Message: res.Message})
	}
	if _, err := r.store.RecordCompliance(ctx, w); err != nil {
		return err
	}
	r.mu.Lock()
	prev = r.last[key]
	prev.sig, prev.at = sig, time.Now()
	r.last[key] = prev
	r.mu.Unlock()
	return nil
}

// appendSignature appends to b an encoding of a set of results by rule,
// mode and status, each followed by a NUL: the signature the recorder
// compares with the last one recorded.
func appendSignature(b []byte, results []compliance.Result) []byte {
	for _, r := range results {
		b = append(b, r.Rule...)
		b = append(b, 0)
		b = append(b, r.Mode...)
		b = append(b, 0)
		b = append(b, r.Status...)
		b = append(b, 0)
	}
	return b
}

// Forget drops what the recorder remembers of a stack (it was deleted).
func (r *Recorder) Forget(clientID, stackID string) {
	r.mu.Lock()
	delete(r.last, clientID+"/"+stackID)
	r.mu.Unlock()
}
