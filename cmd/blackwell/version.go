package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set with -ldflags "-X main.version=..." by make and the
// Dockerfile; otherwise the build info says what was built.
var version = ""

// buildInfo is what version prints.
type buildInfo struct {
	Version string `json:"version"`
	// Commit and Modified are the VCS stamp Go writes into a binary built
	// in a checkout (vcs.revision, vcs.modified): go build stamps by
	// default, except with -buildvcs=false and in a git worktree.
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go,omitempty"`
}

// readBuildInfo is the version of this binary: -X main.version when set,
// else the module version (go install ...@v1.2.3, or since Go 1.24 the
// pseudo-version go build derives from the VCS stamp), else dev-COMMIT
// (with -dirty for uncommitted changes) from the VCS stamp, else dev.
func readBuildInfo(ldflagsVersion string, bi *debug.BuildInfo) buildInfo {
	out := buildInfo{Version: ldflagsVersion}
	if bi != nil {
		out.Go = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				out.Commit = s.Value
			case "vcs.modified":
				out.Modified = s.Value == "true"
			}
		}
		if out.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			out.Version = bi.Main.Version
		}
	}
	if out.Version != "" {
		return out
	}
	out.Version = "dev"
	if out.Commit != "" {
		out.Version += "-" + out.Commit[:min(12, len(out.Commit))]
		if out.Modified {
			out.Version += "-dirty"
		}
	}
	return out
}

// buildVersion is this binary's version string.
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return readBuildInfo(version, bi).Version
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `Print the version: the one make or the Dockerfile built in, else the module's:
a release (go install ...@v1.2.3), or the pseudo-version go build derives from
the checkout's commit (v0.0.0-TIME-COMMIT, +dirty with uncommitted changes);
else dev-COMMIT from the commit Go stamped; else dev (built with
-buildvcs=false, in a git worktree or outside a checkout). -o json adds the
commit and the Go version.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := g.jsonOutput()
			if err != nil {
				return err
			}
			bi, _ := debug.ReadBuildInfo()
			info := readBuildInfo(version, bi)
			if asJSON {
				return writeJSON(g.stdout, info)
			}
			_, err = fmt.Fprintln(g.stdout, "blackwell", info.Version)
			return err
		},
	}
}
