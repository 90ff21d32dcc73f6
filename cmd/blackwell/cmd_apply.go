package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// wireApplyResult is one item of POST /v1/config's answer.
type wireApplyResult struct {
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	Created  bool   `json:"created"`
	Changed  bool   `json:"changed"`
	Version  string `json:"state_version"`
	Hash     string `json:"desired_hash"`
}

// change names what an apply did to a stack.
func (r wireApplyResult) change() string {
	switch {
	case r.Created:
		return "created"
	case r.Changed:
		return "changed"
	}
	return "unchanged"
}

// wirePolicyResult is one policy of POST /v1/config's answer.
type wirePolicyResult struct {
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	Created  bool   `json:"created"`
	Changed  bool   `json:"changed"`
}

// key names the policy: CLIENT (client-wide) or CLIENT/STACK.
func (r wirePolicyResult) key() string {
	if r.StackID == "" {
		return r.ClientID
	}
	return r.ClientID + "/" + r.StackID
}

func (r wirePolicyResult) change() string {
	return wireApplyResult{Created: r.Created, Changed: r.Changed}.change()
}

func newApplyCmd(g *globals) *cobra.Command {
	var (
		file  string
		prune bool
	)
	cmd := &cobra.Command{
		Use:   "apply [-f FILE] [--prune]",
		Short: "Send a blackwell.yaml to the server to become the desired state",
		Long: `Send a whole blackwell.yaml to the server, which validates it (resolving
secret references from its own environment) and applies it: each stack whose
desired composition changed gets a new version. Nothing is applied when any
document is invalid; the problems are printed as file:line:column: message.

With --prune, the stacks of the file's clients that the file no longer declares
are then deleted (as "blackwell delete" does; their history is kept). Only
clients the file declares stacks for are touched; "plan --prune" shows what
would go.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			var answer wireApplyAnswer
			var q url.Values
			if prune {
				q = url.Values{"prune": {"true"}}
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{
				method: http.MethodPost, path: "/v1/config", body: data, ctype: "application/yaml", query: q,
				header: map[string]string{"X-Blackwell-Filename": file},
			}, &answer)
			if err != nil {
				return g.reportConfigProblems(err)
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			return printApplied(g, file, prune, answer)
		},
	}
	g.configFlag(cmd, &file)
	cmd.Flags().BoolVar(&prune, "prune", false, "delete the stacks of the file's clients that the file does not declare (history kept)")
	bindEnv(cmd.Flags())
	return cmd
}

// wireApplyAnswer is POST /v1/config's answer.
type wireApplyAnswer struct {
	Items    []wireApplyResult  `json:"items"`
	Deleted  []wireStackDeleted `json:"deleted"`
	Policies []wirePolicyResult `json:"policies"`
	Channels []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"channels"`
}

// printApplied prints what an apply did: stacks, policies, deletions and
// channels.
func printApplied(g *globals, file string, prune bool, answer wireApplyAnswer) error {
	if len(answer.Items) == 0 {
		fmt.Fprintln(g.stdout, "no stacks in", file)
	} else {
		tw := newTable(g.stdout, "CLIENT", "STACK", "VERSION", "CHANGE")
		for _, r := range answer.Items {
			row(tw, r.ClientID, r.StackID, r.Version, r.change())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(answer.Policies) > 0 {
		fmt.Fprintln(g.stdout)
		tw := newTable(g.stdout, "POLICY", "CHANGE")
		for _, p := range answer.Policies {
			row(tw, p.key(), p.change())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(answer.Deleted) > 0 {
		fmt.Fprintln(g.stdout)
		for _, d := range answer.Deleted {
			d.describe(g.stdout)
		}
	} else if prune {
		fmt.Fprintf(g.stdout, "\nnothing to prune: the server holds no other stacks of the file's clients\n")
	}
	if len(answer.Channels) > 0 {
		names := make([]string, len(answer.Channels))
		for i, ch := range answer.Channels {
			names[i] = ch.Name + " (" + ch.Type + ")"
		}
		fmt.Fprintf(g.stdout, "\nnotification channels configured: %s\n", strings.Join(names, ", "))
	}
	return nil
}
