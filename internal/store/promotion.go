package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// PipelineRecord is a stored Pipeline document of an application: the JSON
// of its config.PipelineSpec.
type PipelineRecord struct {
	ClientID  string          `json:"client_id"`
	App       string          `json:"app"`
	Document  json.RawMessage `json:"document"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// ApprovalClassPromotion is the approval class of a promotion's approval
// request: it is about no drift, so passes of the stack leave it alone.
const ApprovalClassPromotion = "promotion"

// PromotionStatus is where a promotion is in its life.
type PromotionStatus string

// The promotion statuses. The first three are unfinished: a process that
// starts finds them (PromotionQuery.Unfinished) and resumes or rolls back.
const (
	// PromotionAwaitingApproval: the target environment needs a person's
	// approval (ApprovalID) before anything is applied.
	PromotionAwaitingApproval PromotionStatus = "awaiting_approval"
	// PromotionApplying: the target's new desired state is being written.
	PromotionApplying PromotionStatus = "applying"
	// PromotionVerifying: applied (NewVersion); waiting for a pass of the
	// target that observed NewVersion.
	PromotionVerifying PromotionStatus = "verifying"
	// PromotionSucceeded: verified.
	PromotionSucceeded PromotionStatus = "succeeded"
	// PromotionRolledBack: verification failed (or the promotion was
	// interrupted) and the target was returned to PreviousVersion.
	PromotionRolledBack PromotionStatus = "rolled_back"
	// PromotionFailed: it could not finish, nor roll back (Error says
	// why); the target needs a person.
	PromotionFailed PromotionStatus = "failed"
	// PromotionRejected: the approval was rejected or expired; nothing was
	// applied.
	PromotionRejected PromotionStatus = "rejected"
)

// Unfinished reports whether a promotion in status s still has work to do.
func (s PromotionStatus) Unfinished() bool {
	return s == PromotionAwaitingApproval || s == PromotionApplying || s == PromotionVerifying
}

// Promotion is one promotion of an application's release from one
// environment to the next: what was asked, what was applied, the evidence
// it was judged on.
type Promotion struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	App      string `json:"app"`
	// From and To are environments; FromStack and ToStack their stacks.
	From      string `json:"from"`
	To        string `json:"to"`
	FromStack string `json:"from_stack"`
	ToStack   string `json:"to_stack"`
	// FromVersion is the source's state version promoted.
	FromVersion string `json:"from_version"`
	// PreviousVersion is the target's version before; NewVersion the
	// version the promotion made (empty until applied).
	PreviousVersion string          `json:"previous_version"`
	NewVersion      string          `json:"new_version,omitempty"`
	Status          PromotionStatus `json:"status"`
	// Plan is the change to the target's desired state (a plan's diff).
	Plan       json.RawMessage `json:"plan,omitempty"`
	ApprovalID string          `json:"approval_id,omitempty"`
	// Evidence is what verification judged on: the pass that observed
	// NewVersion (or what failed).
	Evidence    json.RawMessage `json:"evidence,omitempty"`
	Error       string          `json:"error,omitempty"`
	RequestedBy string          `json:"requested_by"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`
	// Revision increases on every write (UpdatePromotion's optimistic
	// check).
	Revision int64 `json:"revision"`
}

// PromotionQuery filters ListPromotions.
type PromotionQuery struct {
	// ClientID is required unless Unfinished is set.
	ClientID string
	App      string
	// Unfinished lists only promotions whose status is Unfinished.
	Unfinished bool
	Cursor     string
	Limit      int
}

// ErrPromotionOpen: an unfinished promotion into the same stack exists.
var ErrPromotionOpen = errors.New("a promotion into this stack is under way")

// PromotionStore holds pipelines and promotions.
type PromotionStore interface {
	// PutPipeline upserts a pipeline document for (client, app).
	PutPipeline(ctx context.Context, p PipelineRecord) error
	// ListPipelines returns the client's pipelines by app.
	ListPipelines(ctx context.Context, clientID string) ([]PipelineRecord, error)
	// CreatePromotion writes a new promotion (Revision 1), with approval
	// (when not nil: a request for a person, as a pass writes them) and
	// audit in one transaction. ErrPromotionOpen when an unfinished
	// promotion into p.ToStack exists (nothing is written then).
	CreatePromotion(ctx context.Context, p Promotion, approval *Approval, audit []AuditEntry) (Promotion, error)
	// UpdatePromotion writes a promotion whose Revision equals the stored
	// one, with audit, in one transaction, and returns it with the new
	// Revision; ErrConflict when the revision is stale, ErrNotFound when
	// there is no such promotion.
	UpdatePromotion(ctx context.Context, p Promotion, audit []AuditEntry) (Promotion, error)
	// GetPromotion returns one promotion of the client, or ErrNotFound.
	GetPromotion(ctx context.Context, clientID, id string) (Promotion, error)
	// ListPromotions lists promotions newest first (CreatedAt, then ID),
	// cursor-paginated.
	ListPromotions(ctx context.Context, q PromotionQuery) ([]Promotion, Page, error)
}

// PromotionKey is the cursor key of ListPromotions: created_at and id.
func PromotionKey(p Promotion) []any { return []any{Truncate(p.CreatedAt).UnixMicro(), p.ID} }

// CheckPromotion validates a promotion before it is written.
func CheckPromotion(p Promotion) error {
	switch {
	case p.ID == "" || p.ClientID == "" || p.App == "" || p.ToStack == "":
		return fmt.Errorf("%w: a promotion needs id, client, app and target stack", ErrInvalid)
	case p.Status == "":
		return fmt.Errorf("%w: promotion %s has no status", ErrInvalid, p.ID)
	}
	return nil
}

// DecodePromotion reads a stored promotion document.
func DecodePromotion(doc string) (Promotion, error) {
	var p Promotion
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return Promotion{}, fmt.Errorf("decode promotion: %w", err)
	}
	return p, nil
}

// Stored is p as the store keeps it: times at the store's precision, UTC.
func (p Promotion) Stored() Promotion {
	p.CreatedAt, p.UpdatedAt = Truncate(p.CreatedAt), Truncate(p.UpdatedAt)
	if p.CompletedAt != nil {
		t := Truncate(*p.CompletedAt)
		p.CompletedAt = &t
	}
	return p
}
