package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/config"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Explain reconciliation policies",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("policy needs a subcommand: explain")}
		},
	}
	cmd.AddCommand(newPolicyExplainCmd(g, "explain"))
	// The old name, hidden, warning (grammar.go's deprecated).
	show := newPolicyExplainCmd(g, "show")
	show.Hidden = true
	run := show.RunE
	show.RunE = func(cmd *cobra.Command, args []string) error {
		g.deprecated("policy show", "policy explain")
		return run(cmd, args)
	}
	cmd.AddCommand(show)
	return cmd
}

// policySource says in words where an effective policy comes from (the
// API's source).
func policySource(source string) string {
	switch source {
	case "stack":
		return "the stack's own policy"
	case "client":
		return "the client's policy"
	case "default":
		return "the defaults (no policy declared)"
	}
	return source
}

func newPolicyExplainCmd(g *globals, name string) *cobra.Command {
	ta := targetArgs{kind: eitherTarget}
	return &cobra.Command{
		Use:   name + " CLIENT[/STACK]",
		Short: "Show the effective reconciliation policy of a client or a stack, and which level set each field",
		Long: `Show the policy the reconciler applies to a stack (CLIENT/STACK) or to the
client's stacks without a policy of their own (CLIENT): the stack's own
policy, else the client's, with every field they leave out taken from the
OrganizationPolicy's defaults, then the built-in defaults. For a stack, each
field names the level that set it (stack, client, organization, default),
and "locked" marks a field the OrganizationPolicy locks. -o json prints the
API's answer (GET /v1/stacks/{client_id}/{stack_id}/policy/effective for a
stack).`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, asJSON, c, err := ta.read(cmd, args, g)
			if err != nil {
				return err
			}
			if t.stack != "" {
				return explainStack(cmd, g, c, t, asJSON)
			}
			q := url.Values{}
			var pol wirePolicy
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("clients", t.client, "policy"), query: q}, &pol)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			var spec any
			if err := json.Unmarshal(pol.Spec, &spec); err != nil {
				return fmt.Errorf("decode policy: %w", err)
			}
			fmt.Fprintf(g.stdout, "policy of %s: %s\n\n", t, policySource(pol.Source))
			tw := newTable(g.stdout, "SETTING", "VALUE")
			for _, kv := range flattenJSON("", spec) {
				row(tw, kv[0], kv[1])
			}
			return tw.Flush()
		},
	}
}

// wireEffective is GET .../policy/effective's answer.
type wireEffective struct {
	Organization string `json:"organization"`
	Fields       []struct {
		Path   string          `json:"path"`
		Value  json.RawMessage `json:"value"`
		Source string          `json:"source"`
		Locked bool            `json:"locked"`
	} `json:"fields"`
}

// explainStack prints a stack's effective policy, field by field, with
// the level that set each.
func explainStack(cmd *cobra.Command, g *globals, c *apiClient, t target, asJSON bool) error {
	var ans wireEffective
	raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("stacks", t.client, t.stack, "policy", "effective")}, &ans)
	if err != nil {
		return err
	}
	if asJSON {
		return g.writeRaw(raw)
	}
	org := ans.Organization
	if org == "" {
		org = "none"
	}
	fmt.Fprintf(g.stdout, "effective policy of %s (organization policy: %s)\n\n", t, org)
	tw := newTable(g.stdout, "SETTING", "VALUE", "SET BY")
	for _, f := range ans.Fields {
		var v any
		if err := json.Unmarshal(f.Value, &v); err != nil {
			return fmt.Errorf("decode %s: %w", f.Path, err)
		}
		source := f.Source
		if f.Locked {
			source += " (locked)"
		}
		for _, kv := range flattenJSON(f.Path, v) {
			row(tw, kv[0], kv[1], source)
		}
	}
	return tw.Flush()
}

// flattenJSON lists the leaves of a decoded JSON value as dotted paths
// and values, keys sorted: lists of scalars are joined with ", ", an empty
// list is "[]" (in a policy: none), an empty object "{}".
func flattenJSON(path string, v any) [][2]string {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return [][2]string{{path, "{}"}}
		}
		var out [][2]string
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out = append(out, flattenJSON(config.JoinPath(path, k), x[k])...)
		}
		return out
	case []any:
		if len(x) == 0 {
			return [][2]string{{path, "[]"}}
		}
		scalars := make([]string, 0, len(x))
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				var out [][2]string
				for i, e := range x {
					out = append(out, flattenJSON(fmt.Sprintf("%s[%d]", path, i), e)...)
				}
				return out
			}
			scalars = append(scalars, scalarText(e))
		}
		return [][2]string{{path, strings.Join(scalars, ", ")}}
	}
	return [][2]string{{path, scalarText(v)}}
}

// scalarText is a JSON scalar as a table shows it.
func scalarText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
