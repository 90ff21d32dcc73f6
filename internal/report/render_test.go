package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func scenarioReport(t *testing.T) Report {
	t.Helper()
	return build(t, Params{From: t0, To: t0.Add(10 * time.Hour), Now: t0.Add(11 * time.Hour)}, scenario())
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"json", "csv", "html"} {
		f, err := ParseFormat(s)
		require.NoError(t, err)
		require.Equal(t, Format(s), f)
	}
	_, err := ParseFormat("pdf")
	require.EqualError(t, err, `unknown report format "pdf": want json, csv or html`)
}

// TestWriteJSONRoundTrips: the JSON reads back as the same report.
func TestWriteJSONRoundTrips(t *testing.T) {
	t.Parallel()
	r := scenarioReport(t)
	var buf bytes.Buffer
	require.NoError(t, r.Write(&buf, JSON))
	var back Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, r.Overall, back.Overall)
	require.Equal(t, r.Source, back.Source)
	require.Contains(t, buf.String(), `"configuration_compliance": 0.9311594202898551`)
	require.Contains(t, buf.String(), `"kpi": "system_availability"`)
}

// TestWriteCSV: one row per figure and scope, each carrying the period
// and the chain head; the values read back.
func TestWriteCSV(t *testing.T) {
	t.Parallel()
	r := scenarioReport(t)
	var buf bytes.Buffer
	require.NoError(t, r.Write(&buf, CSV))
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Equal(t, csvHeader, rows[0])
	perScope := len(r.Overall.KPIs) + 12
	require.Len(t, rows, 1+3*perScope, "overall and two clients")
	find := func(scope, client, figure string) []string {
		for _, row := range rows[1:] {
			if row[0] == scope && row[1] == client && row[2] == figure {
				return row
			}
		}
		t.Fatalf("no row %s %s %s", scope, client, figure)
		return nil
	}
	require.Equal(t, []string{"client", "acme", "mttr", "1050", "seconds", "<", "600", "false", "2",
		"2026-11-01T00:00:00Z", "2026-11-01T10:00:00Z", "20", "abc"}, find("client", "acme", "mttr"))
	require.Equal(t, []string{"overall", "", "stack_seconds", "82800", "seconds", "", "", "", ""}, find("overall", "", "stack_seconds")[:9])
	require.Equal(t, []string{"false_positive_rate", "", "ratio", "<", "0.05", "", "0"}, find("client", "globex", "false_positive_rate")[2:9],
		"no drift: no value and no verdict")
}

// TestWriteHTML: one page, well-formed, with the chain head, the verify
// command, three charts as inline SVG, and nothing that runs or fetches.
func TestWriteHTML(t *testing.T) {
	t.Parallel()
	r := scenarioReport(t)
	var buf bytes.Buffer
	require.NoError(t, r.Write(&buf, HTML))
	page := buf.String()
	require.Contains(t, page, "<code>20:abc</code>")
	require.Contains(t, page, "<code>blackwell audit verify --expect-head 20:abc</code>")
	require.Equal(t, 3, strings.Count(page, "<svg "), "activity, compliance over time, clients")
	require.Contains(t, page, "<td>Mean time to recovery</td><td class=\"n\">17m30s</td><td class=\"n\">&lt; 10m0s</td><td class=\"missed\">missed</td>")
	require.Contains(t, page, "reconciliation_time")
	require.NotRegexp(t, regexp.MustCompile(`(?i)<script|<link|<img|src=|href=`), page)
	for _, svg := range regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1) {
		requireWellFormed(t, svg)
	}
}

// TestWriteHTMLEscapes: names from the audit log are text, never markup,
// in the page and in the charts.
func TestWriteHTMLEscapes(t *testing.T) {
	t.Parallel()
	es := scenario()
	for i := range es {
		if es[i].ClientID == "acme" {
			es[i].ClientID = `<script>alert("x")</script>`
		}
	}
	r := build(t, Params{From: t0, To: t0.Add(10 * time.Hour)}, es)
	var buf bytes.Buffer
	require.NoError(t, r.WriteHTML(&buf))
	require.NotContains(t, buf.String(), "<script>")
	require.Contains(t, buf.String(), "&lt;script&gt;")
	for _, svg := range regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(buf.String(), -1) {
		requireWellFormed(t, svg)
	}
}

// requireWellFormed parses s as XML to its end.
func requireWellFormed(t *testing.T, s string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		require.NoError(t, err, s)
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    float64
		want string
	}{{1, "100 %"}, {0.5, "50 %"}, {0.99567, "99.567 %"}, {0.995, "99.5 %"}, {0.99999, "99.999 %"}, {0.123456, "12.3 %"}, {0.0175, "1.8 %"}, {0, "0 %"}} {
		require.Equal(t, tc.want, percent(tc.v))
	}
	require.Equal(t, "—", Seconds(nil))
	require.Equal(t, "1m10s", Seconds(f64(69.6)))
	require.Equal(t, "—", Percent(nil))
	require.Equal(t, []float64{1, 1, 2, 5, 10, 200}, []float64{niceCeil(0), niceCeil(1), niceCeil(1.5), niceCeil(3), niceCeil(7), niceCeil(120)})
}
