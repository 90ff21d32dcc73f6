package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// docCommand is a blackwell command line written in a user document.
type docCommand struct {
	where string // file:line
	args  []string
}

// inlineCommand is a `blackwell ...` code span in prose.
var inlineCommand = regexp.MustCompile("`(?:bin/)?blackwell ([^`]+)`")

// docCommands returns the blackwell command lines of the README and
// docs/*.md: lines of shell code blocks that run blackwell (with their
// continuation lines), and code spans of prose that do. Comments and pipes
// are cut; the brackets of optional parts are dropped, so that
// "[--limit 20]" reads as "--limit 20".
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	var out []docCommand
	for _, path := range userDocs(t) {
		src, err := os.ReadFile(path)
		require.NoError(t, err)
		lines := strings.Split(string(src), "\n")
		prose := proseLines(string(src))
		shell := false // in a code block of shell commands
		for i := 0; i < len(lines); i++ {
			where := filepath.Base(path) + ":" + strconv.Itoa(i+1)
			if fence, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "```"); ok {
				shell = slices.Contains([]string{"sh", "bash", "shell", "console"}, fence)
				continue
			}
			if prose[i] != "" {
				for _, m := range inlineCommand.FindAllStringSubmatch(prose[i], -1) {
					out = append(out, docCommand{where, commandWords(m[1])})
				}
				continue
			}
			if !shell {
				continue
			}
			cmd := strings.TrimSpace(lines[i])
			for strings.HasSuffix(cmd, "\\") && i+1 < len(lines) {
				i++
				cmd = strings.TrimSuffix(cmd, "\\") + " " + strings.TrimSpace(lines[i])
			}
			for _, prefix := range []string{"$ ", "docker exec blackwell ", "./", "bin/"} {
				cmd = strings.TrimPrefix(cmd, prefix)
			}
			if rest, ok := strings.CutPrefix(cmd, "blackwell "); ok {
				out = append(out, docCommand{where, commandWords(rest)})
			}
		}
	}
	return out
}

// commandWords splits what follows "blackwell" into words, as a shell
// would for the simple lines documents hold.
func commandWords(s string) []string {
	for _, cut := range []string{" # ", "  #", " | ", " > ", " && "} {
		s, _, _ = strings.Cut(s, cut)
	}
	var words []string
	var cur strings.Builder
	quote := rune(0)
	flush := func() {
		w := strings.NewReplacer("[", "", "]", "").Replace(cur.String())
		if w == "..." {
			w = "" // more of the same
			if len(words) > 0 && strings.HasPrefix(words[len(words)-1], "-") {
				w = "X" // an elided value of a flag
			}
		}
		if w != "" && w != "|" {
			words = append(words, w)
		}
		cur.Reset()
	}
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		case quote == 0 && r == ' ':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return words
}

// TestDocsFollowTheCLIGrammar: every blackwell command the README and
// docs/*.md show parses with the commands and flags of this binary, in
// the current grammar: no unknown command or flag, no hidden old spelling,
// no deprecation warning, the right positional arguments.
func TestDocsFollowTheCLIGrammar(t *testing.T) {
	t.Parallel()
	cmds := docCommands(t)
	require.Greater(t, len(cmds), 40, "the documents show blackwell commands")
	var problems []string
	for _, dc := range cmds {
		if len(dc.args) == 0 || dc.args[0] == "COMMAND" {
			continue
		}
		if p := grammarProblem(dc.args); p != "" {
			problems = append(problems, dc.where+": blackwell "+strings.Join(dc.args, " ")+": "+p)
		}
	}
	require.Empty(t, problems, "\n%s", strings.Join(problems, "\n"))
}

// grammarProblem says what is wrong with a command line, or "". A bare
// command name ("blackwell delete" in prose) names the command: its
// arguments are not checked.
func grammarProblem(args []string) string {
	var stderr bytes.Buffer
	root := newRootCmd(strings.NewReader(""), io.Discard, &stderr)
	cmd, rest, err := root.Find(args)
	switch {
	case err != nil:
		return err.Error()
	case cmd == root:
		return "no such command"
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err.Error()
	}
	var hidden []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Hidden {
			hidden = append(hidden, "--"+f.Name)
		}
	})
	if len(hidden) > 0 {
		return "old spelling " + strings.Join(hidden, ", ")
	}
	if cmd.Args != nil && len(rest) > 0 && !cmd.Flags().Changed("help") {
		if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
			return err.Error()
		}
	}
	return strings.TrimSpace(stderr.String())
}

// TestFollowSpellings: -w, --follow and --watch follow; the old -f still
// does, and warns once on stderr.
func TestFollowSpellings(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--follow", "-w", "--watch", "-f"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			srv := httptest.NewServer(api.New(api.Options{Store: st, BootstrapToken: bootstrapPrefix + "test"}))
			t.Cleanup(srv.Close)
			ev := func(id string) store.Event {
				return store.Event{EventID: id, ClientID: "acme", ProviderName: "shopify", EventType: "content.updated",
					ContentID: id, Timestamp: time.Now().UTC()}
			}
			_, err = st.InsertEvents(ctx, []store.Event{ev("first")})
			require.NoError(t, err)

			out, errOut := &lockedBuffer{}, &lockedBuffer{}
			root := newRootCmd(strings.NewReader(""), out, errOut)
			root.SetArgs([]string{"--server", srv.URL, "--token", bootstrapPrefix + "test", "events", "acme", flag, "--interval", "10ms"})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- root.ExecuteContext(runCtx) }()
			t.Cleanup(cancel)
			require.Eventually(t, func() bool { return strings.Contains(out.String(), "first") }, 10*time.Second, 5*time.Millisecond)
			// Only a follower prints what arrives after the first listing.
			_, err = st.InsertEvents(ctx, []store.Event{ev("second")})
			require.NoError(t, err)
			require.Eventually(t, func() bool { return strings.Contains(out.String(), "second") }, 10*time.Second, 5*time.Millisecond,
				"out:\n%s\nerr:\n%s", out.String(), errOut.String())
			cancel()
			require.NoError(t, <-done)
			if flag == "-f" {
				require.Equal(t, "blackwell: \"events -f\" is deprecated and goes in the next release: write \"events --follow (or -w)\"\n", errOut.String())
			} else {
				require.Empty(t, errOut.String())
			}
		})
	}
}

