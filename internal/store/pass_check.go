package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// The checks of CommitPass and the chaining of audit entries, shared by
// the drivers.

// CheckPassResult validates the result of pass p: it names a
// reconciliation and is the pass's stack's. A result without client and
// stack is the stack's; it is returned with them filled.
func CheckPassResult(p Pass) (ReconciliationResult, error) {
	r := p.Result
	if r.ReconciliationID == "" {
		return r, fmt.Errorf("result has no reconciliation id")
	}
	if r.ClientID == "" && r.StackID == "" {
		r.ClientID, r.StackID = p.State.ClientID, p.State.StackID
	}
	if r.ClientID != p.State.ClientID || r.StackID != p.State.StackID {
		return r, fmt.Errorf("result is for %s/%s", r.ClientID, r.StackID)
	}
	if err := CheckStream(p.Stream); err != nil {
		return r, err
	}
	return r, nil
}

// CheckPassDrift validates a drift of pass p: it is the pass's stack's and
// has an id. A drift without client and stack is the stack's; it is
// returned with them filled.
func CheckPassDrift(p Pass, d drift.Drift) (drift.Drift, error) {
	if d.ClientID == "" && d.StackID == "" {
		d.ClientID, d.StackID = p.State.ClientID, p.State.StackID
	}
	if d.ClientID != p.State.ClientID || d.StackID != p.State.StackID {
		return d, fmt.Errorf("drift %s is for %s/%s", d.ID, d.ClientID, d.StackID)
	}
	if d.ID == "" {
		return d, fmt.Errorf("drift of %s has no id", d.Component)
	}
	return d, nil
}

// CheckAudit rejects entries whose ChangesMade is not JSON: the hash is
// computed over them and must not fail.
func CheckAudit(entries []AuditEntry) error {
	for _, e := range entries {
		if len(e.ChangesMade) > 0 && !json.Valid(e.ChangesMade) {
			return fmt.Errorf("audit %s: changes_made is not valid JSON", e.Action)
		}
	}
	return nil
}

// ChainAudit returns entries as they are appended after the chain's head,
// the entry numbered seq whose Hash is prev (0 and "" for an empty
// chain): numbered on from seq+1, each linked to the one before, a zero
// Timestamp set to now, every Timestamp truncated (Truncate), an empty
// ChangesMade nil, and Hash filled (ChainHash). The driver stores them, in
// the transaction that holds the head, as they are.
func ChainAudit(entries []AuditEntry, seq int64, prev string, now time.Time) []AuditEntry {
	out := make([]AuditEntry, len(entries))
	for i, e := range entries {
		seq++
		e.Seq, e.PrevHash = seq, prev
		if e.Timestamp.IsZero() {
			e.Timestamp = now
		}
		e.Timestamp = Truncate(e.Timestamp)
		if len(e.ChangesMade) == 0 {
			e.ChangesMade = nil
		}
		e.Hash = ChainHash(e)
		prev = e.Hash
		out[i] = e
	}
	return out
}
