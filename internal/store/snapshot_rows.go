package store

import (
	"encoding/json"
	"fmt"
)

// SnapshotComponentsJSON is the stored JSON of a snapshot's components.
func SnapshotComponentsJSON(c SnapshotComponents) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode snapshot components: %w", err)
	}
	return string(b), nil
}

// SnapshotComponentsOf decodes stored components.
func SnapshotComponentsOf(s string) (SnapshotComponents, error) {
	var c SnapshotComponents
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, fmt.Errorf("decode snapshot components: %w", err)
	}
	return c, nil
}

// RollbackStepsJSON is the stored JSON of a rollback's steps, their
// times at the store's precision (Truncate), as every stored time.
func RollbackStepsJSON(steps []RollbackStep) (string, error) {
	out := make([]RollbackStep, len(steps))
	for i, st := range steps {
		if st.At != nil {
			t := Truncate(*st.At)
			st.At = &t
		}
		out[i] = st
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode rollback steps: %w", err)
	}
	return string(b), nil
}

// RollbackStepsOf decodes stored steps.
func RollbackStepsOf(s string) ([]RollbackStep, error) {
	var steps []RollbackStep
	if err := json.Unmarshal([]byte(s), &steps); err != nil {
		return nil, fmt.Errorf("decode rollback steps: %w", err)
	}
	return steps, nil
}

// CheckRollback validates a rollback record before it is stored.
func CheckRollback(r RollbackRecord) error {
	switch {
	case r.ID == "" || r.ClientID == "" || r.StackID == "" || r.SnapshotID == "":
		return fmt.Errorf("rollback %q: id, client, stack and snapshot are required", r.ID)
	case r.Status != RollbackRunning && r.Status != RollbackVerified && r.Status != RollbackFailed:
		return fmt.Errorf("rollback %s: status %q is not running, verified or failed", r.ID, r.Status)
	case r.StartedAt.IsZero():
		return fmt.Errorf("rollback %s: started_at is required", r.ID)
	}
	return nil
}
