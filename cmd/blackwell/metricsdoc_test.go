package main

import (
	"bufio"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
)

// update rewrites the generated docs of this package:
// go test ./cmd/blackwell -run TestMetricsReference -update
var update = flag.Bool("update", false, "rewrite docs/METRICS.md from a running server's /metrics")

const metricsDoc = "../../docs/METRICS.md"

// metricFamily is one metric as /metrics describes it.
type metricFamily struct {
	name, typ, help string
	labels          map[string]bool
}

// TestMetricsReference: docs/METRICS.md lists every blackwell_* metric a
// running server exports at /metrics, with its type, labels and help, and
// every blackwell_* metric defined in internal/ is among them (a metric
// whose series appear only later must be brought out here, or the
// reference would silently miss it).
func TestMetricsReference(t *testing.T) {
	t.Parallel()
	fams := scrapeFamilies(t)
	for _, name := range definedMetricNames(t) {
		require.Contains(t, fams, name, "%s is defined in internal/ but the test server did not export it: make it appear in scrapeFamilies", name)
	}
	got := renderMetricsDoc(fams)
	if *update {
		require.NoError(t, os.WriteFile(metricsDoc, []byte(got), 0o644))
	}
	want, err := os.ReadFile(metricsDoc)
	require.NoError(t, err)
	require.Equal(t, string(want), got, "docs/METRICS.md is out of date: go test ./cmd/blackwell -run TestMetricsReference -update")
}

// scrapeFamilies starts a metrics server (metricsServer: a stack, a
// channel), opens a /v1/stream subscription (whose dropped-events series
// appears with it), waits for the first pass, and parses /metrics.
func scrapeFamilies(t *testing.T) map[string]*metricFamily {
	t.Helper()
	e := metricsServer(t)
	resp, err := bearerClient(e.token).Get(e.base + "/v1/stream")
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var body string
	poll.Until(t, time.Minute, "first pass and the stream's subscription on /metrics", func() bool {
		body = fetch(t, e.base+"/metrics")
		return strings.Contains(body, "blackwell_stack_status{") && strings.Contains(body, `blackwell_bus_dropped_total{subscriber="stream"}`)
	})
	fams, err := parseExposition(body)
	require.NoError(t, err)
	return fams
}

// parseExposition reads the blackwell_* families of a Prometheus text
// exposition: HELP, TYPE and the label names of their samples (le and
// quantile, which the type implies, left out).
func parseExposition(body string) (map[string]*metricFamily, error) {
	fams := map[string]*metricFamily{}
	family := func(name string) *metricFamily {
		if f, ok := fams[name]; ok {
			return f
		}
		f := &metricFamily{name: name, labels: map[string]bool{}}
		fams[name] = f
		return f
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			if strings.HasPrefix(name, "blackwell_") {
				help = strings.NewReplacer(`\\`, `\`, `\n`, " ").Replace(help)
				family(name).help = help
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if strings.HasPrefix(name, "blackwell_") {
				family(name).typ = typ
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") || !strings.HasPrefix(line, "blackwell_") {
			continue
		}
		name, labels, err := parseSample(line)
		if err != nil {
			return nil, err
		}
		f := fams[name]
		if f == nil {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] != nil {
					f = fams[base]
				}
			}
		}
		if f == nil {
			return nil, fmt.Errorf("sample %q of no described family", line)
		}
		for _, l := range labels {
			if l != "le" && l != "quantile" {
				f.labels[l] = true
			}
		}
	}
	return fams, sc.Err()
}

// parseSample returns a sample line's metric name and label names.
func parseSample(line string) (string, []string, error) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", nil, fmt.Errorf("sample %q: no value", line)
	}
	name := line[:i]
	if line[i] == ' ' {
		return name, nil, nil
	}
	var labels []string
	rest := line[i+1:]
	for !strings.HasPrefix(rest, "}") {
		eq := strings.Index(rest, `="`)
		if eq < 0 {
			return "", nil, fmt.Errorf("sample %q: bad label", line)
		}
		labels = append(labels, rest[:eq])
		rest = rest[eq+2:]
		// The value runs to the first unescaped quote.
		j := 0
		for ; j < len(rest) && rest[j] != '"'; j++ {
			if rest[j] == '\\' {
				j++
			}
		}
		if j >= len(rest) {
			return "", nil, fmt.Errorf("sample %q: unterminated label value", line)
		}
		rest = strings.TrimPrefix(rest[j+1:], ",")
	}
	return name, labels, nil
}

// metricName is a blackwell_* name written as a Go string in a metric's
// definition (Name: "..." or prometheus.NewDesc("...", ...)).
var metricName = regexp.MustCompile(`(?:Name:\s*|NewDesc\(\s*)"(blackwell_[a-z0-9_]+)"`)

// definedMetricNames are the blackwell_* metrics defined in the non-test
// Go files of internal/.
func definedMetricNames(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir("../../internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricName.FindAllStringSubmatch(string(src), -1) {
			seen[m[1]] = true
		}
		return nil
	})
	require.NoError(t, err)
	names := keys(seen)
	slices.Sort(names)
	require.NotEmpty(t, names)
	return names
}

// renderMetricsDoc writes docs/METRICS.md.
func renderMetricsDoc(fams map[string]*metricFamily) string {
	var b strings.Builder
	b.WriteString(`# Metrics reference

<!-- Generated by TestMetricsReference (cmd/blackwell/metricsdoc_test.go) from
the /metrics of a running server. Do not edit: change a metric's definition,
then run: go test ./cmd/blackwell -run TestMetricsReference -update -->

Every ` + "`blackwell_*`" + ` metric the server exports at ` + "`/metrics`" + ` (Prometheus text
format; protect it with ` + "`serve --metrics-auth`" + `). The Go runtime's ` + "`go_*`" + ` and the
process's ` + "`process_*`" + ` metrics are exported too. A histogram NAME is exported as
NAME_bucket (label ` + "`le`" + `), NAME_sum and NAME_count. The alert rules that use these
metrics are in ` + "`deploy/prometheus/`" + `, each explained in [RUNBOOK.md](RUNBOOK.md), and the
Grafana dashboards in ` + "`deploy/grafana/`" + `.

| Metric | Type | Labels | Help |
|---|---|---|---|
`)
	names := keys(fams)
	slices.Sort(names)
	for _, name := range names {
		f := fams[name]
		labels := keys(f.labels)
		slices.Sort(labels)
		for i, l := range labels {
			labels[i] = "`" + l + "`"
		}
		ls := strings.Join(labels, ", ")
		if ls == "" {
			ls = "none"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, f.typ, ls, strings.ReplaceAll(f.help, "|", `\|`))
	}
	return b.String()
}
