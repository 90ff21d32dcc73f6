package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// The shipped monitoring assets, relative to this package.
const (
	rulesFile   = "../../deploy/prometheus/blackwell-rules.yml"
	grafanaDir  = "../../deploy/grafana"
	runbookFile = "../../docs/RUNBOOK.md"
)

// prometheusSeries are series Prometheus itself makes, which the rules and
// dashboards may query besides Blackwell's.
var prometheusSeries = []string{"up", "ALERTS", "ALERTS_FOR_STATE"}

// TestMonitoringAssetsNameExportedMetrics: every metric the alert rules
// and the Grafana dashboards query is one a running server exports at
// /metrics (or a recording rule of the rules file, or a series Prometheus
// makes), so renaming a metric fails here rather than silently emptying a
// dashboard or muting an alert.
func TestMonitoringAssetsNameExportedMetrics(t *testing.T) {
	t.Parallel()
	exported := exportedMetrics(t)
	for _, name := range []string{"blackwell_reconciliation_duration_seconds_bucket", "blackwell_store_up",
		"blackwell_shards_held", "blackwell_stack_status", "blackwell_notifications_total", "process_cpu_seconds_total"} {
		require.Contains(t, exported, name, "the server's /metrics as read by this test")
	}
	rules := loadRules(t)
	known := map[string]bool{}
	for name := range exported {
		known[name] = true
	}
	for _, name := range prometheusSeries {
		known[name] = true
	}
	for _, r := range rules.records() {
		known[r.Record] = true
	}

	t.Run("rules", func(t *testing.T) {
		for _, r := range rules.all() {
			name := r.Alert + r.Record
			require.NoError(t, checkQuery(r.Expr, known, false), "rule %s", name)
		}
	})
	t.Run("dashboards", func(t *testing.T) {
		for _, d := range loadDashboards(t) {
			for _, q := range d.queries() {
				require.NoError(t, checkQuery(q.expr, known, true), "%s: %s", d.file, q.where)
			}
		}
	})
}

// TestAlertRulesAreComplete: each alert has a known severity, a summary,
// a description and a runbook_url whose anchor is a heading of
// docs/RUNBOOK.md; the shard count in BlackwellShardsUnowned is
// store.Shards.
func TestAlertRulesAreComplete(t *testing.T) {
	t.Parallel()
	anchors := markdownAnchors(t, runbookFile)
	rules := loadRules(t)
	alerts := 0
	for _, r := range rules.all() {
		if r.Alert == "" {
			continue
		}
		alerts++
		require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], r.Alert)
		for _, a := range []string{"summary", "description", "runbook_url"} {
			require.NotEmpty(t, r.Annotations[a], "%s: annotation %s", r.Alert, a)
		}
		url := r.Annotations["runbook_url"]
		require.True(t, strings.HasPrefix(url, "https://github.com/blackwellio/blackwell/blob/main/docs/RUNBOOK.md#"), "%s: %s", r.Alert, url)
		anchor := url[strings.Index(url, "#")+1:]
		require.Equal(t, strings.ToLower(r.Alert), anchor, "%s: the runbook section is named for the alert", r.Alert)
		require.Contains(t, anchors, anchor, "%s: no section #%s in docs/RUNBOOK.md", r.Alert, anchor)
	}
	require.GreaterOrEqual(t, alerts, 9, "the spec's nine alerts at least")

	unowned := rules.alert(t, "BlackwellShardsUnowned")
	require.Contains(t, unowned.Expr, "< "+strconv.Itoa(store.Shards))
	require.Contains(t, unowned.Annotations["description"], strconv.Itoa(store.Shards))
}

// TestDashboardsHaveTheirVariables: the three dashboards of the spec,
// each with a datasource variable every panel uses; the client and stack
// variables come from label_values queries.
func TestDashboardsHaveTheirVariables(t *testing.T) {
	t.Parallel()
	titles := map[string][]string{}
	for _, d := range loadDashboards(t) {
		var names []string
		for _, v := range d.Templating.List {
			names = append(names, v.Name)
			if v.Type == "query" {
				require.True(t, strings.HasPrefix(v.query(), "label_values("), "%s: variable %s: %s", d.file, v.Name, v.query())
			}
		}
		titles[d.Title] = names
		require.Equal(t, "datasource", d.Templating.List[0].Type, d.file)
		for _, p := range d.allPanels() {
			if p.Type == "row" {
				continue
			}
			require.Equal(t, "${datasource}", p.Datasource.UID, "%s: panel %q", d.file, p.Title)
			require.NotEmpty(t, p.Targets, "%s: panel %q", d.file, p.Title)
		}
	}
	require.ElementsMatch(t, []string{"Blackwell / Reconciliation", "Blackwell / Client Health", "Blackwell / System Overview"}, keys(titles))
	for _, title := range []string{"Blackwell / Reconciliation", "Blackwell / Client Health"} {
		require.Subset(t, titles[title], []string{"datasource", "job", "client", "stack"}, title)
	}
}

