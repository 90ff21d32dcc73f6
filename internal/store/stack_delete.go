package store

import (
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// StackDeletion asks DeleteStack to remove one stack.
type StackDeletion struct {
	ClientID, StackID string
	// At is when: the resolution time of its open drifts, the completion
	// time of its cancelled heals, the decision time of its closed
	// approval requests.
	At time.Time
	// By names who deleted it (the closed approvals' decided_by).
	By string
	// Audit builds the audit entries appended in the deletion's own
	// transaction, from what it did; nil appends none.
	Audit func(StackDeleted) []AuditEntry
}

// StackDeleted is what DeleteStack did.
type StackDeleted struct {
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	// StateVersion and DesiredHash are the removed record's.
	StateVersion string `json:"state_version"`
	DesiredHash  string `json:"desired_hash"`
	// Drifts are the drifts that were open, now resolved at At.
	Drifts []drift.Drift `json:"drifts_resolved"`
	// HealsCancelled are the ids of the pending heal attempts cancelled.
	HealsCancelled []string `json:"heals_cancelled"`
	// ApprovalsClosed are the ids of the pending approval requests closed
	// (rejected, reason "stack deleted").
	ApprovalsClosed []string `json:"approvals_closed"`
	// PolicyDeleted: the stack had a policy of its own, now removed (the
	// client-wide policy stays).
	PolicyDeleted bool `json:"policy_deleted"`
}

// StackDeletedReason is the reason and detail written on what a deletion
// closes.
const StackDeletedReason = "stack deleted"

// RecreatedVersion is the first version of a stack created under a key
// whose last stored version (of a deleted stack) is last: the next minor
// version after it, or FirstStateVersion when there is none. Versions of a
// key only grow, so history stays unambiguous.
func RecreatedVersion(last string) (string, error) {
	if last == "" {
		return FirstStateVersion, nil
	}
	return NextMinorVersion(last)
}
