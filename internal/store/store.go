// Package store defines the one interface through which every durable fact
// of blackwell passes, and the records it holds. Drivers live in sub-packages
// (sqlite, the embedded default, and postgres, for several replicas);
// storetest is the conformance suite every driver must pass.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// Sentinel errors. Drivers translate their own errors into these.
var (
	// ErrNotFound: the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: an optimistic-concurrency check lost a race (the record
	// changed since it was read).
	ErrConflict = errors.New("conflict")
)

// Status of a stack.
type Status string

// The stack statuses of the spec's StateRecord.
const (
	StatusHealthy       Status = "healthy"
	StatusDriftDetected Status = "drift_detected"
	StatusReconciling   Status = "reconciling"
	StatusError         Status = "error"
)

// StateRecord is the spec's StateRecord, every field, plus the desired
// document itself and a revision for optimistic concurrency.
type StateRecord struct {
	ClientID    string `json:"client_id"`
	StackID     string `json:"stack_id"`
	Environment string `json:"environment"`

	DesiredHash      string   `json:"desired_hash"`
	AppliedHash      string   `json:"applied_hash"`
	StateVersion     string   `json:"state_version"`
	PreviousVersions []string `json:"previous_versions"`
	// Desired is the canonical JSON of the current desired StackSpec.
	Desired json.RawMessage `json:"desired"`

	Resources map[string]string `json:"resources"`

	LastApplied  *time.Time `json:"last_applied"`
	LastVerified *time.Time `json:"last_verified"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`

	Status       Status        `json:"status"`
	DriftDetails []drift.Drift `json:"drift_details"`
	// LastError is the error of the last failed pass, empty after a good one.
	LastError string `json:"last_error,omitempty"`

	ReconciliationPolicy PolicySummary        `json:"reconciliation_policy"`
	Observability        ObservabilitySummary `json:"observability"`

	// LastKnown is what the passes last knew of each provider and resource
	// (and since when each has been unknown), with the count of completed
	// passes. Written by passes (CommitPass, UpdateState), never by
	// ApplyDesired, so a change of desired state keeps it.
	LastKnown drift.LastKnown `json:"last_known"`

	// Revision increases on every write; UpdateState and CommitPass fail with
	// ErrConflict when the caller's revision is not the stored one.
	Revision int64 `json:"revision"`

	// Hold pins the desired state (a rollback with a hold), nil when there
	// is none. Written by ApplyDesired and Unpin only (UpdateState and
	// CommitPass keep it); an expired hold stays until the next change.
	Hold *Hold `json:"hold,omitempty"`
}

