package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// clientCommands are the commands that talk to a running server's API.
func clientCommands(g *globals) []*cobra.Command { return nil }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
