package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// stateFile is blackwell.state.json: the desired and applied state of every
// stack, the spec's control-plane file.
type stateFile struct {
	GeneratedAt time.Time         `json:"generated_at"`
	Server      string            `json:"server"`
	Stacks      []json.RawMessage `json:"stacks"`
}

func newExportCmd(g *globals) *cobra.Command {
	var out string
	ta := targetArgs{kind: clientTarget, optional: true}
	cmd := &cobra.Command{
		Use:   "export [CLIENT] [--output-file FILE]",
		Short: "Write blackwell.state.json: the desired and applied state of every stack (of CLIENT)",
		Args:  ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := ta.parse(cmd, args)
			if err != nil {
				return err
			}
			clientID := t.client
			c, err := g.client()
			if err != nil {
				return err
			}
			sf := stateFile{GeneratedAt: time.Now().UTC(), Server: g.server, Stacks: []json.RawMessage{}}
			cursor := ""
			for {
				q := url.Values{"limit": {"1000"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				if clientID != "" {
					q.Set("client_id", clientID)
				}
				var page wirePage[json.RawMessage]
				if _, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: "/v1/stacks", query: q}, &page); err != nil {
					return err
				}
				sf.Stacks = append(sf.Stacks, page.Items...)
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if out == "-" {
				return writeJSON(g.stdout, sf)
			}
			b, err := json.MarshalIndent(sf, "", "  ")
			if err != nil {
				return err
			}
			tmp := out + ".tmp"
			if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, out); err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "wrote %s: %d stack%s\n", out, len(sf.Stacks), pluralS(len(sf.Stacks)))
			return err
		},
	}
	outputFileFlag(g, cmd, "export", &out, "blackwell.state.json")
	ta.clientFlag(g, cmd, "export")
	return cmd
}

// outputFileFlag adds --output-file, the file a command writes (- for
// stdout), and its old spellings -f and --file.
func outputFileFlag(g *globals, cmd *cobra.Command, path string, p *string, def string) {
	cmd.Flags().StringVar(p, "output-file", def, "write to this file (- for stdout)")
	g.alias(cmd, "output-file", "file", "f", path+" -f/--file FILE", path+" --output-file FILE")
}
