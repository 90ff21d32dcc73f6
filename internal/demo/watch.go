package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// watch prints each stack's status when it changes, and each heal
// attempt's outcome.
func (d *session) watch(ctx context.Context) {
	last := map[string]string{}
	heals := map[string]store.HealStatus{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		recs, err := store.AllStates(ctx, d.srv.Store(), "")
		if err != nil {
			continue
		}
		for _, r := range recs {
			var codes []string
			for _, dr := range r.DriftDetails {
				codes = append(codes, fmt.Sprintf("%s(%s, %s)", dr.Code, dr.Component, dr.Severity))
			}
			line := string(r.Status)
			if len(codes) > 0 {
				line += ": " + strings.Join(codes, ", ")
			}
			if r.LastVerified == nil || last[r.Key()] == line {
				continue
			}
			last[r.Key()] = line
			d.printf("status %s/%s %s", r.ClientID, r.StackID, line)
		}
		q := store.HealQuery{Since: time.Now().Add(-time.Hour), Limit: store.MaxLimit}
		attempts, err := store.All(func(cursor store.Page) ([]store.HealAttempt, store.Page, error) {
			q.Cursor = cursor
			return d.srv.Store().ListHeals(ctx, q)
		})
		if err != nil {
			continue
		}
		for _, a := range attempts {
			if heals[a.ID] == a.Status || a.Status == store.HealRunning {
				continue
			}
			heals[a.ID] = a.Status
			d.printf("heal   %s/%s %s %s of %s: %s%s", a.ClientID, a.StackID, a.Action, a.Code, a.Component, a.Status, suffix(orString(a.Error, a.Detail)))
		}
		approvals, _, err := d.srv.Store().ListApprovals(ctx, store.ApprovalQuery{Status: []store.ApprovalStatus{store.ApprovalPending}, Limit: 100})
		if err != nil {
			continue
		}
		for _, a := range approvals {
			if _, seen := heals[a.ID]; !seen {
				heals[a.ID] = "pending"
				d.printf("asks   %s/%s %s of %s needs approval (%s): blackwell approve %s", a.ClientID, a.StackID, a.Action, a.Component, a.Class, a.ID)
			}
		}
	}
}
