package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// The checks, defaults and JSON documents of state records, shared by the
// drivers: they decide what ApplyDesired, UpdateState and PutPolicy
// store, the drivers only how.

// FirstStateVersion is the StateVersion of a stack ApplyDesired creates.
const FirstStateVersion = "v1.0.0"

// CheckDesired validates the input of ApplyDesired: every stack has client
// and stack ids, a hash and a document that is JSON.
func CheckDesired(in []DesiredInput) error {
	for _, d := range in {
		if d.ClientID == "" || d.StackID == "" {
			return fmt.Errorf("apply desired: client and stack ids are required (got %q/%q)", d.ClientID, d.StackID)
		}
		if d.Hash == "" {
			return fmt.Errorf("apply desired %s/%s: hash is required", d.ClientID, d.StackID)
		}
		if !json.Valid(d.Document) {
			return fmt.Errorf("apply desired %s/%s: document is not valid JSON", d.ClientID, d.StackID)
		}
	}
	return nil
}

// NewState is the record ApplyDesired stores for a stack it creates at
// now: FirstStateVersion, reconciling (a new stack is not drifting: its
// state is not known until its first pass), no drift, never verified,
// AppliedHash empty (no pass has run yet), revision 1.
func NewState(d DesiredInput, now time.Time) StateRecord {
	return StateRecord{
		ClientID: d.ClientID, StackID: d.StackID, Environment: d.Environment,
		DesiredHash: d.Hash, StateVersion: FirstStateVersion, PreviousVersions: []string{},
		Desired: d.Document, Resources: d.Resources,
		CreatedAt: now, UpdatedAt: now,
		Status: StatusReconciling, DriftDetails: []drift.Drift{},
		ReconciliationPolicy: d.Policy, Observability: d.Observability,
		Revision: 1,
	}
}

// NextMinorVersion is the StateVersion after v when the desired hash
// changes: "vX.Y.Z" becomes "vX.(Y+1).0".
func NextMinorVersion(v string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 || !strings.HasPrefix(v, "v") {
		return "", fmt.Errorf("state version %q is not vMAJOR.MINOR.PATCH", v)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return "", fmt.Errorf("state version %q is not vMAJOR.MINOR.PATCH", v)
		}
		n[i] = x
	}
	return fmt.Sprintf("v%d.%d.0", n[0], n[1]+1), nil
}

// StoredDesired is what ApplyDesired reads of a stored stack to decide
// what to write (DecideApply): its version, hash and environment, and its
// summaries as stored (JSON).
type StoredDesired struct {
	Version, Hash, Environment       string
	Resources, Policy, Observability string
}

// ApplyAction is what ApplyDesired does to a stored stack.
type ApplyAction int

// The actions of DecideApply.
const (
	// ApplyNothing: the input is what is stored; nothing is written.
	ApplyNothing ApplyAction = iota
	// ApplySummaries: the same document and environment, other summaries
	// (a policy changed, not the stack): the resources, policy and
	// observability summaries are updated in place, no new version.
	ApplySummaries
	// ApplyChange: another document or environment: a new version.
	ApplyChange
)

// DecideApply says what ApplyDesired does with input d of a stored stack
// cur. The environment is part of the desired state: a new one is a new
// version even with the same document.
func DecideApply(cur StoredDesired, d DesiredInput) (ApplyAction, StateDocs, error) {
	docs, err := EncodeStateDocs(StateRecord{ClientID: d.ClientID, StackID: d.StackID,
		Resources: d.Resources, ReconciliationPolicy: d.Policy, Observability: d.Observability})
	if err != nil {
		return ApplyNothing, StateDocs{}, err
	}
	switch {
	case cur.Hash != d.Hash || cur.Environment != d.Environment:
		return ApplyChange, docs, nil
	case cur.Resources != docs.Resources || cur.Policy != docs.Policy || cur.Observability != docs.Observability:
		return ApplySummaries, docs, nil
	}
	return ApplyNothing, docs, nil
}

// CheckPolicy validates a policy for PutPolicy: it has a client id and a
// document that is JSON.
func CheckPolicy(p PolicyRecord) error {
	if p.ClientID == "" {
		return errors.New("put policy: client id is required")
	}
	if !json.Valid(p.Document) {
		return fmt.Errorf("put policy %s/%s: document is not valid JSON", p.ClientID, p.StackID)
	}
	return nil
}

// TruncateDrift gives a drift's times the precision they are stored with
// (Truncate).
func TruncateDrift(d drift.Drift) drift.Drift {
	d.DetectedAt = Truncate(d.DetectedAt)
	d.FirstSeen = Truncate(d.FirstSeen)
	d.LastSeen = Truncate(d.LastSeen)
	if d.ResolvedAt != nil {
		t := Truncate(*d.ResolvedAt)
		d.ResolvedAt = &t
	}
	return d
}

