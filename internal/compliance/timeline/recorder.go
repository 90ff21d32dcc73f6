// Package timeline keeps the compliance timeline: it evaluates the
// compliance rules after every reconcile pass and records the statuses
// that changed in the store.
package timeline

import (
	"context"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
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
	keys atomic.Uint64       // numbers input keys, so that none is reused
}

type recorded struct {
	sig   string
	at    time.Time
	memo  *compliance.Memo // the outcomes of the stack's rules
	input *inputState      // what memo's input key stands for
}

const cacheTTL = 10 * time.Minute

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
	if !e.Fresh(last.memo, in.Key, in.ObservedKey) {
		// Something changed: the rules that depend on it read the views.
		in.Stack = compliance.StackOf(config.StackMeta{ClientID: p.ClientID, StackID: p.StackID, Environment: p.Environment}, p.Spec)
		in.Policy, in.Observed = compliance.PolicyOf(p.Policy), &obs
	}
	results := e.EvaluateMemo(in, p.At, last.memo)
	r.mu.Lock()
	rec := r.last[key]
	rec.memo, rec.input = last.memo, last.input
	r.last[key] = rec
	r.mu.Unlock()
	if err := r.Record(ctx, p.ClientID, p.StackID, p.At, results); err != nil {
		r.log.WarnContext(ctx, "compliance: record", "client_id", p.ClientID, "stack_id", p.StackID, "error", err)
	}
}

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
	key := clientID + "/" + stackID
	sig := signature(results)
	r.mu.Lock()
	prev, ok := r.last[key]
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

// signature identifies a set of results by rule, mode and status.
func signature(results []compliance.Result) string {
	n := 0
	for _, r := range results {
		n += len(r.Rule) + len(r.Mode) + len(r.Status) + 3
	}
	var b strings.Builder
	b.Grow(n)
	for _, r := range results {
		b.WriteString(r.Rule)
		b.WriteByte(0)
		b.WriteString(r.Mode)
		b.WriteByte(0)
		b.WriteString(string(r.Status))
		b.WriteByte(0)
	}
	return b.String()
}

// Forget drops what the recorder remembers of a stack (it was deleted).
func (r *Recorder) Forget(clientID, stackID string) {
	r.mu.Lock()
	delete(r.last, clientID+"/"+stackID)
	r.mu.Unlock()
}
