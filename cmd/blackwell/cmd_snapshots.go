package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// wireSnapshot is the part of a known-good snapshot the CLI shows.
type wireSnapshot struct {
	ID          string     `json:"id"`
	Version     string     `json:"state_version"`
	TakenAt     *time.Time `json:"taken_at"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	Components  struct {
		Build *struct {
			Host          string `json:"host"`
			DeployID      string `json:"deploy_id"`
			SourceVersion string `json:"source_version"`
		} `json:"build"`
		CMSAlias *struct {
			Alias       string `json:"alias"`
			Environment string `json:"environment"`
		} `json:"cms_alias"`
		Subscriptions []json.RawMessage `json:"subscriptions"`
		DNS           []json.RawMessage `json:"dns"`
	} `json:"components"`
}

func newSnapshotsCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget}
	return &cobra.Command{
		Use:   "snapshots CLIENT/STACK",
		Short: "List a stack's known-good snapshots, newest first",
		Long: `List the known-good snapshots of a stack, newest first. A pass that finds the
stack healthy, with every provider seen and every probe healthy, records
what the providers ran: the live deployment (or the commit a CodeBuild
build ran), the CMS environment alias's target, the webhook subscriptions,
the answers of dns probes. "blackwell rollback CLIENT/STACK SNAPSHOT"
restores one; -o json prints each with all of its components.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, all, _, done, err := ta.readStackList(cmd, args, g, "snapshots")
			if err != nil || done {
				return err
			}
			if len(all) == 0 {
				_, err := fmt.Fprintf(g.stdout, "no known-good snapshots of %s/%s yet\n", t.client, t.stack)
				return err
			}
			tw := newTable(g.stdout, "SNAPSHOT", "VERSION", "TAKEN", "CONFIRMED", "BUILD", "CMS_ALIAS", "SUBSCRIPTIONS", "DNS")
			for _, item := range all {
				var s wireSnapshot
				if err := json.Unmarshal(item, &s); err != nil {
					return fmt.Errorf("decode snapshot: %w", err)
				}
				build, alias := "-", "-"
				if b := s.Components.Build; b != nil {
					build = strings.TrimSpace(b.Host + " " + b.DeployID)
					if b.DeployID == "" {
						build = "source " + b.SourceVersion
					}
				}
				if a := s.Components.CMSAlias; a != nil {
					alias = a.Alias + "->" + a.Environment
				}
				row(tw, s.ID, s.Version, formatTime(s.TakenAt), formatTime(s.ConfirmedAt), build, alias,
					fmt.Sprint(len(s.Components.Subscriptions)), fmt.Sprint(len(s.Components.DNS)))
			}
			return tw.Flush()
		},
	}
}

func newRollbacksCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget}
	return &cobra.Command{
		Use:   "rollbacks CLIENT/STACK",
		Short: "List a stack's rollbacks across providers, newest first",
		Long: `List the rollbacks of a stack that restored a known-good snapshot, newest
first, with the outcome of each component (desired_state, cms_alias,
subscriptions, build, verify). A rollback still running when the server
stopped resumes at its next start.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, all, _, done, err := ta.readStackList(cmd, args, g, "rollbacks")
			if err != nil || done {
				return err
			}
			if len(all) == 0 {
				_, err := fmt.Fprintf(g.stdout, "no rollbacks of %s/%s\n", t.client, t.stack)
				return err
			}
			tw := newTable(g.stdout, "ROLLBACK", "SNAPSHOT", "RESTORED", "NEW", "STATUS", "COMPONENTS")
			for _, item := range all {
				var rb wireRollback
				if err := json.Unmarshal(item, &rb); err != nil {
					return fmt.Errorf("decode rollback: %w", err)
				}
				var parts []string
				for _, st := range rb.Steps {
					parts = append(parts, st.Component+"="+st.Outcome)
				}
				row(tw, rb.ID, rb.SnapshotID, rb.RestoredVersion, rb.NewVersion, rb.Status, strings.Join(parts, " "))
			}
			return tw.Flush()
		},
	}
}

// writeItems prints items as one list answer.
// readStackList reads every item of a stack's list route
// (stacks/CLIENT/STACK/what) for a table; with -o json it prints them as
// one list page instead, and done is true.
func (ta *targetArgs) readStackList(cmd *cobra.Command, args []string, g *globals, what string) (target, []json.RawMessage, *apiClient, bool, error) {
	t, asJSON, c, err := ta.read(cmd, args, g)
	if err != nil {
		return target{}, nil, nil, false, err
	}
	all := []json.RawMessage{}
	if err := listAll(cmd, c, pathOf("stacks", t.client, t.stack, what), url.Values{}, &all); err != nil {
		return target{}, nil, nil, false, err
	}
	if asJSON {
		return t, all, c, true, writeJSON(g.stdout, wirePage[json.RawMessage]{Items: all})
	}
	return t, all, c, false, nil
}
