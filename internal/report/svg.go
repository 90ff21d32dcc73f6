package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// Inline SVG charts for the HTML report: drawn here, no script, no
// library. Every text is escaped.

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 720, 220
	padL, padR     = 48, 12
	padT, padB     = 24, 36
)

// barSeries is one series of a grouped bar chart.
type barSeries struct {
	name, color string
	values      []float64
}

// groupedBars draws a bar per series for each label, with a legend.
func groupedBars(title string, labels []string, series []barSeries) template.HTML {
	var top float64
	for _, s := range series {
		for _, v := range s.values {
			top = math.Max(top, v)
		}
	}
	top = niceCeil(top)
	var b strings.Builder
	openSVG(&b, title, chartH)
	yAxis(&b, top, func(v float64) string { return fmt.Sprintf("%.0f", v) })
	slot := float64(chartW-padL-padR) / float64(max(len(labels), 1))
	bar := slot * 0.8 / float64(max(len(series), 1))
	for i, label := range labels {
		x0 := padL + slot*float64(i) + slot*0.1
		for j, s := range series {
			h := float64(chartH-padT-padB) * s.values[i] / top
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %g</title></rect>`,
				x0+bar*float64(j), float64(chartH-padB)-h, math.Max(bar-1, 1), h, s.color, esc(label), esc(s.name), s.values[i])
		}
		xLabel(&b, i, len(labels), padL+slot*(float64(i)+0.5), label)
	}
	for j, s := range series {
		fmt.Fprintf(&b, `<rect x="%d" y="6" width="10" height="10" fill="%s"/><text x="%d" y="15" font-size="11">%s</text>`,
			padL+j*170, s.color, padL+j*170+14, esc(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

// ratioLine draws a ratio (0 to 1) per label as a line with points,
// from floor to 1, and the target as a dashed line; nil values are gaps.
func ratioLine(title string, labels []string, values []*float64, target, floor float64) template.HTML {
	var b strings.Builder
	openSVG(&b, title, chartH)
	span := 1 - floor
	y := func(v float64) float64 {
		return float64(chartH-padB) - float64(chartH-padT-padB)*(math.Max(v, floor)-floor)/span
	}
	for _, t := range []float64{floor, floor + span/2, 1} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`,
			padL, chartW-padR, y(t), y(t), padL-4, y(t)+3, esc(percent(t)))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#b00" stroke-dasharray="4 3"><title>target %s</title></line>`,
		padL, chartW-padR, y(target), y(target), esc(percent(target)))
	slot := float64(chartW-padL-padR) / float64(max(len(labels), 1))
	var path []string
	for i, v := range values {
		x := padL + slot*(float64(i)+0.5)
		xLabel(&b, i, len(labels), x, labels[i])
		if v == nil {
			path = append(path, "")
			continue
		}
		path = append(path, fmt.Sprintf("%.1f,%.1f", x, y(*v)))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="#2a6"><title>%s: %s</title></circle>`, x, y(*v), esc(labels[i]), esc(percent(*v)))
	}
	for _, run := range strings.Split(strings.Join(path, " "), "  ") {
		if pts := strings.TrimSpace(run); strings.Contains(pts, " ") {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#2a6" stroke-width="1.5"/>`, pts)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

// hbars draws one horizontal bar per label, a ratio from floor to 1 (the
// axis starts at floor, labelled), with the target as a dashed line.
func hbars(title string, labels []string, values []float64, target, floor float64) template.HTML {
	const row, left, right = 18, 160, 70
	height := padT + row*len(labels) + 8
	var b strings.Builder
	openSVG(&b, title, height)
	width := float64(chartW - left - right)
	x := func(v float64) float64 { return float64(left) + width*(math.Max(v, floor)-floor)/(1-floor) }
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10">%s</text><text x="%.1f" y="%d" font-size="10" text-anchor="end">100 %%</text>`,
		left, padT-8, esc(percent(floor)), x(1), padT-8)
	for i, l := range labels {
		y := padT + row*i
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end">%s</text>`, left-6, y+12, esc(l))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#4a8"><title>%s: %s</title></rect>`,
			left, y+2, x(values[i])-left, row-5, esc(l), esc(percent(values[i])))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10">%s</text>`, x(values[i])+4, y+12, esc(percent(values[i])))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#b00" stroke-dasharray="4 3"><title>target %s</title></line>`,
		x(target), x(target), padT-4, height-4, esc(percent(target)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

// axisFloor is where an axis of ratios should start to show values and
// target: a whole percent at least half a percent below the lowest.
func axisFloor(target float64, values ...float64) float64 {
	lo := target
	for _, v := range values {
		lo = math.Min(lo, v)
	}
	return math.Max(math.Floor((lo-0.005)*100)/100, 0)
}

func openSVG(b *strings.Builder, title string, height int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s"><title>%s</title>`,
		chartW, height, esc(title), esc(title))
}

// yAxis draws three grid lines from 0 to top.
func yAxis(b *strings.Builder, top float64, label func(float64) string) {
	for _, v := range []float64{0, top / 2, top} {
		y := float64(chartH-padB) - float64(chartH-padT-padB)*v/top
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`,
			padL, chartW-padR, y, y, padL-4, y+3, esc(label(v)))
	}
}

// xLabel labels the i-th of n slots, thinned to at most 8 labels.
func xLabel(b *strings.Builder, i, n int, x float64, label string) {
	if every := (n + 7) / 8; i%every != 0 {
		return
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>`, x, chartH-padB+14, esc(label))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string { return html.EscapeString(s) }
