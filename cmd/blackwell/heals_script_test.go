package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Testscript command of heals.txtar (registered in TestScripts):
//
//	seedheal CLIENT STACK CODE COMPONENT STATUS [ERROR]
//	                              commit a pass that leaves a heal attempt
//	                              of that drift with that status

func cmdSeedHeal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 5 || len(args) > 6 {
		ts.Fatalf("usage: seedheal CLIENT STACK CODE COMPONENT STATUS [ERROR]")
	}
	s := serverOf(ts)
	code := drift.Code(args[2])
	cl, ok := drift.Classify(code)
	if !ok {
		ts.Fatalf("seedheal: unknown drift code %q", code)
	}
	h := store.HealAttempt{
		ClientID: args[0], StackID: args[1], Code: code, Component: args[3],
		DriftID: drift.ID(args[0], args[1], cl.Type, args[3]), Action: "recreate", Attempt: 1,
		Status: store.HealStatus(args[4]), TriggeredBy: "auto_heal", NotBefore: scriptNow(),
	}
	if len(args) == 6 {
		h.Error = args[5]
	}
	ts.Check(s.rec.commitHeal(context.Background(), h))
}

// commitHeal writes a pass of the attempt's stack that keeps its state
// and adds the attempt, created a minute after the one before.
func (r *scriptReconciler) commitHeal(ctx context.Context, h store.HealAttempt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.passes++
	rec, err := r.store.GetState(ctx, h.ClientID, h.StackID)
	if err != nil {
		return err
	}
	open, err := r.store.ListDrifts(ctx, store.DriftQuery{ClientID: h.ClientID, StackID: h.StackID})
	if err != nil {
		return err
	}
	var drifts []drift.Drift
	for _, d := range open {
		if d.ResolvedAt == nil {
			drifts = append(drifts, d)
		}
	}
	now := r.now().Add(time.Duration(r.passes) * time.Minute)
	h.ID = fmt.Sprintf("heal-%03d", r.passes)
	h.ReconciliationID = fmt.Sprintf("recon-%03d", r.passes)
	h.CreatedAt = now
	_, err = r.store.CommitPass(ctx, store.Pass{
		State: rec, Drifts: drifts, Heals: []store.HealAttempt{h},
		Result: store.ReconciliationResult{
			ReconciliationID: h.ReconciliationID, ClientID: h.ClientID, StackID: h.StackID, Trigger: "schedule",
			StartedAt: now, CompletedAt: now.Add(time.Second), Status: store.ResultSuccess,
			AutoHealAttempted: true, StateVersion: rec.StateVersion,
		},
	})
	return err
}
