package main

import (
	"context"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/blackwellio/blackwell/internal/store"
)

// cmdSetApprovalID sets APPROVAL_ID to the pending approval request of a
// stack (setapprovalid CLIENT STACK).
func cmdSetApprovalID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setapprovalid CLIENT STACK")
	}
	s := serverOf(ts)
	list, _, err := s.store.ListApprovals(context.Background(), store.ApprovalQuery{ClientID: args[0], StackID: args[1],
		Status: []store.ApprovalStatus{store.ApprovalPending}})
	ts.Check(err)
	if len(list) != 1 {
		ts.Fatalf("setapprovalid: %d pending approvals of %s/%s, want 1", len(list), args[0], args[1])
	}
	ts.Setenv("APPROVAL_ID", list[0].ID)
}