// Hold pins a stack's desired state at a version restored by a rollback:
// until it ends, ApplyDesired leaves the stack's desired state as it is
// (a config applied on start, SIGHUP or through the API does not
// overwrite it), except with an input carrying a new hold.
type Hold struct {
	// Version is the state version pinned (the rollback's new version).
	Version string `json:"version"`
	// Restored is the version whose document the rollback restored.
	Restored string `json:"restored"`
	// Snapshot is the known-good snapshot the rollback restored, when it
	// restored one: while the hold lasts, a heal that would rebuild the
	// site makes that snapshot's deployment live again instead.
	Snapshot string    `json:"snapshot,omitempty"`
	Until    time.Time `json:"until"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// Active reports whether h holds at now (nil holds nothing).
func (h *Hold) Active(now time.Time) bool { return h != nil && now.Before(h.Until) }

// Key is "client_id/stack_id".
func (r StateRecord) Key() string { return r.ClientID + "/" + r.StackID }

// PolicySummary is the spec's StateRecord.reconciliation_policy.
type PolicySummary struct {
	AutoHeal        bool     `json:"auto_heal"`
	MaxHealAttempts int      `json:"max_heal_attempts"`
	HealBackoff     string   `json:"heal_backoff"`
	RequireApproval []string `json:"require_approval"`
}

// ObservabilitySummary is the spec's StateRecord.observability.
type ObservabilitySummary struct {
	MetricsEndpoint string   `json:"metrics_endpoint"`
	AlertChannels   []string `json:"alert_channels"`
}

// DesiredInput is one stack's desired state, as applied from config.
type DesiredInput struct {
	ClientID      string
	StackID       string
	Environment   string
	Hash          string          // SHA-256 of Document
	Document      json.RawMessage // canonical JSON of the StackSpec
	Resources     map[string]string
	Policy        PolicySummary
	Observability ObservabilitySummary
	AppliedBy     string
	// Hold, when set, pins the stack at the version this input makes
	// (ApplyDesired sets Hold.Version), replacing any hold, even when the
	// desired state is unchanged. Without it, a stack whose stored hold is
	// active keeps its desired document and environment (ApplyResult.Pinned).
	Hold *Hold
}

// ApplyResult says what ApplyDesired did for one stack.
type ApplyResult struct {
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	// Created: the stack did not exist before.
	Created bool `json:"created"`
	// Changed: the desired hash differed and a new version was written.
	Changed bool   `json:"changed"`
	Version string `json:"state_version"`
	Hash    string `json:"desired_hash"`
	// Pinned is the hold that kept the stack's desired state as it was:
	// the input would have changed it (Version and Hash are then the
	// stack's, not the input's).
	Pinned *Hold `json:"pinned,omitempty"`
}

// DesiredVersion is one stored version of a stack's desired document.
type DesiredVersion struct {
	ClientID  string          `json:"client_id"`
	StackID   string          `json:"stack_id"`
	Version   string          `json:"version"`
	Hash      string          `json:"desired_hash"`
	Document  json.RawMessage `json:"document"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

// HistoryPrune names the reconciliation results a retention sweep
// deletes: those that started before Before, of every client (ClientID
// empty) but the clients in Except; or of one client (StackID empty) but
// its stacks in Except; or of one stack. Except holds the clients or
// stacks whose retention is their own, swept by a query of their own.
type HistoryPrune struct {
	Before   time.Time
	ClientID string
	StackID  string
	Except   []string
}

// PolicyRecord is a stored ReconciliationPolicy document. StackID is empty
// for a client-wide policy.
type PolicyRecord struct {
	ClientID  string          `json:"client_id"`
	StackID   string          `json:"stack_id,omitempty"`
	Document  json.RawMessage `json:"document"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Event is the spec's EventMirrorRecord (a normalised ContentChangeEvent),
// with the raw payload kept.
type Event struct {
	EventID  string `json:"event_id"`
	ClientID string `json:"client_id"`
	// StackID is empty when the event concerns every stack of the client
	// that binds the provider.
	StackID      string    `json:"stack_id,omitempty"`
	ProviderName string    `json:"provider_name"`
	EventType    string    `json:"event_type"`
	ContentID    string    `json:"content_id"`
	ContentType  string    `json:"content_type,omitempty"`
	Timestamp    time.Time `json:"timestamp"`
	Environment  string    `json:"environment,omitempty"`
	// DriftChecked: a pass has seen the event (see Pass.CheckedThrough).
	// An event inserted with it set is checked from the start.
	DriftChecked bool            `json:"drift_checked"`
	Payload      json.RawMessage `json:"payload"`
	// ReceivedAt is when the event was committed.
	ReceivedAt   time.Time `json:"received_at"`
	TTLTimestamp int64     `json:"ttl_timestamp"`
}

// EventQuery filters ListEvents. Zero fields do not filter.
type EventQuery struct {
	ClientID     string
	ProviderName string
	EventType    string
	Since, Until time.Time // on Timestamp; Until exclusive
	Cursor       string
	Limit        int
}

// IngestEvent is one received webhook delivery as IngestEvents commits it:
// the event and, when the event concerns a content item, that item's state
// for the content cache.
type IngestEvent struct {
	Event Event
	// Content is nil for an event about no content item. Its ClientID and
	// EventID are taken from Event.
	Content *ContentItem
}

// ContentItem is a record of the Unified Content Cache: the latest known
// state of one content item of a client, as its provider reported it.
// Deletions are kept as tombstones, so a late delivery of an older state
// does not bring a deleted item back.
type ContentItem struct {
	ClientID     string `json:"client_id"`
	ProviderName string `json:"provider_name"`
	// Source is where the item lives at the provider: the Shopify shop
	// domain, the Sanity project and dataset, the Contentful space and
	// environment; empty when the provider does not say.
	Source      string `json:"source,omitempty"`
	ContentID   string `json:"content_id"`
	ContentType string `json:"content_type,omitempty"`
	// UpdatedAt is the provider's own time of this state of the item, and
	// Version its own version number where it has one (Contentful's
	// sys.version), else 0. Together they order the states of an item: see
	// Newer.
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`
	Deleted   bool      `json:"deleted"`
	// EventID is the event that brought this state; ReceivedAt when it was
	// committed.
	EventID    string    `json:"event_id"`
	ReceivedAt time.Time `json:"received_at"`
}

// Newer reports whether c is a newer state of the item than old: a later
// UpdatedAt, or the same UpdatedAt and a higher Version, or the same both
// and c a deletion of a live item (a delete and an edit in the same instant
// leave the item deleted). Times compare at the store's microsecond
// precision. The content cache keeps the newest state whatever order the
// deliveries arrive in.
func (c ContentItem) Newer(old ContentItem) bool {
	cu, ou := Truncate(c.UpdatedAt), Truncate(old.UpdatedAt)
	switch {
	case !cu.Equal(ou):
		return cu.After(ou)
	case c.Version != old.Version:
		return c.Version > old.Version
	default:
		return c.Deleted && !old.Deleted
	}
}

// ContentQuery filters ListContent. Zero fields do not filter.
type ContentQuery struct {
	ClientID     string
	ProviderName string
	ContentType  string
	ContentID    string
	// IncludeDeleted also lists tombstones.
	IncludeDeleted bool
	Cursor         string
	Limit          int
}

// Activity is the aggregate of a stack's events per provider, event type
// and content type, over whole hours: what observation reads instead of raw
// events. Drivers keep it as events are inserted (hourly buckets of
// Timestamp), so reading it costs a few rows whatever the event rate.
type Activity struct {
	ProviderName string    `json:"provider_name"`
	EventType    string    `json:"event_type"`
	ContentType  string    `json:"content_type"`
	Count        int       `json:"count"`
	Last         time.Time `json:"last"`
}

// ActivityBucket is the width of the buckets Activity is kept in:
// EventActivity's since is rounded down to a multiple of it.
const ActivityBucket = time.Hour

// ActivityReport is what a pass reads of a stack's events: EventActivity's
// answer.
type ActivityReport struct {
	// Activity is per provider, event type and content type, ordered by
	// them.
	Activity []Activity `json:"activity"`
	// Unchecked counts the events of the stack and of no stack, whatever
	// their Timestamp, that no pass has seen yet; OldestUnchecked is the
	// ReceivedAt of the first of them committed.
	Unchecked       int        `json:"unchecked"`
	OldestUnchecked *time.Time `json:"oldest_unchecked,omitempty"`
	// Mark is where this read of the events ended; zero when Unchecked is.
	// A pass that observed the report commits it as Pass.CheckedThrough.
	Mark EventMark `json:"mark"`
}

// EventMark is where a read of the events ended, opaque, in a driver's own
// terms (SQLite: a sequence number; PostgreSQL: a snapshot). Every event
// committed before the mark was read is covered by it; an event committed
// after is not. The zero mark covers nothing.
type EventMark string

// ResultStatus of a pass.
type ResultStatus string

// The spec's ReconciliationResult statuses.
const (
	ResultSuccess ResultStatus = "success"
	ResultFailed  ResultStatus = "failed"
	ResultPartial ResultStatus = "partial"
)

// ReconciliationResult is the spec's schema for one pass, plus the stack and
// the trigger.
type ReconciliationResult struct {
	ReconciliationID     string       `json:"reconciliation_id"`
	ClientID             string       `json:"client_id"`
	StackID              string       `json:"stack_id"`
	Trigger              string       `json:"trigger"`
	StartedAt            time.Time    `json:"started_at"`
	CompletedAt          time.Time    `json:"completed_at"`
	Status               ResultStatus `json:"status"`
	DriftDetected        bool         `json:"drift_detected"`
	DriftCount           int          `json:"drift_count"`
	AutoHealAttempted    bool         `json:"auto_heal_attempted"`
	AutoHealSuccessCount int          `json:"auto_heal_success_count"`
	Errors               []string     `json:"errors,omitempty"`
	StateVersion         string       `json:"state_version"`
}

// AuditEntry is the spec's audit entry, hash-chained: Hash covers the entry
// and PrevHash, so removing or altering any entry breaks the chain.
type AuditEntry struct {
	Seq              int64           `json:"seq"`
	Timestamp        time.Time       `json:"timestamp"`
	Action           string          `json:"action"`
	ClientID         string          `json:"client_id"`
	StackID          string          `json:"stack_id,omitempty"`
	TriggeredBy      string          `json:"triggered_by"`
	Success          bool            `json:"success"`
	ChangesMade      json.RawMessage `json:"changes_made,omitempty"`
	ApprovalRequired bool            `json:"approval_required"`
	Approver         string          `json:"approver,omitempty"`
	ReconciliationID string          `json:"reconciliation_id,omitempty"`
	DriftID          string          `json:"drift_id,omitempty"`
	PrevHash         string          `json:"prev_hash"`
	Hash             string          `json:"hash"`
}

// AuditQuery filters ListAudit.
type AuditQuery struct {
	ClientID string
	Action   string
	// Since and Until filter on Timestamp (Until exclusive); zero does not
	// filter.
	Since, Until time.Time
	Cursor       string
	Limit        int
	// Brief fills only Seq, Timestamp, Action, ClientID, StackID,
	// DriftID, ApprovalRequired and ChangesMade: about half the cost of a
	// row, for readers that compute from entries without verifying them
	// (the KPI report). A brief entry has no hashes: it cannot be checked.
	Brief bool
}

// Acknowledge is an acknowledgement of one open drift of a client, by a
// person, at a time.
type Acknowledge struct {
	ClientID string
	DriftID  string
	By       string
	At       time.Time
}

// DriftQuery filters ListDrifts.
type DriftQuery struct {
	ClientID string
	StackID  string // empty: every stack of the client
	// IncludeResolved also returns drifts that have cleared.
	IncludeResolved bool
}

// StackRef names a stack.
type StackRef struct{ ClientID, StackID string }

// StackApp is what sorting a client's stacks into applications needs of
// a stack (Store.ListStackApps), without its documents.
type StackApp struct {
	StackID, Environment string
	// App is the application the stack's desired document names (its
	// "app"), "" if it names none.
	App         string
	DesiredHash string
}

// AppNamed is the application a desired document names (its "app"), ""
// if none or if the document does not decode.
func AppNamed(doc json.RawMessage) string {
	var v struct {
		App string `json:"app"`
	}
	if len(doc) > 0 {
		_ = json.Unmarshal(doc, &v)
	}
	return v.App
}

// ShardStacksQuery selects a page of one shard's stacks
// (Store.ListShardStacks).
type ShardStacksQuery struct {
	Shard  int
	Cursor string
	Limit  int
}

// Key is "client/stack".
func (r StackRef) Key() string { return r.ClientID + "/" + r.StackID }

// PassInput is what a reconcile pass reads of a stack before it observes:
// LoadPass.
type PassInput struct {
	State StateRecord
	// Drifts are the stack's open drifts, by id.
	Drifts []drift.Drift
	// Activity is EventActivity of the stack since the pass's window.
	Activity ActivityReport
	// Forecasts are the stack's open forecasts (ListForecasts), read here
	// so that the forecast hook after the pass needs no read of its own.
	Forecasts []forecast.Forecast
}

// Pass is everything one reconcile pass writes, committed in one transaction.
type Pass struct {
	// State is the new state record; its Revision must equal the stored one.
	State StateRecord
	// Drifts are the drifts open after this pass (new or still present), with
	// their lifecycle fields already updated. Open drifts of the stack not in
	// this list are resolved at Result.CompletedAt.
	Drifts []drift.Drift
	Result ReconciliationResult
	Audit  []AuditEntry
	// CheckedThrough is the Mark of the ActivityReport the pass observed:
	// the events of the stack and of no stack before it become
	// drift_checked. Zero marks nothing.
	CheckedThrough EventMark
	// Heals are new heal attempts; one whose ID is stored already is not
	// written again. An attempt with an ApprovalID is stored only while
	// that approval is approved, and marks it executed (HealID set).
	Heals []HealAttempt
	// HealUpdates are verdicts on stored attempts (see HealUpdate).
	HealUpdates []HealUpdate
	// Approvals are new approval requests; one for a drift that has a
	// pending or approved request already is not written.
	Approvals []Approval
	// RetiredApprovals are ids of the stack's approval requests that no
	// longer apply (their drift cleared, or came back as a new
	// occurrence): those still pending or approved become expired, before
	// Approvals are written.
	RetiredApprovals []string
	// Fence, when set, makes the commit conditional on the stack's shard
	// lease: it writes only while the lease row of Fence.Shard has
	// Fence.Owner and Fence.Epoch and has not expired at
	// Result.CompletedAt; otherwise it fails with ErrFenced and writes
	// nothing. A replica that lost its lease (paused, partitioned) cannot
	// commit a pass, nor the heal attempts the pass decided, afterwards.
	Fence *Fence
	// Stream are the pass's events of the stream log (its result, heal
	// verdicts), written last; Seq and CreatedAt are assigned.
	Stream []StreamEvent
}

// Page is a cursor for the next page; empty when there is none.
type Page = string

// Store is every durable fact of blackwell. Methods are safe for concurrent
// use. Errors are ErrNotFound and ErrConflict as documented, or wrapped
// driver errors.
type Store interface {
	Heals // heal attempts as jobs, approvals, drift returns (heal.go)

	OutboxStore // audit-log subscribers and the notification outbox (outbox.go)

	TokenStore          // API tokens (tokens.go)
	AuditRetentionStore // pruning the audit chain behind a checkpoint (audit_checkpoint.go)
	AuditHeadStore      // signed heads of the audit chain (audit_head.go)

	Ops // schema version, export and import of rows (ops.go)

	PayloadStore // data keys, sealed payloads, erasure (payload.go)
	Dashboards   // aggregates for the built-in dashboards (dashboard.go)

	Leases // shard leases, replica heartbeats, trigger notifications (lease.go)

	ForecastStore  // forecasts of drift (forecast.go)
	StreamStore    // the stream log of the live event stream (stream.go)
	PromotionStore // pipelines and promotions of applications (promotion.go)
	SnapshotStore  // known-good snapshots and rollback records (snapshot.go)

	ComplianceStore // the organisation's policy and the compliance timeline (compliance.go)

	// ApplyDesired upserts stacks' desired state in one transaction. A stack
	// whose Hash or Environment changed gets a new DesiredVersion with the
	// semver minor bumped (v1.0.0 for a new stack), the old version
	// appended to PreviousVersions; an unchanged one gets only the
	// summaries that differ (DecideApply). A stack under an active Hold
	// keeps its desired state unless the input carries a hold of its own
	// (ApplyResult.Pinned says so); a change clears an expired hold.
	ApplyDesired(ctx context.Context, in []DesiredInput) ([]ApplyResult, error)
	// Unpin removes a stack's hold, returning it (nil when there was none,
	// and nothing is written). ErrNotFound when there is no such stack.
	Unpin(ctx context.Context, clientID, stackID string) (*Hold, error)
	// DeleteStack removes a stack in one transaction: its state record and
	// its own policy go; its open drifts are resolved, its open forecasts
	// cleared, its pending heal attempts cancelled and its pending approval
	// requests closed, and
	// d.Audit's entries appended. Its history stays: desired versions,
	// reconciliation results, events, drifts, heals and audit entries.
	// ErrNotFound when there is no such stack (nothing is written).
	DeleteStack(ctx context.Context, d StackDeletion) (StackDeleted, error)
	// GetState returns one stack's record, or ErrNotFound.
	GetState(ctx context.Context, clientID, stackID string) (StateRecord, error)
	// ListStates lists a page of stacks ordered by client then stack;
	// clientID filters when not empty. AllStates reads every page.
	ListStates(ctx context.Context, clientID, cursor string, limit int) ([]StateRecord, Page, error)
	// ListStackRefs lists the stacks as ListStates does (same order and
	// cursors, every client), their names only: enumerating stacks reads
	// no documents.
	ListStackRefs(ctx context.Context, cursor string, limit int) ([]StackRef, Page, error)
	// ListStackApps lists every stack of one client by stack id with its
	// environment, the application its document names and its desired
	// hash: sorting a client's stacks into applications reads no
	// documents into the caller.
	ListStackApps(ctx context.Context, clientID string) ([]StackApp, error)
	// ListShardStacks lists the stacks of one shard (ShardOf) as
	// ListStackRefs does (by client and stack, with its cursors), at a
	// cost of the rows it returns: a replica that gains shards lists
	// theirs, not every stack. A shard out of [0, Shards) is an error.
	ListShardStacks(ctx context.Context, q ShardStacksQuery) ([]StackRef, Page, error)
	// UpdateState writes a record whose Revision equals the stored one and
	// returns it with the new Revision; ErrConflict if it does not match,
	// ErrNotFound if the stack does not exist.
	UpdateState(ctx context.Context, rec StateRecord) (StateRecord, error)
	// GetDesiredVersion returns one version, or ErrNotFound.
	GetDesiredVersion(ctx context.Context, clientID, stackID, version string) (DesiredVersion, error)
	// ListDesiredVersions returns a stack's versions, newest first.
	ListDesiredVersions(ctx context.Context, clientID, stackID string) ([]DesiredVersion, error)

	// PutPolicy upserts a policy document for (client, stack).
	PutPolicy(ctx context.Context, p PolicyRecord) error
	// GetPolicy returns the policy for exactly (client, stack), or ErrNotFound.
	GetPolicy(ctx context.Context, clientID, stackID string) (PolicyRecord, error)
	// ListPolicies returns every policy of the client (its client-wide one
	// and its stacks'), by stack id: what a pass of any of its stacks may
	// need, in one read.
	ListPolicies(ctx context.Context, clientID string) ([]PolicyRecord, error)

	// InsertEvents commits events in one transaction. An event whose id is
	// already stored is not written again; inserted[i] says whether in[i] was
	// new. Duplicates within in count once.
	InsertEvents(ctx context.Context, in []Event) (inserted []bool, err error)
	// ListEvents answers newest first, cursor-paginated.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, Page, error)
	// EventActivity reads what a pass observes of the events of a client
	// that concern the stack (its own, and those with no stack): their
	// Activity with Timestamp >= since rounded down to ActivityBucket, and
	// those no pass has seen yet.
	EventActivity(ctx context.Context, clientID, stackID string, since time.Time) (ActivityReport, error)
	// IngestEvents commits received deliveries in one transaction,
	// durably: once it returns nil the records survive a crash of the
	// process and of the machine (a driver that relaxes durability for other
	// writes syncs these before returning), so a webhook may be acknowledged.
	// Events are deduplicated as by InsertEvents: inserted[i] says whether
	// in[i].Event was new, and the content of an event already stored is not
	// applied again. A new event's content item is upserted into the content
	// cache in the same transaction, only if it is Newer than the stored
	// state of the item (out-of-order deliveries never regress the cache).
	IngestEvents(ctx context.Context, in []IngestEvent) (inserted []bool, err error)
	// ListContent lists content items ordered by client, provider, source
	// and content id, cursor-paginated; tombstones only with
	// IncludeDeleted.
	ListContent(ctx context.Context, q ContentQuery) ([]ContentItem, Page, error)
	// DeleteExpiredEvents deletes up to limit (BatchLimit) events whose
	// TTLTimestamp is before now, returning how many it deleted.
	DeleteExpiredEvents(ctx context.Context, now time.Time, limit int) (int, error)

	// ListDrifts returns drifts ordered by stack then id.
	ListDrifts(ctx context.Context, q DriftQuery) ([]drift.Drift, error)
	// AcknowledgeDrift marks an open drift of the client acknowledged, or
	// ErrNotFound.
	AcknowledgeDrift(ctx context.Context, a Acknowledge) (drift.Drift, error)

	// LoadPass reads what a pass of the stack starts from: its state (or
	// ErrNotFound), its open drifts (as ListDrifts of the stack) and
	// EventActivity(clientID, stackID, since). A driver may read the
	// inputs of concurrent passes together.
	LoadPass(ctx context.Context, clientID, stackID string, since time.Time) (PassInput, error)
	// CommitPass writes a pass atomically: state (ErrConflict on a stale
	// revision, nothing written then), drifts, result, audit, checked
	// events, heal attempts and their verdicts, approval requests. A drift
	// of p.Drifts that is stored resolved is reopened, and that counts as a
	// return (DriftReturns). It returns the state as stored.
	CommitPass(ctx context.Context, p Pass) (StateRecord, error)
	// DeleteReconciliations deletes up to limit (BatchLimit) results that
	// q names (history retention), oldest first, returning
	// how many.
	DeleteReconciliations(ctx context.Context, q HistoryPrune, limit int) (int, error)
	// ListReconciliations returns results newest first; stackID filters when
	// not empty.
	ListReconciliations(ctx context.Context, clientID, stackID, cursor string, limit int) ([]ReconciliationResult, Page, error)

	// AppendAudit appends entries to the chain, filling Seq, PrevHash and Hash.
	AppendAudit(ctx context.Context, entries []AuditEntry) error
	// ListAudit returns entries oldest first, cursor-paginated.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, Page, error)

	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}
