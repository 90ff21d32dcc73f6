package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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
	var client, provider, typ string
	var limit int
	cmd := &cobra.Command{
		Use:   "events [--client C] [--provider P] [--type T] [--limit N]",
		Short: "Show provider events, newest first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if limit < 1 || limit > 1000 {
				return usageError{fmt.Errorf("--limit must be from 1 to 1000, not %d", limit)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			for k, v := range map[string]string{"client_id": client, "provider": provider, "type": typ} {
				if v != "" {
					q.Set(k, v)
				}
			}
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
			tw := newTable(g.stdout, "TIME", "CLIENT", "STACK", "PROVIDER", "TYPE", "CONTENT", "CONTENT_TYPE", "CHECKED", "EVENT_ID")
			for _, e := range page.Items {
				ts := e.Timestamp
				row(tw, formatTime(&ts), e.ClientID, e.StackID, e.ProviderName, e.EventType, e.ContentID, e.ContentType, yesNo(e.DriftChecked), e.EventID)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&client, "client", "", "only this client's events")
	f.StringVar(&provider, "provider", "", "only this provider's events (sanity, shopify, ...)")
	f.StringVar(&typ, "type", "", "only events of this type (content.updated, ...)")
	f.IntVar(&limit, "limit", 50, "how many events to show")
	return cmd
}
