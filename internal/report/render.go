package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Format is a report's output format.
type Format string

// The formats a report is written in.
const (
	JSON Format = "json"
	CSV  Format = "csv"
	HTML Format = "html"
)

// ParseFormat reads a format name: json, csv or html.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSON, CSV, HTML:
		return f, nil
	}
	return "", fmt.Errorf("unknown report format %q: want json, csv or html", s)
}

// ContentType is the format's media type.
func (f Format) ContentType() string {
	switch f {
	case CSV:
		return "text/csv; charset=utf-8"
	case HTML:
		return "text/html; charset=utf-8"
	}
	return "application/json"
}

// Write writes r in format f.
func (r Report) Write(w io.Writer, f Format) error {
	switch f {
	case CSV:
		return r.WriteCSV(w)
	case HTML:
		return r.WriteHTML(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// csvHeader is the CSV's header: one figure per row, the report's source
// on every row so that a row stands on its own.
var csvHeader = []string{"scope", "client_id", "figure", "value", "unit", "target_op", "target_value", "met", "samples",
	"from", "to", "audit_head_seq", "audit_head_hash"}

// WriteCSV writes the report as CSV: every figure of the overall scope,
// then of each client (scope "client").
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	tail := []string{r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339),
		strconv.FormatInt(r.Source.HeadSeq, 10), r.Source.HeadHash}
	write := func(scope string, f Figures) error {
		for _, row := range csvRows(f) {
			if err := cw.Write(append(append([]string{scope, f.ClientID}, row...), tail...)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write("overall", r.Overall); err != nil {
		return err
	}
	for _, f := range r.Clients {
		if err := write("client", f); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvRows are the figure, value, unit, target_op, target_value, met and
// samples of each KPI of f, then of its counts.
func csvRows(f Figures) [][]string {
	var out [][]string
	for _, k := range f.KPIs {
		met := ""
		if k.Met != nil {
			met = strconv.FormatBool(*k.Met)
		}
		out = append(out, []string{k.Name, number(k.Value), k.Unit, k.Op, number(&k.TargetValue), met, strconv.Itoa(k.Samples)})
	}
	counts := []struct {
		name string
		v    float64
		unit string
	}{
		{"stacks", float64(f.Stacks), "count"}, {"drifts_detected", float64(f.DriftsDetected), "count"},
		{"drifts_resolved", float64(f.DriftsResolved), "count"}, {"drifts_open_at_end", float64(f.DriftsOpenAtEnd), "count"},
		{"heals_succeeded", float64(f.HealsSucceeded), "count"}, {"heals_failed", float64(f.HealsFailed), "count"},
		{"false_positives", float64(f.FalsePositives), "count"}, {"automatic_heals", float64(f.AutomaticHeals), "count"},
		{"approved_heals", float64(f.ApprovedHeals), "count"}, {"manual_interventions", float64(f.ManualInterventions), "count"},
		{"stack_seconds", f.StackSeconds, UnitSeconds}, {"drift_stack_seconds", f.DriftStackSeconds, UnitSeconds},
	}
	for _, c := range counts {
		out = append(out, []string{c.name, number(&c.v), c.unit, "", "", "", ""})
	}
	return out
}

// number is v in the shortest form that reads back the same; empty for
// nil.
func number(v *float64) string {
	if v == nil || math.IsNaN(*v) {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}
