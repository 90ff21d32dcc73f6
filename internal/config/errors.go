package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration, at a position of its source.
// Line and Column are 1-based; they are 0 when the position is unknown
// (for example a spec read back from the store). Message never holds a
// resolved secret value.
type Error struct {
	File    string
	Line    int
	Column  int
	Message string
}

// Error formats the error as "file:line:column: message", leaving out the
// parts that are not known.
func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in one configuration, ordered by position.
// Parse, Load, DecodePolicyJSON and the ResolveSecrets methods return their
// problems as an *Errors; find it with
//
//	var errs *config.Errors
//	if errors.As(err, &errs) { for _, e := range *errs { ... } }
type Errors []Error

// Error lists the errors, one per line.
func (e *Errors) Error() string {
	if e == nil || len(*e) == 0 {
		return "no errors"
	}
	lines := make([]string, len(*e))
	for i, x := range *e {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each Error, so that errors.As also finds an Error.
func (e *Errors) Unwrap() []error {
	if e == nil {
		return nil
	}
	errs := make([]error, len(*e))
	for i, x := range *e {
		errs[i] = x
	}
	return errs
}

// add appends an error.
func (e *Errors) add(x Error) { *e = append(*e, x) }

// err returns nil when there are no errors, else the sorted list.
func (e *Errors) err() error {
	if len(*e) == 0 {
		return nil
	}
	sort.SliceStable(*e, func(i, j int) bool {
		a, b := (*e)[i], (*e)[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	// Drop exact duplicates (an alias decoded twice reports twice).
	seen := make(map[Error]bool, len(*e))
	out := (*e)[:0]
	for _, x := range *e {
		if seen[x] {
			continue
		}
		seen[x] = true
		out = append(out, x)
	}
	*e = out
	return e
}
