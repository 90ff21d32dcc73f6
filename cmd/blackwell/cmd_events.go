package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// wireEvent is the part of an Event the CLI shows.
type wireEvent struct {
	EventID      string    `json:"event_id"`
	ClientID     string    `json:"client_id"`
	StackID      string    `json:"stack_id"`
	ProviderName string    `json:"provider_name"`
	EventType    string    `json:"event_type"`
	ContentID    string    `json:"content_id"`
	ContentType  string    `json:"content_type"`
	Timestamp    time.Time `json:"timestamp"`
	DriftChecked bool      `json:"drift_checked"`
}

func newEventsCmd(g *globals) *cobra.Command {
	var provider, typ string
	var limit int
	var follow bool
	var interval time.Duration
	ta := targetArgs{kind: clientTarget, optional: true}
	cmd := &cobra.Command{
		Use:   "events [CLIENT] [--provider P] [--type T] [--limit N] [-w|--follow]",
		Short: "Show provider events, newest first; --follow prints new ones as they arrive",
		Long: `Show provider events, newest first: every client's, or CLIENT's.

With --follow, the last --limit events are printed oldest first, then the
server is asked every --interval for newer ones, which are printed as they
arrive, until interrupted. With -o json each event is one JSON line.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if limit < 1 || limit > 1000 {
				return usageError{fmt.Errorf("--limit must be from 1 to 1000, not %d", limit)}
			}
			if interval < 10*time.Millisecond {
				return usageError{fmt.Errorf("--interval must be at least 10ms, not %s", interval)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"client_id": t.client, "provider": provider, "type": typ} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if follow {
				f := &follower{c: c, g: g, filters: q, limit: limit, interval: interval, json: asJSON}
				return f.run(cmd.Context())
			}
			q.Set("limit", strconv.Itoa(limit))
			var page wirePage[wireEvent]
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: "/v1/events", query: q}, &page)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			if len(page.Items) == 0 {
				_, err := fmt.Fprintln(g.stdout, "no events")
				return err
			}
			tw := newTable(g.stdout, eventColumns...)
			for _, e := range page.Items {
				row(tw, eventCells(e)...)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&provider, "provider", "", "only this provider's events (sanity, shopify, ...)")
	f.StringVar(&typ, "type", "", "only events of this type (content.updated, ...)")
	f.IntVar(&limit, "limit", 50, "how many events to show (with --follow: at start)")
	followFlag(g, cmd, &follow, "keep printing new events as they arrive, until interrupted")
	f.DurationVar(&interval, "interval", time.Second, "with --follow: how often to ask for new events")
	ta.clientFlag(g, cmd, "events")
	return cmd
}

var eventColumns = []string{"TIME", "CLIENT", "STACK", "PROVIDER", "TYPE", "CONTENT", "CONTENT_TYPE", "CHECKED", "EVENT_ID"}

func eventCells(e wireEvent) []string {
	ts := e.Timestamp
	return []string{formatTime(&ts), e.ClientID, e.StackID, e.ProviderName, e.EventType, e.ContentID, e.ContentType, yesNo(e.DriftChecked), e.EventID}
}

// Following: the API lists events newest first by their timestamp, which
// is the provider's time of the change, not the time of receipt, so a
// delivery can arrive with a timestamp a little in the past (a retry, a
// slow provider). Each poll therefore asks for everything since the newest
// timestamp seen minus followOverlap, and prints what it has not printed
// yet: events that arrive with a timestamp older than that are missed.
const (
	followOverlap = 10 * time.Minute
	// followMaxPages bounds one poll; a burst larger than this many pages
	// of 1000 between two polls is cut short (with a note on stderr).
	followMaxPages = 10
)

// follower is blackwell events --follow.
type follower struct {
	c        *apiClient
	g        *globals
	filters  url.Values
	limit    int
	interval time.Duration
	json     bool

	seen   map[string]time.Time // event id -> timestamp, pruned past the overlap
	newest time.Time
	// floor is the oldest timestamp printed at start when --limit cut the
	// listing: the events at or before it that were not printed then were
	// left out on purpose, and a poll's overlap must not print them now.
	floor   time.Time
	printed bool // the table header is out
}

func (f *follower) run(ctx context.Context) error {
	f.seen = map[string]time.Time{}
	q := cloneValues(f.filters)
	q.Set("limit", strconv.Itoa(f.limit))
	var first wirePage[wireEvent]
	if _, _, err := f.c.do(ctx, apiRequest{method: http.MethodGet, path: "/v1/events", query: q}, &first); err != nil {
		return err
	}
	if first.NextCursor != "" && len(first.Items) > 0 {
		f.floor = first.Items[len(first.Items)-1].Timestamp // newest first: the oldest shown
	}
	if err := f.print(first.Items); err != nil {
		return err
	}
	t := time.NewTicker(f.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		events, err := f.poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			var we *wireError
			if errors.As(err, &we) && we.Status >= 400 && we.Status < 500 {
				return err
			}
			if !failing {
				fmt.Fprintf(f.g.stderr, "blackwell: events: %v (retrying every %s)\n", err, f.interval)
			}
			failing = true
			continue
		}
		if failing {
			fmt.Fprintln(f.g.stderr, "blackwell: events: reconnected")
			failing = false
		}
		if err := f.print(events); err != nil {
			return err
		}
	}
}

// poll returns the events not printed yet, newest first.
func (f *follower) poll(ctx context.Context) ([]wireEvent, error) {
	q := cloneValues(f.filters)
	q.Set("limit", "1000")
	if !f.newest.IsZero() {
		q.Set("since", f.newest.Add(-followOverlap).UTC().Format(time.RFC3339Nano))
	}
	var out []wireEvent
	for pages := 0; ; pages++ {
		if pages == followMaxPages {
			fmt.Fprintf(f.g.stderr, "blackwell: events: more than %d new events since the last poll; some are not shown\n", followMaxPages*1000)
			return out, nil
		}
		var page wirePage[wireEvent]
		if _, _, err := f.c.do(ctx, apiRequest{method: http.MethodGet, path: "/v1/events", query: q}, &page); err != nil {
			return nil, err
		}
		fresh := 0
		for _, e := range page.Items {
			if _, ok := f.seen[e.EventID]; !ok && e.Timestamp.After(f.floor) {
				out = append(out, e)
				fresh++
			}
		}
		if page.NextCursor == "" || fresh == 0 {
			return out, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

// print prints events (newest first, as listed) oldest first and
// remembers them.
func (f *follower) print(events []wireEvent) error {
	slices.Reverse(events)
	slices.SortStableFunc(events, func(a, b wireEvent) int { return a.Timestamp.Compare(b.Timestamp) })
	var b strings.Builder
	if !f.json && !f.printed {
		b.WriteString(paddedRow(followWidths, eventColumns...))
		f.printed = true
	}
	for _, e := range events {
		if _, ok := f.seen[e.EventID]; ok {
			continue
		}
		f.seen[e.EventID] = e.Timestamp
		if e.Timestamp.After(f.newest) {
			f.newest = e.Timestamp
		}
		if f.json {
			line, err := json.Marshal(e)
			if err != nil {
				return err
			}
			b.Write(line)
			b.WriteByte('\n')
		} else {
			b.WriteString(paddedRow(followWidths, eventCells(e)...))
		}
	}
	for id, ts := range f.seen {
		if ts.Before(f.newest.Add(-2 * followOverlap)) {
			delete(f.seen, id)
		}
	}
	_, err := io.WriteString(f.g.stdout, b.String())
	return err
}

// followWidths are the column widths of --follow's table, which grows a
// row at a time and so cannot be aligned by a tabwriter (paddedRow).
var followWidths = []int{20, 14, 14, 11, 20, 28, 13, 7, 0}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
