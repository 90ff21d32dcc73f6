package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/config"
)

// planPolicy is what applying the file would do to one policy: its
// effective spec compared with the one in effect on the server now.
type planPolicy struct {
	ClientID string `json:"client_id"`
	// StackID is empty for a client-wide policy.
	StackID string `json:"stack_id"`
	Action  string `json:"action"`
	// InEffect is where the server's policy for (client, stack) comes from
	// now: "stack", "client", "default", or "" when the server knows
	// neither the client nor the stack.
	InEffect string           `json:"in_effect,omitempty"`
	Changes  []planChangeItem `json:"changes"`
}

// key names the policy: CLIENT or CLIENT/STACK.
func (p planPolicy) key() string {
	if p.StackID == "" {
		return p.ClientID
	}
	return p.ClientID + "/" + p.StackID
}

// wirePolicy is GET /v1/clients/{client_id}/policy.
type wirePolicy struct {
	Spec   json.RawMessage `json:"spec"`
	Source string          `json:"source"`
}

// planPolicies fetches the policy in effect on the server for each policy
// of cfg and compares the two (config.ComparePolicy).
func planPolicies(cmd *cobra.Command, c *apiClient, cfg *config.Config, p *plan) error {
	for _, pol := range cfg.Policies {
		pp := planPolicy{ClientID: pol.Metadata.ClientID, StackID: pol.Metadata.StackID, Changes: []planChangeItem{}}
		var q url.Values
		if pp.StackID != "" {
			q = url.Values{"stack_id": {pp.StackID}}
		}
		var cur wirePolicy
		_, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("clients", pp.ClientID, "policy"), query: q}, &cur)
		var ae *wireError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		case err != nil:
			return err
		default:
			pp.InEffect = cur.Source
		}
		action, changes, err := config.ComparePolicy(pol, pp.InEffect, cur.Spec)
		if err != nil {
			return err
		}
		pp.Action, pp.Changes = string(action), append(pp.Changes, changes...)
		switch action {
		case config.PolicyCreate:
			p.Summary.Add++
		case config.PolicyChange:
			p.Summary.Change++
		default:
			p.Summary.Unchanged++
		}
		p.Policies = append(p.Policies, pp)
	}
	p.Channels = cfg.AllChannels()
	return nil
}

// printPlanPolicies writes the policy lines of a plan, then its channels.
func printPlanPolicies(w io.Writer, p plan, paint func(string) string) {
	for _, pp := range p.Policies {
		switch pp.Action {
		case planCreate:
			now := "now the " + orDash(pp.InEffect) + " policy is in effect"
			if pp.InEffect == "" {
				now = "unknown to the server"
			}
			fmt.Fprintf(w, "%s policy %s will be created (%s)\n", paint("+"), pp.key(), now)
		case planChange:
			fmt.Fprintf(w, "%s policy %s will change\n", paint("~"), pp.key())
		default:
			fmt.Fprintf(w, "  policy %s unchanged\n", pp.key())
		}
		printChanges(w, pp.Changes, paint)
	}
	if len(p.Channels) > 0 {
		fmt.Fprintf(w, "  notification channels: %d in the file, replacing the server's (it keeps no channel definitions to compare):", len(p.Channels))
		for i, ch := range p.Channels {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s (%s)", sep, ch.Name, ch.Type)
		}
		fmt.Fprintln(w)
	}
}

// printChanges writes the changed paths of a stack or policy.
func printChanges(w io.Writer, changes []planChangeItem, paint func(string) string) {
	for _, c := range changes {
		switch c.Op {
		case "+":
			fmt.Fprintf(w, "    %s %s: %s\n", paint("+"), c.Path, planValue(c.To))
		case "-":
			fmt.Fprintf(w, "    %s %s: %s\n", paint("-"), c.Path, planValue(c.From))
		default:
			fmt.Fprintf(w, "    %s %s: %s -> %s\n", paint("~"), c.Path, planValue(c.From), planValue(c.To))
		}
	}
}

// planPrune lists the stacks apply --prune would delete: those of the
// file's clients (clients it declares stacks for) that it does not declare.
func planPrune(cmd *cobra.Command, c *apiClient, cfg *config.Config, p *plan) error {
	keep, seen := map[string]bool{}, map[string]bool{}
	var clients []string
	for _, st := range cfg.Stacks {
		if !seen[st.Metadata.ClientID] {
			seen[st.Metadata.ClientID] = true
			clients = append(clients, st.Metadata.ClientID)
		}
		keep[st.Metadata.Key()] = true
	}
	for _, client := range clients {
		var items []json.RawMessage
		if err := listAll(cmd, c, "/v1/stacks", url.Values{"client_id": {client}}, &items); err != nil {
			return err
		}
		for _, raw := range items {
			var rec wireState
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("decode stack of %s: %w", client, err)
			}
			if keep[rec.ClientID+"/"+rec.StackID] {
				continue
			}
			p.Deletes = append(p.Deletes, planStack{ClientID: rec.ClientID, StackID: rec.StackID, Environment: rec.Environment,
				Action: planDelete, CurrentVersion: rec.StateVersion, DesiredHash: rec.DesiredHash,
				Changes: []planChangeItem{}, Drifts: rec.DriftDetails})
			p.Summary.Delete++
		}
	}
	return nil
}
