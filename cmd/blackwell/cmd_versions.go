package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// wireVersion is the part of a stored desired version the CLI shows.
type wireVersion struct {
	Version   string     `json:"version"`
	Hash      string     `json:"desired_hash"`
	CreatedAt *time.Time `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	// Snapshot is the newest known-good snapshot of the version.
	Snapshot string `json:"snapshot"`
}

func newVersionsCmd(g *globals) *cobra.Command {
	ta := targetArgs{kind: stackTarget}
	return &cobra.Command{
		Use:   "versions CLIENT/STACK",
		Short: "List a stack's desired-state versions, newest first",
		Long: `List the stored desired versions of a stack, newest first: each change of its
desired composition (apply, a PATCH, a rollback) is a new version. DESIRED
marks the version in force; APPLIED marks the versions whose composition is
the one a pass last saw applied. "blackwell rollback CLIENT/STACK VERSION"
makes an earlier one the desired state again; SNAPSHOT names the newest
known-good snapshot of a version (what the providers ran when a pass last
verified it), which that rollback restores too. -o json prints each
version with its whole document.`,
		Args: ta.validate(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, all, c, done, err := ta.readStackList(cmd, args, g, "versions")
			if err != nil || done {
				return err
			}
			var rec wireState
			if _, _, err := c.do(cmd.Context(), apiRequest{method: http.MethodGet, path: pathOf("stacks", t.client, t.stack)}, &rec); err != nil {
				return err
			}
			return printVersions(g, rec, all)
		},
	}
}

// printVersions prints a stack's versions (newest first) against its
// state record.
func printVersions(g *globals, rec wireState, all []json.RawMessage) error {
	if len(all) == 0 {
		_, err := fmt.Fprintf(g.stdout, "no versions of %s/%s\n", rec.ClientID, rec.StackID)
		return err
	}
	tw := newTable(g.stdout, "VERSION", "CREATED", "BY", "DESIRED_HASH", "DESIRED", "APPLIED", "SNAPSHOT")
	for _, item := range all {
		var v wireVersion
		if err := json.Unmarshal(item, &v); err != nil {
			return fmt.Errorf("decode version: %w", err)
		}
		row(tw, v.Version, formatTime(v.CreatedAt), v.CreatedBy, v.Hash[:min(12, len(v.Hash))],
			yesNo(v.Version == rec.StateVersion), yesNo(v.Hash != "" && v.Hash == rec.AppliedHash), cmp.Or(v.Snapshot, "-"))
	}
	return tw.Flush()
}
