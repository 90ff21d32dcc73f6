package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/blackwellio/blackwell/internal/config"
)

// wireException is a compliance exception as the API answers it.
type wireException struct {
	Rule     string `json:"rule"`
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	Owner    string `json:"owner"`
	Reason   string `json:"reason"`
	Ticket   string `json:"ticket"`
	Expires  string `json:"expires"`
	Source   string `json:"source"`
	Expired  bool   `json:"expired"`
}

// scope is "acme-corp/shop" or "acme-corp (every stack)".
func (x wireException) scope() string {
	if x.StackID != "" {
		return x.ClientID + "/" + x.StackID
	}
	return x.ClientID + " (every stack)"
}

func newExceptionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exception",
		Short: "Add, list and remove compliance exceptions without applying the OrganizationPolicy again",
		Long: `A compliance exception exempts a client, or one of its stacks, from a rule of
the OrganizationPolicy until it expires; it has an owner, a reason and
optionally a ticket. Exceptions added here are kept in the stored policy and
survive a restart; an apply of the OrganizationPolicy keeps them unless the
file declares an exception of the same rule and stack, which then wins (the
file is the source of truth for what it declares). Those the file declares
change only in the file. Expiry is judged at every use (docs/POLICY.md).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("exception needs a subcommand: add, list or remove")}
		},
	}
	cmd.AddCommand(newExceptionAddCmd(g), newExceptionListCmd(g), newExceptionRemoveCmd(g))
	return cmd
}

// exceptionExpiry reads --expires: an RFC 3339 time, or a duration from
// now (720h, 30d).
func exceptionExpiry(s string, now time.Time) (string, error) {
	if s == "" {
		return "", usageError{fmt.Errorf("exception add needs --expires (an RFC 3339 time such as 2027-01-31T00:00:00Z, or a duration from now such as 30d)")}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	d, err := config.ParseDuration(s)
	if err != nil || d.D() <= 0 {
		return "", usageError{fmt.Errorf("--expires %q is neither an RFC 3339 time nor a positive duration such as 30d", s)}
	}
	return now.Add(d.D()).UTC().Format(time.RFC3339), nil
}

func newExceptionAddCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: eitherTarget, extra: 1}
	var owner, reason, ticket, expires string
	cmd := &cobra.Command{
		Use:   "add CLIENT[/STACK] RULE --owner WHO --reason TEXT --expires T|DURATION [--ticket ID]",
		Short: "Exempt a client or a stack from a rule until the exception expires (admin)",
		Args:  ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, rest, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			if owner == "" || reason == "" {
				return usageError{fmt.Errorf("exception add needs --owner and --reason")}
			}
			exp, err := exceptionExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"rule": rest[0], "stack_id": t.stack, "owner": owner, "reason": reason,
				"ticket": ticket, "expires": exp})
			var res struct {
				Exception wireException `json:"exception"`
				Replaced  bool          `json:"replaced"`
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("clients", t.client, "compliance", "exceptions"), body: body}, &res)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			verb := "added"
			if res.Replaced {
				verb = "replaced"
			}
			x := res.Exception
			_, err = fmt.Fprintf(g.stdout, "%s the exception of rule %s for %s until %s (owner %s)\n", verb, x.Rule, x.scope(), x.Expires, x.Owner)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&owner, "owner", "", "who answers for the exception")
	f.StringVar(&reason, "reason", "", "why the rule does not apply for now")
	f.StringVar(&ticket, "ticket", "", "a ticket that tracks it")
	f.StringVar(&expires, "expires", "", "when it ends: an RFC 3339 time, or a duration from now such as 30d")
	return cmd
}

func newExceptionListCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: clientTarget}
	return &cobra.Command{
		Use:   "list CLIENT",
		Short: "A client's compliance exceptions: declared by the OrganizationPolicy or added here",
		Args:  ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, asJSON, c, err := ta.read(cmd, args, g)
			if err != nil {
				return err
			}
			var res struct {
				Items []wireException `json:"items"`
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("clients", t.client, "compliance", "exceptions")}, &res)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			if len(res.Items) == 0 {
				_, err = fmt.Fprintf(g.stdout, "no exceptions for %s\n", t.client)
				return err
			}
			tw := newTable(g.stdout)
			fmt.Fprintln(tw, "RULE\tSTACK\tEXPIRES\tSTATE\tFROM\tOWNER\tTICKET\tREASON")
			for _, x := range res.Items {
				stack, state, from := x.StackID, "holds", "file"
				if stack == "" {
					stack = "(every stack)"
				}
				if x.Expired {
					state = "expired"
				}
				if x.Source == "api" {
					from = "api"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Rule, stack, x.Expires, state, from, x.Owner, orDash(x.Ticket), x.Reason)
			}
			return tw.Flush()
		},
	}
}

func newExceptionRemoveCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: eitherTarget, extra: 1}
	return &cobra.Command{
		Use:   "remove CLIENT[/STACK] RULE",
		Short: "Remove a compliance exception added with exception add (admin)",
		Args:  ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, rest, asJSON, c, err := ta.readArgs(cmd, args, g)
			if err != nil {
				return err
			}
			q := url.Values{"rule": {rest[0]}}
			if t.stack != "" {
				q.Set("stack_id", t.stack)
			}
			var res struct {
				Exception wireException `json:"exception"`
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodDelete, path: pathOf("clients", t.client, "compliance", "exceptions"), query: q}, &res)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			_, err = fmt.Fprintf(g.stdout, "removed the exception of rule %s for %s\n", res.Exception.Rule, res.Exception.scope())
			return err
		},
	}
}
