package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// ForecastStore holds forecasts of drift (internal/forecast). A stack has
// at most one open forecast per code and component.
type ForecastStore interface {
	// WriteForecasts applies one evaluation's outcome and its audit
	// entries in one transaction (see ForecastWrite); it returns Raise as
	// stored: a forecast whose stack, code and component had an open
	// forecast already comes back as that one (its ID and RaisedAt), so a
	// raise is idempotent. Invalid forecasts (forecast.Check) are an error
	// and nothing is written.
	WriteForecasts(ctx context.Context, w ForecastWrite) ([]forecast.Forecast, error)
	// ListForecasts lists a client's forecasts ordered by stack, RaisedAt
	// and ID, cursor-paginated; the open ones only unless
	// IncludeCleared.
	ListForecasts(ctx context.Context, q ForecastQuery) ([]forecast.Forecast, Page, error)
	// OpenForecastCounts counts the open forecasts of every client per
	// code (codes without one are absent).
	OpenForecastCounts(ctx context.Context) (map[drift.Code]int, error)
}

// ForecastWrite is what one evaluation of a stack writes.
type ForecastWrite struct {
	// Raise are new forecasts (ID, RaisedAt set, ClearedAt nil). One whose
	// stack, code and component has an open forecast is not inserted: the
	// open one takes its ETA, Confidence, Class and Evidence.
	Raise []forecast.Forecast
	// Update are open forecasts, by ID, whose ETA, Confidence, Class and
	// Evidence are rewritten; one that is not open is left alone.
	Update []forecast.Forecast
	// Clear are open forecasts, by ID, cleared at their ClearedAt; one
	// that is cleared already or unknown is left alone.
	Clear []forecast.Forecast
	// Audit entries are appended to the chain in the same transaction.
	Audit []AuditEntry
}

// ForecastQuery selects ListForecasts' rows.
type ForecastQuery struct {
	ClientID string // required
	StackID  string // empty: every stack of the client
	// IncludeCleared also lists forecasts that were cleared.
	IncludeCleared bool
	Cursor         string
	Limit          int
}

// ForecastKey is the cursor key of ListForecasts: stack, RaisedAt and ID.
func ForecastKey(f forecast.Forecast) []any {
	return []any{f.StackID, Truncate(f.RaisedAt).UnixMicro(), f.ID}
}

// CheckForecastWrite validates a ForecastWrite: every forecast passes
// forecast.Check and has an ID, raised ones are not cleared, cleared ones
// carry ClearedAt, and the audit entries pass CheckAudit.
func CheckForecastWrite(w ForecastWrite) error {
	for _, f := range w.Raise {
		if err := checkStoredForecast(f); err != nil {
			return err
		}
		if f.ClearedAt != nil {
			return fmt.Errorf("raise forecast %s: it is cleared", f.ID)
		}
	}
	for _, f := range w.Update {
		if err := checkStoredForecast(f); err != nil {
			return err
		}
	}
	for _, f := range w.Clear {
		if f.ID == "" || f.ClearedAt == nil {
			return fmt.Errorf("clear forecast %q: id and cleared_at are required", f.ID)
		}
	}
	return CheckAudit(w.Audit)
}

func checkStoredForecast(f forecast.Forecast) error {
	if f.ID == "" {
		return fmt.Errorf("forecast %s: id is required", f.Key())
	}
	return forecast.Check(f)
}

// ForecastConfidence is how the drivers store a confidence: in basis
// points (1/10000), an integer, so that it reads back equal.
func ForecastConfidence(c float64) int64 { return int64(math.Round(c * 10000)) }

// ForecastConfidenceOf is the confidence of a stored basis-point value.
func ForecastConfidenceOf(bp int64) float64 { return float64(bp) / 10000 }

// ForecastEvidence is the stored JSON of an Evidence.
func ForecastEvidence(e forecast.Evidence) (string, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("encode forecast evidence: %w", err)
	}
	return string(b), nil
}

// ForecastEvidenceOf decodes stored evidence.
func ForecastEvidenceOf(s string) (forecast.Evidence, error) {
	var e forecast.Evidence
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return e, fmt.Errorf("decode forecast evidence: %w", err)
	}
	return e, nil
}

// StoredForecast is how a forecast reads back: times truncated to the
// store's precision and in UTC, evidence through JSON.
func StoredForecast(f forecast.Forecast) forecast.Forecast {
	f.ETA = Truncate(f.ETA)
	f.RaisedAt = Truncate(f.RaisedAt)
	if f.ClearedAt != nil {
		t := Truncate(*f.ClearedAt)
		f.ClearedAt = &t
	}
	f.Confidence = ForecastConfidenceOf(ForecastConfidence(f.Confidence))
	if s, err := ForecastEvidence(f.Evidence); err == nil {
		if e, err := ForecastEvidenceOf(s); err == nil {
			f.Evidence = e
		}
	}
	return f
}
