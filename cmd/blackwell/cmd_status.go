package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// wireState is the part of a StateRecord the CLI shows.
type wireState struct {
	ClientID     string          `json:"client_id"`
	StackID      string          `json:"stack_id"`
	Environment  string          `json:"environment"`
	DesiredHash  string          `json:"desired_hash"`
	AppliedHash  string          `json:"applied_hash"`
	StateVersion string          `json:"state_version"`
	Desired      json.RawMessage `json:"desired"`
	LastVerified *time.Time      `json:"last_verified"`
	Status       string          `json:"status"`
	DriftDetails []wireDrift     `json:"drift_details"`
	LastError    string          `json:"last_error"`
	Hold         *wireHold       `json:"hold"`
	LastKnown    struct {
		Providers map[string]wireSighting `json:"providers"`
		Resources map[string]wireSighting `json:"resources"`
	} `json:"last_known"`
}

// wireSighting is the API's drift.Sighting: what was last known of one
// provider or resource.
type wireSighting struct {
	Value        string     `json:"value"`
	Detail       string     `json:"detail"`
	SeenAt       *time.Time `json:"seen_at"`
	Known        bool       `json:"known"`
	Reason       string     `json:"reason"`
	UnknownSince *time.Time `json:"unknown_since"`
}

// wirePage is the envelope of list answers.
type wirePage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func newStatusCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: eitherTarget, optional: true, splitForm: true}
	return &cobra.Command{
		Use:   "status [CLIENT[/STACK]]",
		Short: "Show stacks and their status; one stack with its drifts and what was last observed",
		Args:  ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, asJSON, c, err := ta.read(cmd, args, g)
			if err != nil {
				return err
			}
			recs, raw, err := c.stacks(cmd, t)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			if len(recs) == 0 && t.client != "" {
				return fmt.Errorf("client %s has no stacks", t.client)
			}
			if len(recs) == 0 {
				_, err := fmt.Fprintln(g.stdout, "no stacks")
				return err
			}
			tw := newTable(g.stdout, "CLIENT", "STACK", "ENV", "STATUS", "VERSION", "DRIFTS", "LAST_VERIFIED")
			for _, r := range recs {
				row(tw, r.ClientID, r.StackID, r.Environment, r.Status, r.StateVersion, strconv.Itoa(len(r.DriftDetails)), formatTime(r.LastVerified))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if t.stack != "" {
				return printStackDetail(g, recs[0], time.Now())
			}
			return nil
		},
	}
}

// stacks reads the state records of a target: one stack, a client's
// stacks or (no target) every stack; raw is the answer for -o json.
func (c *apiClient) stacks(cmd *cobra.Command, t target) ([]wireState, json.RawMessage, error) {
	if t.stack != "" {
		var rec wireState
		raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("stacks", t.client, t.stack)}, &rec)
		if err != nil {
			return nil, nil, err
		}
		return []wireState{rec}, raw, nil
	}
	q := url.Values{}
	if t.client != "" {
		q.Set("client_id", t.client)
	}
	var all []json.RawMessage
	if err := listAll(cmd, c, "/v1/stacks", q, &all); err != nil {
		return nil, nil, err
	}
	raw, err := json.Marshal(wirePage[json.RawMessage]{Items: all})
	if err != nil {
		return nil, nil, err
	}
	recs := make([]wireState, 0, len(all))
	for _, item := range all {
		var rec wireState
		if err := json.Unmarshal(item, &rec); err != nil {
			return nil, nil, fmt.Errorf("decode stack: %w", err)
		}
		recs = append(recs, rec)
	}
	return recs, raw, nil
}

// listAll follows next_cursor through every page of a list endpoint.
func listAll[T any](cmd *cobra.Command, c *apiClient, path string, q url.Values, items *[]T) error {
	cursor := ""
	for {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("limit", "1000")
		if cursor != "" {
			qq.Set("cursor", cursor)
		}
		var page wirePage[T]
		if _, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: path, query: qq}, &page); err != nil {
			return err
		}
		*items = append(*items, page.Items...)
		if page.NextCursor == "" || len(page.Items) == 0 {
			return nil
		}
		cursor = page.NextCursor
	}
}

// rangeArgs is cobra.RangeArgs with a usage error.
func rangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.RangeArgs(min, max)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// printStackDetail prints one stack's drifts with their evidence, and what
// was last known of each provider and resource ("last seen N ago").
func printStackDetail(g *globals, r wireState, now time.Time) error {
	if len(r.DriftDetails) > 0 {
		fmt.Fprintln(g.stdout)
		tw := newTable(g.stdout, "CODE", "SEVERITY", "COMPONENT", "CONFIDENCE", "EVIDENCE")
		for _, d := range r.DriftDetails {
			row(tw, d.Code, d.Severity, d.Component, orDash(d.Confidence), d.evidence())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if notes := stackNotes(r); len(notes) > 0 {
		fmt.Fprintln(g.stdout)
		for _, n := range notes {
			fmt.Fprintln(g.stdout, n)
		}
	}
	type seen struct {
		name string
		s    wireSighting
	}
	var all []seen
	for _, role := range slices.Sorted(maps.Keys(r.LastKnown.Providers)) {
		all = append(all, seen{"provider:" + role, r.LastKnown.Providers[role]})
	}
	for _, name := range slices.Sorted(maps.Keys(r.LastKnown.Resources)) {
		all = append(all, seen{"resource:" + name, r.LastKnown.Resources[name]})
	}
	if len(all) == 0 {
		return nil
	}
	fmt.Fprintln(g.stdout)
	tw := newTable(g.stdout, "OBSERVED", "LAST_KNOWN", "LAST_SEEN", "NOW")
	for _, x := range all {
		row(tw, x.name, orDash(x.s.Value), ago(x.s.SeenAt, now), x.s.now(now))
	}
	return tw.Flush()
}

// now says whether the latest pass observed it, and if not why and since
// when: "known", "unknown (timeout) for 3m".
func (s wireSighting) now(now time.Time) string {
	if s.Known {
		return "known"
	}
	out := "unknown"
	if s.Reason != "" {
		out += " (" + s.Reason + ")"
	}
	if s.UnknownSince != nil {
		out += " for " + roughDuration(now.Sub(*s.UnknownSince))
	}
	return out
}

// ago is "never" or "N ago", N rounded for a person.
func ago(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return roughDuration(now.Sub(*t)) + " ago"
}

// roughDuration rounds a duration to its largest unit: 42s, 3m, 5h, 2d.
func roughDuration(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