// TestDriftFollowRows: the rows of drift --follow line up whatever their
// cells hold (long ones are cut, "…" counts as one column), and a
// resolved drift does not show the observation from before it cleared.
func TestDriftFollowRows(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 10, 10, 4, 0, 0, 0, time.UTC)
	event := func(kind, code, component string, expected, observed any, by string) wireStreamEvent {
		e := wireStreamEvent{Kind: kind, Timestamp: at}
		e.Data.StackID, e.Data.DriftID, e.Data.Code, e.Data.Severity = "shop-prod", "d-1", code, "high"
		e.Data.Component, e.Data.Expected, e.Data.Observed, e.Data.By = component, expected, observed, by
		return e
	}
	events := []wireStreamEvent{
		event("drift.detected", "webhook_broken", "shopify.orders/create", "present", "missing", ""),
		event("drift.resolved", "webhook_broken", "shopify.orders/create", "present", "missing", ""),
		event("drift.acknowledged", "environment_divergence", strings.Repeat("very-long-component.", 4), strings.Repeat("x", 50), "é"+strings.Repeat("y", 40), "cli:alice"),
		event("drift.detected", "config_pending", "desired_state", "0123456789abcdef0123", "none", ""),
	}
	header := paddedRow(driftFollowWidths, "TIME", "EVENT", "STACK", "CODE", "SEVERITY", "COMPONENT", "EXPECTED", "OBSERVED", "DRIFT")
	starts := columnStarts(header)
	for _, e := range events {
		cells := driftEventCells(e)
		line := paddedRow(driftFollowWidths, cells...)
		require.Equal(t, starts, columnStarts(line), "misaligned:\n%s%s", header, line)
		switch e.Kind {
		case "drift.resolved":
			require.Equal(t, "as expected", cells[7])
			require.NotContains(t, line, "missing")
		case "drift.detected":
			require.NotEqual(t, "as expected", cells[7])
		case "drift.acknowledged":
			require.True(t, strings.HasSuffix(strings.TrimSpace(line), "d-1 by cli:alice"), line)
		}
	}
}

// columnStarts are the rune offsets where the cells of a padded row begin.
func columnStarts(line string) []int {
	var starts []int
	runes := []rune(strings.TrimRight(line, "\n"))
	for i, r := range runes {
		if r != ' ' && (i == 0 || runes[i-1] == ' ' && i >= 2 && runes[i-2] == ' ') {
			starts = append(starts, i)
		}
	}
	return starts
}

func TestPaddedRowCountsRunes(t *testing.T) {
	t.Parallel()
	a := paddedRow([]int{5, 0}, "héllo", "x")
	b := paddedRow([]int{5, 0}, "hello", "x")
	require.Equal(t, utf8.RuneCountInString(a), utf8.RuneCountInString(b))
	require.Equal(t, "abcd…  x\n", paddedRow([]int{5, 0}, "abcdefgh", "x"))
	require.Equal(t, "-      last cell is never cut\n", paddedRow([]int{5, 0}, "", "last cell is never cut"))
}

// TestReadBuildInfo: the version is -X main.version, else the module's,
// else dev with the VCS stamp of go build (and -dirty for local changes),
// else dev.
func TestReadBuildInfo(t *testing.T) {
	t.Parallel()
	stamp := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/blackwellio/blackwell", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name, ldflags string
		bi            *debug.BuildInfo
		want          buildInfo
	}{
		{"ldflags", "v1.4.0", stamp("(devel)", "vcs.revision", rev), buildInfo{Version: "v1.4.0", Commit: rev, Go: "go1.26.0"}},
		{"go install", "", stamp("v1.3.2"), buildInfo{Version: "v1.3.2", Go: "go1.26.0"}},
		{"go build, Go 1.24+", "", stamp("v0.0.0-20261207181540-0123456789ab+dirty", "vcs.revision", rev, "vcs.modified", "true"),
			buildInfo{Version: "v0.0.0-20261207181540-0123456789ab+dirty", Commit: rev, Modified: true, Go: "go1.26.0"}},
		{"go build, clean", "", stamp("(devel)", "vcs.revision", rev, "vcs.modified", "false"),
			buildInfo{Version: "dev-0123456789ab", Commit: rev, Go: "go1.26.0"}},
		{"go build, changed", "", stamp("(devel)", "vcs.revision", rev, "vcs.modified", "true"),
			buildInfo{Version: "dev-0123456789ab-dirty", Commit: rev, Modified: true, Go: "go1.26.0"}},
		{"no stamp", "", stamp("(devel)"), buildInfo{Version: "dev", Go: "go1.26.0"}},
		{"no build info", "", nil, buildInfo{Version: "dev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, readBuildInfo(tc.ldflags, tc.bi))
		})
	}
}
