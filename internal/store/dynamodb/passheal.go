package dynamodb

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// approvalState is an approval as a pass leaves it: its item as read
// (nil: new) and its new state.
type approvalState struct {
	item    map[string]types.AttributeValue
	a       store.Approval
	changed bool
}

// passHeals adds the healing part of a pass to t, in the order the store
// defines: verdicts, retired approvals, new approvals (not for a drift
// with an open one), new attempts (not one whose id is stored; one with
// an approval only while that is approved, marking it executed). The
// approvals and the attempts they execute go in t; each verdict and each
// other new attempt is a group of writes of its own, returned, which the
// pass commits in its transaction if they fit (see tryCommitPass).
func (s *Store) passHeals(ctx context.Context, t *txn, p store.Pass) ([][]types.TransactWriteItem, error) {
	var groups [][]types.TransactWriteItem
	client, stack := p.State.ClientID, p.State.StackID
	for _, u := range p.HealUpdates {
		if err := store.CheckHealUpdate(u); err != nil {
			return nil, err
		}
		item, h, err := s.getHeal(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if item == nil || h.ClientID != client || h.StackID != stack || !slices.Contains(u.From, h.Status) {
			continue
		}
		old := h
		at := store.Truncate(u.At)
		h.Status, h.LeaseUntil = u.Status, nil
		if v := u.VerifiedAt(); v != nil {
			h.VerifiedAt = &at
		}
		if h.CompletedAt == nil {
			h.CompletedAt = &at
		}
		if u.Error != "" {
			h.Error = u.Error
		}
		var g txn
		if err := s.changeHeal(&g, item, old, h); err != nil {
			return nil, err
		}
		groups = append(groups, g.items)
	}
	approvals := map[string]*approvalState{}
	load := func(id string) (*approvalState, error) {
		if st, ok := approvals[id]; ok {
			return st, nil
		}
		it, err := s.getApprovalItem(ctx, id)
		if err != nil || it == nil {
			return nil, err
		}
		a, err := decodeApproval(it)
		if err != nil {
			return nil, err
		}
		approvals[id] = &approvalState{item: it, a: a}
		return approvals[id], nil
	}
	for _, id := range p.RetiredApprovals {
		st, err := load(id)
		if err != nil {
			return nil, err
		}
		if st != nil && st.a.ClientID == client && st.a.StackID == stack && openApproval(st.a.Status) {
			st.a.Status, st.changed = store.ApprovalExpired, true
		}
	}
	if err := s.newApprovals(ctx, p, approvals, load); err != nil {
		return nil, err
	}
	more, err := s.newHeals(ctx, t, p, load)
	if err != nil {
		return nil, err
	}
	return append(groups, more...), s.writeApprovals(ctx, t, approvals)
}

// newApprovals adds the pass's new requests to approvals, but not one
// whose id is stored, nor one for a drift with an open request.
func (s *Store) newApprovals(ctx context.Context, p store.Pass, approvals map[string]*approvalState,
	load func(string) (*approvalState, error)) error {
	now := s.now()
	for _, a := range p.Approvals {
		a, err := store.CheckApproval(a, p, now)
		if err != nil {
			return err
		}
		if st, err := load(a.ID); err != nil || st != nil {
			if err != nil {
				return err
			}
			continue
		}
		busy, err := s.driftHasOpenApproval(ctx, a, approvals)
		if err != nil {
			return err
		}
		if !busy {
			approvals[a.ID] = &approvalState{a: storedApproval(a), changed: true}
		}
	}
	return nil
}

// driftHasOpenApproval reports whether a's drift has an open request, as
// the pass leaves them.
func (s *Store) driftHasOpenApproval(ctx context.Context, a store.Approval, approvals map[string]*approvalState) (bool, error) {
	for _, st := range approvals {
		if st.a.ClientID == a.ClientID && st.a.StackID == a.StackID && st.a.DriftID == a.DriftID && st.changed {
			if openApproval(st.a.Status) {
				return true, nil
			}
		}
	}
	lock, err := s.getItem(ctx, lockKey(a))
	if err != nil || lock == nil {
		return false, err
	}
	st, ok := approvals[getS(lock, "id")]
	return !ok || !st.changed || openApproval(st.a.Status), nil
}

// newHeals adds the pass's new attempts that execute an approval to t,
// and returns the writes of each other one as a group.
func (s *Store) newHeals(ctx context.Context, t *txn, p store.Pass, load func(string) (*approvalState, error)) ([][]types.TransactWriteItem, error) {
	now := s.now()
	var groups [][]types.TransactWriteItem
	seen := map[string]bool{}
	for _, h := range p.Heals {
		h, err := store.CheckHeal(h, p, now)
		if err != nil {
			return nil, err
		}
		h = storedHeal(h)
		if seen[h.ID] {
			continue // the first of an id in the pass is the one
		}
		seen[h.ID] = true
		if ptr, err := s.getItem(ctx, healIDKey(h.ID)); err != nil || ptr != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		if h.ApprovalID == "" {
			var g txn
			if err := s.newHeal(&g, h); err != nil {
				return nil, err
			}
			groups = append(groups, g.items)
			continue
		}
		st, err := load(h.ApprovalID)
		if err != nil {
			return nil, err
		}
		if st == nil || st.a.ClientID != h.ClientID || st.a.StackID != h.StackID || st.a.Status != store.ApprovalApproved {
			continue
		}
		st.a.Status, st.a.HealID, st.changed = store.ApprovalExecuted, h.ID, true
		if err := s.newHeal(t, h); err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// writeApprovals adds the approvals the pass changed or made to t, with
// their drifts' locks: one write per lock item.
func (s *Store) writeApprovals(ctx context.Context, t *txn, approvals map[string]*approvalState) error {
	locks := map[string]*types.TransactWriteItem{}
	var order []string
	for _, st := range approvals {
		if !st.changed {
			continue
		}
		it, err := approvalItem(st.a)
		if err != nil {
			return err
		}
		if st.item == nil {
			t.put(s.table(tData), it, "attribute_not_exists(pk)", nil)
		} else {
			t.put(s.table(tData), it, "doc = :doc", map[string]types.AttributeValue{":doc": st.item["doc"]})
		}
		key := lockKey(st.a)
		k := getS(key, "pk")
		if _, ok := locks[k]; !ok {
			order = append(order, k)
		}
		switch {
		case openApproval(st.a.Status):
			key["id"] = str(st.a.ID)
			locks[k] = &types.TransactWriteItem{Put: &types.Put{TableName: str2(s.table(tData)), Item: key}}
		case locks[k] == nil:
			locks[k] = &types.TransactWriteItem{Delete: &types.Delete{TableName: str2(s.table(tData)), Key: key}}
		}
	}
	for _, k := range order {
		t.items = append(t.items, *locks[k])
	}
	return nil
}
