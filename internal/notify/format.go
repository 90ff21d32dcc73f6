package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// formatValue renders an expected or observed value for people: strings
// as they are, anything else as compact JSON.
func formatValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "(none)"
	case string:
		if t == "" {
			return `""`
		}
		return t
	case fmt.Stringer:
		return t.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// digestLines lists a digest's items, one per line.
func digestLines(d *Digest) []string {
	lines := make([]string, 0, len(d.Items)+1)
	for _, it := range d.Items {
		lines = append(lines, fmt.Sprintf("%s %s %s on %s (%s) at %s, drift %s",
			strings.ToUpper(string(it.Severity)), it.Kind, it.Code, it.StackID, it.Component,
			it.Timestamp.UTC().Format("15:04:05Z"), it.DriftID))
	}
	if more := d.Held - len(d.Items); more > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more", more))
	}
	return lines
}
