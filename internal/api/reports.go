package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/report"
	"github.com/blackwellio/blackwell/internal/store"
)

// defaultReportPeriod is the period of a report without ?from=.
const defaultReportPeriod = 30 * 24 * time.Hour

// reportCSP is the Content-Security-Policy of an HTML report: it runs
// nothing and fetches nothing; its styles and SVG charts are inline.
const reportCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"

// getReport answers GET /v1/reports: the KPI report of ?client_id= (every
// client without it; a scoped token's client with one) for [?from=, ?to=)
// (default: the 30 days to now), computed from the audit log, as
// ?format=json (default), csv or html.
func (s *Server) getReport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	format := report.JSON
	if v := q.Get("format"); v != "" {
		f, err := report.ParseFormat(v)
		if err != nil {
			return badRequest("%v", err)
		}
		format = f
	}
	now := s.now().UTC()
	from, err := timeParam(r, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(r, "to")
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-defaultReportPeriod)
	}
	if !to.After(from) {
		return badRequest("to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	clientID := q.Get("client_id")
	ctx := r.Context()
	rep, err := report.Compute(ctx, s.opts.Store, report.Params{From: from, To: to, ClientID: clientID, Now: now})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return badRequest("%v", err)
		}
		return fmt.Errorf("compute the report: %w", err)
	}
	if clientID != "" && rep.Source.EntriesRead == 0 {
		// No entry of the client before the period's end: a client that
		// exists now, applied after it, has an empty report; an unknown
		// one is a mistake.
		if err := s.requireClient(ctx, clientID); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := rep.Write(&buf, format); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", format.ContentType())
	h.Set("X-Content-Type-Options", "nosniff")
	if format == report.HTML {
		h.Set("Content-Security-Policy", reportCSP)
	}
	_, _ = w.Write(buf.Bytes()) // a write error means the caller left
	return nil
}
