package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// wireForecast is a forecast as the API answers it.
type wireForecast struct {
	ID         string     `json:"id"`
	ClientID   string     `json:"client_id"`
	StackID    string     `json:"stack_id"`
	Code       string     `json:"code"`
	Component  string     `json:"component"`
	ETA        time.Time  `json:"eta"`
	Confidence float64    `json:"confidence"`
	Class      string     `json:"class"`
	RaisedAt   time.Time  `json:"raised_at"`
	ClearedAt  *time.Time `json:"cleared_at"`
	Evidence   struct {
		Indicator string         `json:"indicator"`
		Detail    string         `json:"detail"`
		Values    map[string]any `json:"values,omitempty"`
	} `json:"evidence"`
}

func newForecastCmd(g *globals) *cobra.Command {
	var all bool
	ta := targetArgs{kind: eitherTarget, splitForm: true}
	cmd := &cobra.Command{
		Use:   "forecast CLIENT[/STACK] [--all]",
		Short: "Show a client's forecasts of drift: drift expected before it happens",
		Long: `Show the open forecasts of a client's stacks (of one stack with CLIENT/STACK):
drift of a code on a component expected by an ETA, from a leading indicator
(a certificate's notAfter, the pinned Shopify api_version's end of support,
a streak of refused webhook deliveries, a drift that keeps reopening).
--all also shows forecasts that were cleared. -o json prints
{"items": [...], "next_cursor": ""} with every forecast.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, asJSON, c, err := ta.read(cmd, args, g)
			if err != nil {
				return err
			}
			q := url.Values{}
			if t.stack != "" {
				q.Set("stack_id", t.stack)
			}
			if all {
				q.Set("include_cleared", "true")
			}
			items := []wireForecast{}
			if err := listAll(cmd, c, pathOf("clients", t.client, "forecasts"), q, &items); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(g.stdout, wirePage[wireForecast]{Items: items})
			}
			if len(items) == 0 {
				_, err := fmt.Fprintf(g.stdout, "no forecasts for %s\n", t)
				return err
			}
			tw := newTable(g.stdout, "STACK", "CODE", "COMPONENT", "ETA", "CONFIDENCE", "CLASS", "INDICATOR", "RAISED", "CLEARED")
			for _, f := range items {
				row(tw, f.StackID, f.Code, f.Component, formatTime(&f.ETA), strconv.FormatFloat(f.Confidence, 'f', 2, 64),
					f.Class, f.Evidence.Indicator, formatTime(&f.RaisedAt), formatTime(f.ClearedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			open := 0
			for _, f := range items {
				if f.ClearedAt == nil {
					open++
				}
			}
			_, err = fmt.Fprintf(g.stdout, "%d open forecast%s\n", open, pluralS(open))
			return err
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also show forecasts that were cleared")
	return cmd
}
