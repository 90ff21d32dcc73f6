package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// wireHold is a rollback's hold as the API answers it (store.Hold).
type wireHold struct {
	Version  string    `json:"version"`
	Restored string    `json:"restored"`
	Until    time.Time `json:"until"`
	By       string    `json:"by"`
}

// describe is "pinned at v1.3.0 (the desired state of v1.1.0) until T by B".
func (h wireHold) describe() string {
	return fmt.Sprintf("pinned at %s (the desired state of %s) until %s by %s", h.Version, h.Restored, h.Until.UTC().Format(time.RFC3339), h.By)
}

// printWarnings prints an answer's warnings on stderr, one line each.
func printWarnings(g *globals, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
}

func newUnpinCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget}
	return &cobra.Command{
		Use:   "unpin CLIENT/STACK",
		Short: "End a rollback's hold on a stack early",
		Long: `End the hold a "rollback --hold" put on a stack. Its desired state stays as it is;
while a stack is pinned, the server's config file (applied at start and on
SIGHUP) and "apply" leave it alone. After unpin, the next SIGHUP or restart
applies the file's version of a stack the file declares.

When the rollback restored a snapshot and the site is on Vercel, unpin also
promotes the deployment serving production: it goes on serving, and new
production deployments go live again (after an instant rollback Vercel
stops assigning them until a promote). Netlify and Cloudflare Pages publish
new deployments after a rollback as usual: nothing is called for them.`,
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
			clientID, stackID := t.client, t.stack
			c, err := g.client()
			if err != nil {
				return err
			}
			var res struct {
				Unpinned  bool      `json:"unpinned"`
				Hold      *wireHold `json:"hold"`
				Providers []string  `json:"providers"`
				Warnings  []string  `json:"warnings"`
			}
			raw, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodPost, path: pathOf("stacks", clientID, stackID, "unpin")}, &res)
			if err != nil {
				return err
			}
			if asJSON {
				return g.writeRaw(raw)
			}
			printWarnings(g, res.Warnings)
			if !res.Unpinned || res.Hold == nil {
				_, err = fmt.Fprintf(g.stdout, "%s/%s has no hold\n", clientID, stackID)
				return err
			}
			if _, err = fmt.Fprintf(g.stdout, "unpinned %s/%s (was %s)\n", clientID, stackID, res.Hold.describe()); err != nil {
				return err
			}
			for _, p := range res.Providers {
				if _, err = fmt.Fprintf(g.stdout, "  %s\n", p); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
