package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// ErrExpired: an approval request was decided after its expiry.
var ErrExpired = errors.New("expired")

// HealStatus is where a heal attempt is in its life.
type HealStatus string

// The heal statuses. An attempt is created pending by a pass (or, for an
// approved heal, by the pass after the approval), claimed by a worker
// (running), and finished as executed or failed; the next pass that sees
// the drift gone marks an executed attempt succeeded, one that still sees
// it marks it failed. Only succeeded counts as auto_heal_success.
const (
	HealPending   HealStatus = "pending"
	HealRunning   HealStatus = "running"
	HealExecuted  HealStatus = "executed"
	HealSucceeded HealStatus = "succeeded"
	HealFailed    HealStatus = "failed"
	// HealDryRun: the policy's mode is dry_run; recorded, never executed.
	HealDryRun HealStatus = "dry_run"
	// HealCancelled: the drift cleared or was acknowledged before the
	// attempt ran.
	HealCancelled HealStatus = "cancelled"
)

// Open reports whether an attempt is still in flight (not yet verified or
// failed): a drift with an open attempt gets no new one.
func (s HealStatus) Open() bool {
	return s == HealPending || s == HealRunning || s == HealExecuted
}

// HealAttempt is one attempt to heal one drift: the spec's AutoHealEvent
// over its life, and a durable job. ID is the idempotency key, drift id and
// attempt number ("<drift_id>/<attempt>"): storing an attempt whose ID
// exists does nothing, so a retried or duplicated decision has one effect.
type HealAttempt struct {
	ID        string     `json:"id"`
	DriftID   string     `json:"drift_id"`
	ClientID  string     `json:"client_id"`
	StackID   string     `json:"stack_id"`
	Code      drift.Code `json:"code"`
	Component string     `json:"component"`
	// Provider is the provider the action talks to ("" when none).
	Provider string     `json:"provider,omitempty"`
	Action   string     `json:"heal_action"`
	Attempt  int        `json:"attempt"`
	Status   HealStatus `json:"status"`
	// ReconciliationID is the pass that decided the attempt.
	ReconciliationID string `json:"reconciliation_id"`
	// ApprovalID is the approval that allowed it, if one was needed.
	ApprovalID  string `json:"approval_id,omitempty"`
	TriggeredBy string `json:"triggered_by"`
	// Drift is the drift as decided on (the spec's drift_detail).
	Drift json.RawMessage `json:"drift_detail,omitempty"`
	// NotBefore: a worker does not claim the attempt earlier.
	NotBefore time.Time `json:"not_before"`
	// Owner and LeaseUntil are set while a worker holds the attempt; a
	// lease that lapses (the worker died) lets another worker claim it,
	// and Claims counts how often it was claimed.
	Owner       string     `json:"owner,omitempty"`
	LeaseUntil  *time.Time `json:"lease_until,omitempty"`
	Claims      int        `json:"claims"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	// VerifiedAt is when a pass judged an executed attempt.
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	// Detail says what the action did; Error why it failed.
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error_message,omitempty"`
}

// Claim asks ClaimHeals for up to Limit (BatchLimit) due attempts for
// Owner, leased until Now+Lease.
type Claim struct {
	Owner string
	Now   time.Time
	Lease time.Duration
	Limit int
}

// ApprovalDecision is a person's answer to an approval request.
type ApprovalDecision struct {
	ID      string
	Approve bool // false: reject
	By      string
	Reason  string
	At      time.Time
}

// FinishHeal is the outcome of one attempt, as its worker records it.
type FinishHeal struct {
	ID, Owner string
	// Status is HealExecuted, HealFailed or HealCancelled (the policy no
	// longer heals: not run, and no cost to the attempt budget).
	Status HealStatus
	Detail string
	Error  string
	At     time.Time
	// Audit is appended in the same transaction.
	Audit []AuditEntry
	// Stream are events of the stream log written in the same
	// transaction (heal.failed).
	Stream []StreamEvent
}

// HealUpdate is a pass's verdict on an attempt: succeeded or failed for an
// executed one (verification), cancelled for a pending one. It applies
// only while the stored attempt is in one of From (which must not be
// empty) and belongs to the pass's stack. Applied, it sets Status, sets
// VerifiedAt = At for succeeded and failed, CompletedAt = At if unset,
// Error when not empty, and ends any lease (a worker still holding the
// attempt is then fenced off).
type HealUpdate struct {
	ID     string       `json:"id"`
	From   []HealStatus `json:"from"`
	Status HealStatus   `json:"status"`
	At     time.Time    `json:"at"`
	Error  string       `json:"error,omitempty"`
}