// truncateLastKnown returns k with its times as they are stored
// (Truncate), in maps of its own.
func truncateLastKnown(k drift.LastKnown) drift.LastKnown {
	trunc := func(m map[string]drift.Sighting) map[string]drift.Sighting {
		if m == nil {
			return nil
		}
		out := make(map[string]drift.Sighting, len(m))
		for name, s := range m {
			for _, p := range []**time.Time{&s.SeenAt, &s.UnknownSince} {
				if *p != nil {
					t := Truncate(**p)
					*p = &t
				}
			}
			out[name] = s
		}
		return out
	}
	k.Providers, k.Resources = trunc(k.Providers), trunc(k.Resources)
	return k
}

// StateDocs are the columns of a states row that both drivers store as
// JSON text.
type StateDocs struct {
	PreviousVersions string
	Resources        string
	DriftDetails     string
	Policy           string
	Observability    string
	LastKnown        string
}

// EncodeStateDocs encodes the JSON columns of rec, after checking that its
// Desired document (stored as given) is JSON. Drift times inside
// DriftDetails are truncated like every stored time.
func EncodeStateDocs(rec StateRecord) (StateDocs, error) {
	if len(rec.Desired) > 0 && !json.Valid(rec.Desired) {
		return StateDocs{}, fmt.Errorf("state %s: desired is not valid JSON", rec.Key())
	}
	details := rec.DriftDetails
	if details != nil {
		details = make([]drift.Drift, len(rec.DriftDetails))
		for i, d := range rec.DriftDetails {
			details[i] = TruncateDrift(d)
		}
	}
	var docs StateDocs
	for _, f := range []struct {
		dst *string
		v   any
	}{
		{&docs.PreviousVersions, rec.PreviousVersions},
		{&docs.Resources, rec.Resources},
		{&docs.DriftDetails, details},
		{&docs.Policy, rec.ReconciliationPolicy},
		{&docs.Observability, rec.Observability},
		{&docs.LastKnown, truncateLastKnown(rec.LastKnown)},
	} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return StateDocs{}, fmt.Errorf("state %s: %w", rec.Key(), err)
		}
		*f.dst = string(b)
	}
	return docs, nil
}

// Decode decodes the documents into rec, whose ClientID and StackID name it
// in errors.
func (docs StateDocs) Decode(rec *StateRecord) error {
	for _, f := range []struct {
		src string
		v   any
	}{
		{docs.PreviousVersions, &rec.PreviousVersions},
		{docs.Resources, &rec.Resources},
		{docs.DriftDetails, &rec.DriftDetails},
		{docs.Policy, &rec.ReconciliationPolicy},
		{docs.Observability, &rec.Observability},
		{docs.LastKnown, &rec.LastKnown},
	} {
		if err := json.Unmarshal([]byte(f.src), f.v); err != nil {
			return fmt.Errorf("decode state %s: %w", rec.Key(), err)
		}
	}
	return nil
}

// StoredState returns rec, just written with the Desired column desired and
// the documents docs, as GetState will read it back, without decoding every
// column: Desired nil when empty, the drift details decoded (their Expected
// and Observed read back as JSON values), slices and maps copied (they
// round-trip through JSON exactly). The driver sets the times and Revision
// as stored.
func StoredState(rec StateRecord, desired string, docs StateDocs) (StateRecord, error) {
	if len(rec.Desired) == 0 {
		rec.Desired = nil
	} else {
		rec.Desired = json.RawMessage(desired)
	}
	rec.PreviousVersions = slices.Clone(rec.PreviousVersions)
	rec.Resources = maps.Clone(rec.Resources)
	rec.ReconciliationPolicy.RequireApproval = slices.Clone(rec.ReconciliationPolicy.RequireApproval)
	rec.Observability.AlertChannels = slices.Clone(rec.Observability.AlertChannels)
	if docs.LastKnown != "" {
		// Decoded, as a read does: its times come back as JSON gives them.
		rec.LastKnown = drift.LastKnown{}
		if err := json.Unmarshal([]byte(docs.LastKnown), &rec.LastKnown); err != nil {
			return StateRecord{}, fmt.Errorf("decode state %s: %w", rec.Key(), err)
		}
	}
	if len(rec.DriftDetails) > 0 {
		rec.DriftDetails = nil
		if err := json.Unmarshal([]byte(docs.DriftDetails), &rec.DriftDetails); err != nil {
			return StateRecord{}, fmt.Errorf("decode state %s: %w", rec.Key(), err)
		}
	} else {
		rec.DriftDetails = slices.Clone(rec.DriftDetails)
	}
	return rec, nil
}
