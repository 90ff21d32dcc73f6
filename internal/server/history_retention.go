package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// historyReader is what planning history retention reads of the store.
type historyReader interface {
	ListStackRefs(ctx context.Context, cursor string, limit int) ([]store.StackRef, store.Page, error)
	ListPolicies(ctx context.Context, clientID string) ([]store.PolicyRecord, error)
}

// planHistoryPrunes returns the deletes that enforce reconciliation
// history retention at now: one per stack whose own policy exists, one
// per client whose policies set observability.history_retention (its
// client-wide policy's, else def; but those stacks), and one for every
// other client (def). A stack's effective policy is its own, else its
// client's (config.EffectivePolicy's choice), so a stack policy without
// the field keeps def, as for events.retention. A policy that does not
// decode keeps its client's history whole (excepted from every delete):
// retention never deletes more than asked. Clients are found by their
// stacks: the history of a client without stacks follows def.
func planHistoryPrunes(ctx context.Context, r historyReader, now time.Time, def time.Duration) ([]store.HistoryPrune, error) {
	var clients []string
	cursor := ""
	for {
		refs, page, err := r.ListStackRefs(ctx, cursor, store.MaxLimit)
		if err != nil {
			return nil, fmt.Errorf("list stacks: %w", err)
		}
		for _, ref := range refs {
			if len(clients) == 0 || clients[len(clients)-1] != ref.ClientID {
				clients = append(clients, ref.ClientID)
			}
		}
		if page == "" || len(refs) == 0 {
			break
		}
		cursor = page
	}
	var out []store.HistoryPrune
	var own []string // clients with a retention of their own
	for _, client := range clients {
		recs, err := r.ListPolicies(ctx, client)
		if err != nil {
			return nil, fmt.Errorf("read policies of %s: %w", client, err)
		}
		specs := make(map[string]*config.PolicySpec, len(recs))
		sets, broken := false, false
		for _, rec := range recs {
			var p config.PolicySpec
			if err := json.Unmarshal(rec.Document, &p); err != nil {
				broken = true
				break
			}
			specs[rec.StackID] = &p
			sets = sets || p.Observability.HistoryRetention > 0
		}
		if broken {
			own = append(own, client)
			continue
		}
		if !sets {
			continue
		}
		own = append(own, client)
		defs := config.Retention{History: def}
		var stacks []string
		for stack := range specs {
			if stack != "" {
				stacks = append(stacks, stack)
			}
		}
		slices.Sort(stacks)
		for _, stack := range stacks {
			out = append(out, store.HistoryPrune{ClientID: client, StackID: stack,
				Before: now.Add(-config.RetentionOf(specs[stack], defs).History)})
		}
		out = append(out, store.HistoryPrune{ClientID: client, Except: stacks,
			Before: now.Add(-config.RetentionOf(specs[""], defs).History)})
	}
	out = append(out, store.HistoryPrune{Before: now.Add(-def), Except: own})
	return out, nil
}
