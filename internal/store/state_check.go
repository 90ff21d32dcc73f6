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
// summaries and hold as stored (StateDocs).
type StoredDesired struct {
	Version, Hash, Environment             string
	Resources, Policy, Observability, Hold string
}

// ApplyAction is what ApplyDesired does to a stored stack.
type ApplyAction int

// The actions of DecideApply.
const (
	// ApplyNothing: the input is what is stored; nothing is written.
	ApplyNothing ApplyAction = iota
	// ApplyInPlace: the same desired state, other summaries (a policy
	// changed, not the stack) or a new hold: the resources, policy and
	// observability summaries and the hold are written, no new version.
	ApplyInPlace
	// ApplyChange: another document or environment: a new version.
	ApplyChange
)

// ApplyDecision is what ApplyDesired writes for one input of a stored
// stack.
type ApplyDecision struct {
	Action ApplyAction
	// Version is the stack's version after the write (the next one for
	// ApplyChange).
	Version string
	// Docs are the columns to write: the input's summaries, and the hold.
	Docs StateDocs
	// Pinned is the active hold that kept the stored desired state.
	Pinned *Hold
}

// DecideApply says what ApplyDesired does at now with input d of a stored
// stack cur. The environment is part of the desired state: a new one is a
// new version even with the same document. An active stored hold keeps
// the desired state unless d carries a hold of its own; a change clears
// an expired hold.
func DecideApply(cur StoredDesired, d DesiredInput, now time.Time) (ApplyDecision, error) {
	docs, err := EncodeStateDocs(StateRecord{ClientID: d.ClientID, StackID: d.StackID,
		Resources: d.Resources, ReconciliationPolicy: d.Policy, Observability: d.Observability})
	if err != nil {
		return ApplyDecision{}, err
	}
	dec := ApplyDecision{Version: cur.Version, Docs: docs}
	change := cur.Hash != d.Hash || cur.Environment != d.Environment
	if change && d.Hold == nil {
		held, err := DecodeHold(cur.Hold)
		if err != nil {
			return ApplyDecision{}, fmt.Errorf("state %s/%s: %w", d.ClientID, d.StackID, err)
		}
		if held.Active(now) {
			// Kept: the resources summary is the kept document's; the
			// policy and observability summaries are not pinned.
			change, dec.Pinned = false, held
			dec.Docs.Resources = cur.Resources
		}
	}
	switch {
	case change:
		if dec.Version, err = NextMinorVersion(cur.Version); err != nil {
			return ApplyDecision{}, fmt.Errorf("state %s/%s: %w", d.ClientID, d.StackID, err)
		}
		dec.Action = ApplyChange
	case cur.Resources != docs.Resources || cur.Policy != docs.Policy || cur.Observability != docs.Observability:
		dec.Action = ApplyInPlace
	}
	switch {
	case d.Hold != nil:
		if dec.Docs.Hold, err = EncodeHold(d.Hold.Pinning(dec.Version)); err != nil {
			return ApplyDecision{}, fmt.Errorf("state %s/%s: %w", d.ClientID, d.StackID, err)
		}
		if dec.Action == ApplyNothing {
			dec.Action = ApplyInPlace
		}
	case dec.Action == ApplyChange:
		dec.Docs.Hold = "" // an expired hold ends with the next change
	default:
		dec.Docs.Hold = cur.Hold
	}
	return dec, nil
}

// Pinning is h pinning version, its times truncated as stored (nil for
// nil).
func (h *Hold) Pinning(version string) *Hold {
	if h == nil {
		return nil
	}
	c := *h
	c.Version, c.Until, c.At = version, Truncate(h.Until), Truncate(h.At)
	return &c
}

// EncodeHold is the stored form of a hold: JSON, or "" for none.
func EncodeHold(h *Hold) (string, error) {
	if h == nil {
		return "", nil
	}
	b, err := json.Marshal(h.Pinning(h.Version)) // (h is not nil)
	if err != nil {
		return "", fmt.Errorf("encode hold: %w", err)
	}
	return string(b), nil
}

// DecodeHold reads a stored hold ("" is none).
func DecodeHold(doc string) (*Hold, error) {
	if doc == "" {
		return nil, nil
	}
	var h Hold
	if err := json.Unmarshal([]byte(doc), &h); err != nil {
		return nil, fmt.Errorf("decode hold: %w", err)
	}
	h.Until, h.At = h.Until.UTC(), h.At.UTC()
	return &h, nil
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
	// Hold is EncodeHold of the record's hold ("" for none).
	Hold string
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
	var err error
	if docs.Hold, err = EncodeHold(rec.Hold); err != nil {
		return StateDocs{}, fmt.Errorf("state %s: %w", rec.Key(), err)
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
	var err error
	if rec.Hold, err = DecodeHold(docs.Hold); err != nil {
		return fmt.Errorf("decode state %s: %w", rec.Key(), err)
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
	if rec.Hold != nil {
		rec.Hold = rec.Hold.Pinning(rec.Hold.Version) // a copy, as stored
	}
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
