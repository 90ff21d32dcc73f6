// Package timeline keeps the compliance timeline: it evaluates the
// compliance rules after every reconcile pass and records the statuses
// that changed in the store.
package timeline

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
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
}

type recorded struct {
	sig  string
	at   time.Time
	memo *compliance.Memo // the outcomes of the rules that do not read observed
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
	in := compliance.Input{
		Stack:       compliance.StackOf(config.StackMeta{ClientID: p.ClientID, StackID: p.StackID, Environment: p.Environment}, p.Spec),
		Policy:      compliance.PolicyOf(p.Policy),
		Observed:    &obs,
		Key:         inputKey(p),
		ObservedKey: obs.Key(),
	}
	key := p.ClientID + "/" + p.StackID
	r.mu.Lock()
	memo := r.last[key].memo
	r.mu.Unlock()
	if memo == nil {
		memo = &compliance.Memo{}
	}
	results := e.EvaluateMemo(in, p.At, memo)
	r.mu.Lock()
	rec := r.last[key]
	rec.memo = memo
	r.last[key] = rec
	r.mu.Unlock()
	if err := r.Record(ctx, p.ClientID, p.StackID, p.At, results); err != nil {
		r.log.WarnContext(ctx, "compliance: record", "client_id", p.ClientID, "stack_id", p.StackID, "error", err)
	}
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
	w := store.ComplianceWrite{ClientID: clientID, StackID: stackID, At: at, Complete: true}
	for _, res := range results {
		w.Results = append(w.Results, store.ComplianceResult{Rule: res.Rule, Mode: res.Mode, Status: string(res.Status), Message: res.Message})
	}
	if _, err := r.store.RecordCompliance(ctx, w); err != nil {
		return err
	}
	r.mu.Lock()
	r.last[key] = recorded{sig: sig, at: time.Now(), memo: r.last[key].memo}
	r.mu.Unlock()
	return nil
}

// inputKey changes whenever the stack's desired state, environment or
// effective policy does (compliance.Input.Key).
func inputKey(p reconcile.PassObservation) string {
	pol, err := json.Marshal(p.Policy)
	if err != nil || p.Observed.DesiredHash == "" {
		return "" // no reuse
	}
	h := fnv.New64a()
	h.Write(pol)
	return fmt.Sprintf("%s/%s/%x", p.Observed.DesiredHash, p.Environment, h.Sum64())
}

// signature identifies a set of results by rule, mode and status.
func signature(results []compliance.Result) string {
	var b strings.Builder
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
