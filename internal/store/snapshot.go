package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxSnapshots is how many known-good snapshots a stack keeps: recording
// one more prunes the oldest (SnapshotStore.PutSnapshot).
const MaxSnapshots = 20

// Snapshot is a stack's known-good snapshot: what a verified pass (no open
// drift, every probe healthy) saw the providers run at the desired state
// version in force. A rollback restores it; promotion carries it between
// environments (a release bundle).
type Snapshot struct {
	// ID is "snap-" and the first 16 hex digits of the SHA-256 of the
	// stack, the version, the desired hash and the components
	// (SnapshotID): the same state seen again is the same snapshot.
	ID          string `json:"id"`
	ClientID    string `json:"client_id"`
	StackID     string `json:"stack_id"`
	Version     string `json:"state_version"`
	DesiredHash string `json:"desired_hash"`
	// TakenAt is when a pass first saw it, ConfirmedAt the last.
	TakenAt     time.Time `json:"taken_at"`
	ConfirmedAt time.Time `json:"confirmed_at"`
	// ReconciliationID is the pass that first saw it.
	ReconciliationID string             `json:"reconciliation_id,omitempty"`
	Components       SnapshotComponents `json:"components"`
}

// SnapshotComponents are what the providers ran.
type SnapshotComponents struct {
	// Build is the deployed build (nil: the stack's build names no deploy
	// API and no source version is known).
	Build *BuildSnapshot `json:"build,omitempty"`
	// CMSAlias is the CMS environment alias and its target (nil: the
	// binding names no alias).
	CMSAlias *AliasSnapshot `json:"cms_alias,omitempty"`
	// Subscriptions are the webhook subscriptions, by integration.
	Subscriptions []SubscriptionSnapshot `json:"subscriptions,omitempty"`
	// DNS are the answers of the stack's dns probes, by resource.
	DNS []DNSSnapshot `json:"dns,omitempty"`
}

// BuildSnapshot is the deployment serving the site, or the source
// version the last build ran.
type BuildSnapshot struct {
	Driver string `json:"driver"`
	// Host and DeployID: the deploy API's live deployment (driver hook).
	Host     string `json:"host,omitempty"`
	DeployID string `json:"deploy_id,omitempty"`
	// SourceVersion is the commit built (codebuild; or the host's commit).
	SourceVersion string `json:"source_version,omitempty"`
}

// AliasSnapshot is a CMS environment alias and its target environment.
type AliasSnapshot struct {
	Role        string `json:"role"`
	Provider    string `json:"provider"`
	Alias       string `json:"alias"`
	Environment string `json:"environment"`
}

// SubscriptionSnapshot is one webhook subscription as observed.
type SubscriptionSnapshot struct {
	Integration string   `json:"integration"`
	Role        string   `json:"role"`
	ID          string   `json:"id"`
	Topics      []string `json:"topics,omitempty"`
	APIVersion  string   `json:"api_version,omitempty"`
}

// DNSSnapshot is what a dns probe answered.
type DNSSnapshot struct {
	Resource string   `json:"resource"`
	Answers  []string `json:"answers"`
}

// SnapshotID is the content address of a snapshot (see Snapshot.ID).
func SnapshotID(s Snapshot) string {
	c, _ := json.Marshal(s.Components)
	sum := sha256.Sum256([]byte(s.ClientID + "\x00" + s.StackID + "\x00" + s.Version + "\x00" + s.DesiredHash + "\x00" + string(c)))
	return "snap-" + hex.EncodeToString(sum[:8])
}

// CheckSnapshot validates a snapshot before it is stored.
func CheckSnapshot(s Snapshot) error {
	switch {
	case s.ClientID == "" || s.StackID == "" || s.Version == "":
		return errors.New("snapshot: client, stack and version are required")
	case s.ID != SnapshotID(s):
		return fmt.Errorf("snapshot %s: id is not its content address %s", s.ID, SnapshotID(s))
	case s.TakenAt.IsZero():
		return fmt.Errorf("snapshot %s: taken_at is required", s.ID)
	}
	return nil
}

// Rollback statuses.
const (
	RollbackRunning  = "running"
	RollbackVerified = "verified"
	RollbackFailed   = "failed"
)

// RollbackRecord is the stored progress of a rollback across providers:
// written before each step and after it, so a rollback interrupted by a
// crash resumes on restart where it stopped.
type RollbackRecord struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	// SnapshotID is the snapshot restored; RestoredVersion its version.
	SnapshotID      string `json:"snapshot_id"`
	RestoredVersion string `json:"restored_version"`
	// NewVersion is the version the restored desired state became (set
	// once the desired-state step is done).
	NewVersion string `json:"new_version,omitempty"`
	// Hold is the pin asked for (a duration, "" for none).
	Hold   string         `json:"hold,omitempty"`
	By     string         `json:"by"`
	Status string         `json:"status"`
	Steps  []RollbackStep `json:"steps"`
	// Error says why a failed rollback failed.
	Error     string    `json:"error,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RollbackStep is one component of a rollback and its outcome.
type RollbackStep struct {
	Component string `json:"component"`
	// Outcome is "pending", "restored", "unchanged" (it matched the
	// snapshot already), "skipped" (nothing recorded to restore) or
	// "failed".
	Outcome string     `json:"outcome"`
	Detail  string     `json:"detail,omitempty"`
	At      *time.Time `json:"at,omitempty"`
}

// SnapshotStore holds known-good snapshots and rollback records.
type SnapshotStore interface {
	// PutSnapshot stores a snapshot (CheckSnapshot): a new ID is inserted,
	// a known one gets its ConfirmedAt moved forward. A stack keeps its
	// MaxSnapshots newest snapshots (by TakenAt, then ID) and the one its
	// hold names (StateRecord.Hold.Snapshot); older ones are pruned in the
	// same transaction. It returns the snapshot as stored.
	PutSnapshot(ctx context.Context, s Snapshot) (Snapshot, error)
	// GetSnapshot returns a snapshot by id, whatever its stack (the
	// caller checks it is the client's), or ErrNotFound.
	GetSnapshot(ctx context.Context, id string) (Snapshot, error)
	// ListSnapshots lists a stack's snapshots, newest TakenAt first.
	ListSnapshots(ctx context.Context, clientID, stackID string) ([]Snapshot, error)
	// PutRollback upserts a rollback record by ID.
	PutRollback(ctx context.Context, r RollbackRecord) error
	// ListRollbacks lists rollback records, newest StartedAt first: of a
	// stack (clientID and stackID), of a client (stackID empty), or every
	// client's (both empty); running only when running is set.
	ListRollbacks(ctx context.Context, clientID, stackID string, running bool) ([]RollbackRecord, error)
}