// TestCheckQuery: the checker itself, so the tests above can fail.
func TestCheckQuery(t *testing.T) {
	t.Parallel()
	known := map[string]bool{"blackwell_x_total": true, "blackwell_d_seconds_bucket": true}
	for _, tc := range []struct {
		expr string
		err  string
	}{
		{`sum(rate(blackwell_x_total{job=~"$job"}[$__rate_interval]))`, ""},
		{`histogram_quantile(0.9, sum by (le) (rate(blackwell_d_seconds_bucket[5m])))`, ""},
		{`label_values(blackwell_x_total{client_id=~"$client"}, stack_id)`, ""},
		{`blackwell_x_total / ignoring(code) blackwell_y_total`, `metric "blackwell_y_total" is not exported`},
		{`rate(blackwell_d_seconds[5m])`, `metric "blackwell_d_seconds" is not exported`},
		{`{__name__="blackwell_x_total"}`, ""},
		{`{__name__=~"blackwell_.*"}`, "names no metric"},
		{`sum(rate(blackwell_x_total[5m])`, "parse"},
		{`rate(blackwell_x_total[$unknown])`, "parse"},
		{`label_replace(blackwell_x_total, "a", "$1", "code", "(.*)")`, ""},
	} {
		err := checkQuery(tc.expr, known, true)
		if tc.err == "" {
			require.NoError(t, err, tc.expr)
		} else {
			require.ErrorContains(t, err, tc.err, tc.expr)
		}
	}
}

// metricsServer starts a server with a stack and a notification channel,
// so that the series created at the first pass and at configuration exist
// once it has passed.
func metricsServer(t *testing.T) *e2e {
	t.Helper()
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(hook.Close)
	return startE2E(t, e2eConfig(site.URL(), "")+fmt.Sprintf(`---
apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: ops}
spec: {type: webhook, url: "%s/hook", severity_threshold: low}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: globex}
spec:
  notifications:
    channels: [{ref: ops}]
`, hook.URL))
}

// exportedMetrics starts a metrics server, waits for the first pass, and
// reads the metric names of its /metrics: a histogram or summary NAME
// exports NAME_bucket (histograms), NAME_sum and NAME_count.
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	e := metricsServer(t)
	var body string
	poll.Until(t, time.Minute, "first pass recorded in blackwell_stack_status", func() bool {
		body = fetch(t, e.base+"/metrics")
		return strings.Contains(body, "blackwell_stack_status{")
	})
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		name, typ := f[2], f[3]
		out[name] = typ
		switch typ {
		case "histogram":
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = typ, typ, typ
		case "summary":
			out[name+"_sum"], out[name+"_count"] = typ, typ
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// grafanaVar is a dashboard's template variable, $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?([A-Za-z_]\w*)\}?`)

// checkQuery parses a PromQL expression, or a Grafana label_values(...)
// variable query, and checks that every metric it selects is known. For a
// dashboard's query (grafana), the template variables are replaced first:
// Grafana's interval variables by a duration, the dashboards' own by a
// regex (each is used inside a =~ matcher).
func checkQuery(expr string, known map[string]bool, grafana bool) error {
	if inner, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		// label_values(SELECTOR, LABEL): the selector is what is queried.
		i := strings.LastIndex(inner, ",")
		if i < 0 {
			return fmt.Errorf("parse %q: label_values without a selector", expr)
		}
		expr = inner[:i]
	}
	var bad error
	expr = grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		if !grafana {
			return m
		}
		switch name := grafanaVar.FindStringSubmatch(m)[1]; name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "job", "instance", "client", "stack":
			return ".*"
		default:
			bad = fmt.Errorf("unknown variable $%s", name)
			return m
		}
	})
	if bad != nil {
		return fmt.Errorf("parse %q: %w", expr, bad)
	}
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("parse %q: %w", expr, err)
	}
	var errs []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && name == "" && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		switch {
		case name == "":
			errs = append(errs, fmt.Sprintf("selector %s names no metric", vs))
		case !known[name]:
			errs = append(errs, fmt.Sprintf("metric %q is not exported", name))
		}
		return nil
	})
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s", expr, strings.Join(errs, "; "))
	}
	return nil
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	require.NoError(t, err)
	var f ruleFile
	require.NoError(t, yaml.Unmarshal(b, &f))
	require.NotEmpty(t, f.Groups)
	return f
}

func (f ruleFile) all() []rule {
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

func (f ruleFile) records() []rule {
	return slices.DeleteFunc(f.all(), func(r rule) bool { return r.Record == "" })
}

func (f ruleFile) alert(t *testing.T, name string) rule {
	t.Helper()
	for _, r := range f.all() {
		if r.Alert == name {
			return r
		}
	}
	t.Fatalf("no alert %s in %s", name, rulesFile)
	return rule{}
}

type dashboard struct {
	file       string
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// query is a variable's query, a string or {"query": string}.
func (v variable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct{ Query string }
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

type dashQuery struct{ where, expr string }

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(grafanaDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		d := dashboard{file: filepath.Base(f)}
		require.NoError(t, json.Unmarshal(b, &d), f)
		out = append(out, d)
	}
	return out
}

func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// queries are the PromQL of every panel target and query variable.
func (d dashboard) queries() []dashQuery {
	var out []dashQuery
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			out = append(out, dashQuery{"variable " + v.Name, v.query()})
		}
	}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out = append(out, dashQuery{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	return out
}

// markdownAnchors are the GitHub anchors of a Markdown file's headings.
func markdownAnchors(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var sb strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				sb.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				sb.WriteRune(r)
			}
		}
		out = append(out, sb.String())
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
