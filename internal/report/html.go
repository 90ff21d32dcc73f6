package report

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

//go:embed report.html.tmpl
var htmlSource string

// page is what the HTML template shows.
type page struct {
	Report
	Charts []chart
	Rows   []clientRow
	// Omitted counts the clients left out of the compliance chart.
	Omitted int
	// AckReasons are the reasons of Overall.Acknowledgements, sorted.
	AckReasons []string
}

// clientRow is a row of the per-client table, formatted.
type clientRow struct {
	ClientID                                                   string
	Stacks, Drifts                                             int
	MTTD, MTTH, MTTR, HealRate, FPRate, Automation, Compliance string
}

// chartClients is how many clients, the least compliant, the compliance
// chart shows.
const chartClients = 25

// WriteHTML writes the report as one HTML page with inline CSS and SVG
// charts: no script, nothing fetched.
func (r Report) WriteHTML(w io.Writer) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"when": when,
	}).Parse(htmlSource)
	if err != nil {
		return fmt.Errorf("parse the report template: %w", err)
	}
	p := page{Report: r, AckReasons: slices.Sorted(maps.Keys(r.Overall.Acknowledgements))}
	p.Charts, p.Omitted = charts(r)
	for _, f := range r.Clients {
		p.Rows = append(p.Rows, clientRow{ClientID: f.ClientID, Stacks: f.Stacks, Drifts: f.DriftsDetected,
			MTTD: Seconds(f.DetectionTime.MeanSeconds), MTTH: Seconds(f.TimeToHeal.MeanSeconds), MTTR: Seconds(f.TimeToRecovery.MeanSeconds),
			HealRate: Percent(f.AutoHealSuccessRate), FPRate: Percent(f.FalsePositiveRate),
			Automation: Percent(f.AutomationRate), Compliance: Percent(f.Compliance)})
	}
	return t.Execute(w, p)
}

// chart is a chart of the page, with its caption.
type chart struct {
	Title string
	SVG   template.HTML
}

// charts draws the report's charts: activity and compliance over the
// period, and the least compliant clients.
func charts(r Report) ([]chart, int) {
	labels := make([]string, len(r.Series))
	detected, healed, manual := make([]float64, len(r.Series)), make([]float64, len(r.Series)), make([]float64, len(r.Series))
	comp := make([]*float64, len(r.Series))
	var known []float64
	for i, b := range r.Series {
		labels[i] = bucketLabel(b)
		detected[i], healed[i], manual[i] = float64(b.DriftsDetected), float64(b.AutomaticHeals), float64(b.ManualInterventions)
		if comp[i] = b.Compliance; comp[i] != nil {
			known = append(known, *comp[i])
		}
	}
	t1, t2 := "Drifts detected, automatic heals and manual interventions", "Configuration compliance (drift-free time) against its target (99 %)"
	out := []chart{
		{t1, groupedBars(t1, labels, []barSeries{
			{"drifts detected", "#c84", detected}, {"automatic heals", "#4a8", healed}, {"manual interventions", "#68c", manual}})},
		{t2, ratioLine(t2, labels, comp, 0.99, axisFloor(0.99, known...))},
	}
	var clients []Figures
	for _, f := range r.Clients {
		if f.Compliance != nil {
			clients = append(clients, f)
		}
	}
	slices.SortStableFunc(clients, func(a, b Figures) int { return cmp.Compare(*a.Compliance, *b.Compliance) })
	omitted := max(len(clients)-chartClients, 0)
	clients = clients[:min(len(clients), chartClients)]
	if len(clients) > 0 {
		names, values := make([]string, len(clients)), make([]float64, len(clients))
		for i, f := range clients {
			names[i], values[i] = f.ClientID, *f.Compliance
		}
		t3 := "The least compliant clients"
		out = append(out, chart{t3, hbars(t3, names, values, 0.99, axisFloor(0.99, values...))})
	}
	return out, omitted
}

// bucketLabel is a bucket's start: its day, and its time when buckets are
// shorter than a day.
func bucketLabel(b Bucket) string {
	if b.End.Sub(b.Start) < 24*time.Hour {
		return b.Start.UTC().Format("01-02 15:04")
	}
	return b.Start.UTC().Format("2006-01-02")
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// percent formats a ratio as a percentage: to a tenth, or to a
// thousandth between 99 and 100 % (where the targets are), without
// trailing zeros.
func percent(v float64) string {
	p, scale := v*100, 10.0
	if p > 99 && p < 100 {
		scale = 1000
	}
	return strconv.FormatFloat(math.Round(p*scale)/scale, 'f', -1, 64) + " %"
}

// Percent formats a ratio as a percentage, "—" for nil.
func Percent(v *float64) string {
	if v == nil {
		return "—"
	}
	return percent(*v)
}

// Seconds formats seconds as a duration to the second, "—" for nil.
func Seconds(v *float64) string {
	if v == nil {
		return "—"
	}
	return (time.Duration(math.Round(*v)) * time.Second).String()
}

// ValueText is the KPI's value for people: a duration or a percentage.
func (k KPI) ValueText() string {
	if k.Unit == UnitSeconds {
		return Seconds(k.Value)
	}
	return Percent(k.Value)
}

// TargetText is the KPI's target for people: "< 2m0s", "≥ 99 %".
func (k KPI) TargetText() string {
	op := map[string]string{"<": "<", ">": ">", ">=": "≥"}[k.Op]
	if k.Unit == UnitSeconds {
		return op + " " + Seconds(&k.TargetValue)
	}
	return op + " " + percent(k.TargetValue)
}

// Verdict is "met", "missed" or "no data".
func (k KPI) Verdict() string {
	switch {
	case k.Met == nil:
		return "no data"
	case *k.Met:
		return "met"
	}
	return "missed"
}