// HealQuery filters ListHeals. Zero fields do not filter.
type HealQuery struct {
	ClientID string
	StackID  string
	DriftID  string
	Status   []HealStatus
	// Since: attempts created at or after.
	Since  time.Time
	Cursor string
	Limit  int
}

// ApprovalStatus is where an approval request is in its life.
type ApprovalStatus string

// The approval statuses.
const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalRejected ApprovalStatus = "rejected"
	ApprovalExpired  ApprovalStatus = "expired"
	// ApprovalExecuted: the approved heal was decided (its attempt has
	// ApprovalID set); an approval executes once.
	ApprovalExecuted ApprovalStatus = "executed"
)

// Approval is a request for a person to allow a heal.
type Approval struct {
	ID        string     `json:"id"`
	ClientID  string     `json:"client_id"`
	StackID   string     `json:"stack_id"`
	DriftID   string     `json:"drift_id"`
	Code      drift.Code `json:"code"`
	Component string     `json:"component"`
	Action    string     `json:"heal_action"`
	// Class is the approval class (cms_provider_change, data_deletion,
	// resource_replacement, flapping).
	Class string `json:"approval_class"`
	// Diff is what the heal would change: expected, observed, action.
	Diff             json.RawMessage `json:"diff"`
	TriggeredBy      string          `json:"triggered_by"`
	ReconciliationID string          `json:"reconciliation_id"`
	Status           ApprovalStatus  `json:"status"`
	CreatedAt        time.Time       `json:"created_at"`
	ExpiresAt        time.Time       `json:"expires_at"`
	DecidedAt        *time.Time      `json:"decided_at,omitempty"`
	DecidedBy        string          `json:"decided_by,omitempty"`
	Reason           string          `json:"reason,omitempty"`
	// HealID is the attempt the approval led to, once executed.
	HealID string `json:"heal_id,omitempty"`
}

// ApprovalQuery filters ListApprovals. Zero fields do not filter.
type ApprovalQuery struct {
	ClientID string
	StackID  string
	DriftID  string
	Status   []ApprovalStatus
	Cursor   string
	Limit    int
}

// Heals is the durable side of healing: attempts as jobs any worker may
// claim, approvals, and the return count of drifts for flapping.
type Heals interface {
	// ListHeals returns attempts oldest first (by CreatedAt, then ID),
	// cursor-paginated.
	ListHeals(ctx context.Context, q HealQuery) ([]HealAttempt, Page, error)
	// ClaimHeals takes up to limit attempts that are pending with
	// NotBefore <= now, or running with a lease that lapsed before now,
	// oldest first, and marks them running for owner until now+lease
	// (StartedAt = now on the first claim, Claims incremented). Two
	// concurrent callers never get the same attempt.
	ClaimHeals(ctx context.Context, c Claim) ([]HealAttempt, error)
	// FinishHeal records the outcome of a running attempt held by
	// p.Owner: status executed, failed or cancelled, with detail/error,
	// CompletedAt = p.At, and appends p.Audit to the chain, all in one
	// transaction (the notification feed escalates on the audit entry, so
	// the two must not be parted by a crash). The lease ends (LeaseUntil
	// nil) and Owner stays, naming the worker. An owner whose lease lapsed
	// but that no one re-claimed may finish. It fails with ErrConflict when
	// the attempt is not running under owner (its lease lapsed and another
	// worker took it: the caller is fenced off), ErrNotFound when it does
	// not exist; nothing is written then. Seq, PrevHash and Hash are filled
	// in p.Audit once committed.
	FinishHeal(ctx context.Context, p FinishHeal) (HealAttempt, error)
	// DriftReturns counts, per drift id of the stack, how often a resolved
	// drift came back (was reopened by CommitPass) at or after since; a
	// return is dated by the reopening pass's Result.CompletedAt.
	DriftReturns(ctx context.Context, clientID, stackID string, since time.Time) (map[string]int, error)

	// ListApprovals returns approvals newest first, cursor-paginated.
	ListApprovals(ctx context.Context, q ApprovalQuery) ([]Approval, Page, error)
	// GetApproval returns one approval, or ErrNotFound.
	GetApproval(ctx context.Context, id string) (Approval, error)
	// DecideApproval approves or rejects a pending approval, recording by,
	// reason and at, and appends an audit entry (approval_granted or
	// approval_rejected) in the same transaction. A pending approval whose
	// ExpiresAt is not after at becomes expired (no audit entry) and the
	// call fails with ErrExpired; one that is no longer pending fails with
	// ErrConflict; ErrNotFound when it does not exist.
	DecideApproval(ctx context.Context, d ApprovalDecision) (Approval, error)
	// ExpireApprovals marks up to limit (BatchLimit) pending approvals
	// whose ExpiresAt is not after now expired, returning how many.
	ExpireApprovals(ctx context.Context, now time.Time, limit int) (int, error)
}
