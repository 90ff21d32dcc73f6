package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// wireHeal is the part of a heal attempt the CLI shows.
type wireHeal struct {
	ID        string     `json:"id"`
	ClientID  string     `json:"client_id"`
	StackID   string     `json:"stack_id"`
	Code      string     `json:"code"`
	Component string     `json:"component"`
	Action    string     `json:"heal_action"`
	Attempt   int        `json:"attempt"`
	Status    string     `json:"status"`
	CreatedAt *time.Time `json:"created_at"`
	Detail    string     `json:"detail"`
	Error     string     `json:"error_message"`
}

// wireHealList is GET /v1/heals: attempts, oldest first, and the breakers.
type wireHealList struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
	Breakers   map[string]string `json:"breakers"`
}

func newHealsCmd(g *globals) *cobra.Command {
	var status string
	var limit int
	ta := targetArgs{kind: eitherTarget, optional: true}
	cmd := &cobra.Command{
		Use:   "heals [CLIENT[/STACK]] [--status S[,S...]] [--limit N]",
		Short: "List heal attempts (of a client or a stack) and the heal breakers",
		Long: `List heal attempts, the newest --limit of them, oldest first: what drift each
healed, with which action, which attempt it was and how it ended (pending,
running, executed, succeeded, failed, dry_run, cancelled; --status keeps
those). Then the state of the heal breakers: an open breaker stops heals
(docs/HEALING.md). -o json prints the attempts shown and the breakers.`,
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
			if limit < 1 {
				return usageError{fmt.Errorf("--limit must be at least 1, not %d", limit)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			q := t.query()
			if status != "" {
				q.Set("status", status)
			}
			list, total, err := c.heals(cmd, q, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(g.stdout, list)
			}
			return printHeals(g, list, total)
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only attempts of these statuses (comma-separated)")
	cmd.Flags().IntVar(&limit, "limit", 50, "how many attempts to show, the newest")
	return cmd
}

// heals reads every page of GET /v1/heals and keeps the newest limit
// attempts (the API lists them oldest first); total is how many matched.
func (c *apiClient) heals(cmd *cobra.Command, q url.Values, limit int) (wireHealList, int, error) {
	out := wireHealList{Items: []json.RawMessage{}}
	for {
		qq := cloneValues(q)
		qq.Set("limit", "1000")
		if out.NextCursor != "" {
			qq.Set("cursor", out.NextCursor)
		}
		var page wireHealList
		if _, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: "/v1/heals", query: qq}, &page); err != nil {
			return wireHealList{}, 0, err
		}
		out.Items = append(out.Items, page.Items...)
		out.Breakers = page.Breakers
		out.NextCursor = page.NextCursor
		if page.NextCursor == "" || len(page.Items) == 0 {
			break
		}
	}
	total := len(out.Items)
	out.Items = out.Items[max(0, total-limit):]
	out.NextCursor = ""
	if out.Breakers == nil {
		out.Breakers = map[string]string{}
	}
	return out, total, nil
}

// printHeals prints the attempts and the breakers.
func printHeals(g *globals, list wireHealList, total int) error {
	if len(list.Items) == 0 {
		fmt.Fprintln(g.stdout, "no heal attempts")
	} else {
		tw := newTable(g.stdout, "CREATED", "CLIENT", "STACK", "CODE", "COMPONENT", "ACTION", "ATTEMPT", "STATUS", "ID", "DETAIL")
		for _, item := range list.Items {
			var h wireHeal
			if err := json.Unmarshal(item, &h); err != nil {
				return fmt.Errorf("decode heal attempt: %w", err)
			}
			detail := h.Detail
			if h.Error != "" {
				detail = h.Error
			}
			row(tw, formatTime(h.CreatedAt), h.ClientID, h.StackID, h.Code, h.Component, h.Action,
				strconv.Itoa(h.Attempt), h.Status, h.ID, truncate(detail, 60))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if total > len(list.Items) {
			fmt.Fprintf(g.stdout, "(the newest %d of %d; --limit shows more)\n", len(list.Items), total)
		}
	}
	if len(list.Breakers) == 0 {
		return nil
	}
	var states []string
	for _, name := range slices.Sorted(maps.Keys(list.Breakers)) {
		states = append(states, name+" "+list.Breakers[name])
	}
	_, err := fmt.Fprintf(g.stdout, "\nbreakers: %s\n", strings.Join(states, ", "))
	return err
}
