package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// ComplianceStore holds the organisation's policy and the compliance
// timeline: for each (rule, stack), segments of time with one status
// (internal/compliance; docs/POLICY.md).
type ComplianceStore interface {
	// PutOrganizationPolicy replaces the organisation's policy document.
	PutOrganizationPolicy(ctx context.Context, p OrganizationPolicyRecord) error
	// GetOrganizationPolicy returns it, or ErrNotFound when none was ever
	// applied.
	GetOrganizationPolicy(ctx context.Context) (OrganizationPolicyRecord, error)
	// SwapOrganizationPolicy replaces the organisation's policy with p
	// only if the stored one is still old (its name and document as
	// GetOrganizationPolicy returned them): a compare-and-swap, so that
	// two read-modify-writes at once (exceptions added on two replicas)
	// cannot both succeed and one silently lose the other's change. It
	// fails with ErrConflict, writing nothing, when the stored policy is
	// another (or none).
	SwapOrganizationPolicy(ctx context.Context, old, p OrganizationPolicyRecord) error
	// RecordCompliance writes one evaluation of a stack in one transaction
	// (PlanCompliance says what changes): a rule whose open segment has
	// another status is closed at w.At and a new segment opened; with
	// w.Complete, the open segments of rules absent from w.Results are
	// closed. It returns how many segments it opened or closed (0 when the
	// statuses are as stored: nothing is written). The caller hands
	// w.Results over: it does not change the slice afterwards, and a
	// store may keep it (the compliance recorder allocates each write's).
	RecordCompliance(ctx context.Context, w ComplianceWrite) (int, error)
	// ListCompliance lists segments ordered by Seq, cursor-paginated.
	ListCompliance(ctx context.Context, q ComplianceQuery) ([]ComplianceSegment, Page, error)
}

// OrganizationPolicyRecord is the stored OrganizationPolicy: its name and
// its spec as JSON.
type OrganizationPolicyRecord struct {
	Name      string          `json:"name"`
	Document  json.RawMessage `json:"document"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// ComplianceSegment is a span of time during which a rule had one status
// for a stack. EndedAt is nil for the current one.
type ComplianceSegment struct {
	Seq       int64      `json:"seq"`
	ClientID  string     `json:"client_id"`
	StackID   string     `json:"stack_id"`
	Rule      string     `json:"rule"`
	Mode      string     `json:"mode"`
	Status    string     `json:"status"`
	Message   string     `json:"message,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// ComplianceResult is one rule's status in an evaluation.
type ComplianceResult struct {
	Rule, Mode, Status, Message string
}

// ComplianceWrite is one evaluation of a stack at At.
type ComplianceWrite struct {
	ClientID, StackID string
	At                time.Time
	Results           []ComplianceResult
	// Complete: Results are every rule that applies to the stack now, so
	// the open segments of other rules end (a rule removed, a stack that
	// no longer matches, a stack deleted with no results).
	Complete bool
}

// ComplianceQuery selects segments: of a client (empty: every client),
// of a stack (empty: every stack), overlapping [From, To) (zero: open
// bounds); only open ones with OpenOnly.
type ComplianceQuery struct {
	ClientID, StackID string
	From, To          time.Time
	OpenOnly          bool
	Cursor            string
	Limit             int
}

// CompliancePlan is what RecordCompliance writes: segments to close (by
// Seq) at At and segments to open.
type CompliancePlan struct {
	Close []int64
	Open  []ComplianceSegment
}

// Empty reports whether the plan writes nothing.
func (p CompliancePlan) Empty() bool { return len(p.Close) == 0 && len(p.Open) == 0 }

// PlanCompliance compares an evaluation with the stack's open segments.
// Results that repeat a rule keep the first.
func PlanCompliance(open []ComplianceSegment, w ComplianceWrite) CompliancePlan {
	var p CompliancePlan
	byRule := make(map[string]ComplianceSegment, len(open))
	for _, s := range open {
		byRule[s.Rule] = s
	}
	seen := make(map[string]bool, len(w.Results))
	for _, r := range w.Results {
		if seen[r.Rule] {
			continue
		}
		seen[r.Rule] = true
		cur, ok := byRule[r.Rule]
		if ok && cur.Status == r.Status && cur.Mode == r.Mode {
			continue
		}
		if ok {
			p.Close = append(p.Close, cur.Seq)
		}
		p.Open = append(p.Open, ComplianceSegment{ClientID: w.ClientID, StackID: w.StackID, Rule: r.Rule, Mode: r.Mode,
			Status: r.Status, Message: r.Message, StartedAt: Truncate(w.At)})
	}
	if w.Complete {
		for _, s := range open {
			if !seen[s.Rule] {
				p.Close = append(p.Close, s.Seq)
			}
		}
	}
	slices.Sort(p.Close)
	return p
}

// CheckComplianceWrite validates a write.
func CheckComplianceWrite(w ComplianceWrite) error {
	if w.ClientID == "" || w.StackID == "" {
		return fmt.Errorf("record compliance: client and stack are required")
	}
	if w.At.IsZero() {
		return fmt.Errorf("record compliance %s/%s: the time is required", w.ClientID, w.StackID)
	}
	for _, r := range w.Results {
		if r.Rule == "" || r.Status == "" {
			return fmt.Errorf("record compliance %s/%s: a result needs a rule and a status", w.ClientID, w.StackID)
		}
	}
	return nil
}

// ComplianceKey is the cursor key of ListCompliance: the segment's Seq.
func ComplianceKey(s ComplianceSegment) []any { return []any{s.Seq} }
