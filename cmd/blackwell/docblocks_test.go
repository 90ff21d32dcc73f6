package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// shellBlock is one fenced shell code block of a Markdown document.
type shellBlock struct {
	line int // of the opening fence, 1-based
	text string
	// notRun is the reason of a <!-- not run: REASON --> comment on the
	// last non-blank line before the fence ("" when there is none).
	notRun string
}

// shellLanguages are the info strings of the fences that hold shell.
var shellLanguages = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}

// notRunMarker is what a document writes before a shell block that cannot
// run on a test machine (systemd, docker, a real provider account, ...).
var notRunMarker = regexp.MustCompile(`^<!-- not run: (.*\S.*) -->$`)

// shellBlocks returns the shell code blocks of a Markdown document.
func shellBlocks(src string) []shellBlock {
	var (
		out     []shellBlock
		cur     *shellBlock
		body    []string
		lastTxt string // the last non-blank line outside code
	)
	for i, l := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(l)
		if cur == nil && strings.HasPrefix(trimmed, "```") {
			lang, _, _ := strings.Cut(strings.TrimPrefix(trimmed, "```"), " ")
			b := &shellBlock{line: i + 1}
			if m := notRunMarker.FindStringSubmatch(lastTxt); m != nil {
				b.notRun = m[1]
			}
			if !shellLanguages[lang] {
				b.line = 0 // a block of another language: skipped to its end
			}
			cur, body = b, nil
			continue
		}
		if cur != nil {
			if strings.HasPrefix(trimmed, "```") {
				if cur.line > 0 {
					cur.text = strings.Join(body, "\n") + "\n"
					out = append(out, *cur)
				}
				cur, lastTxt = nil, ""
				continue
			}
			body = append(body, l)
			continue
		}
		if trimmed != "" {
			lastTxt = trimmed
		}
	}
	return out
}

func TestShellBlocks(t *testing.T) {
	t.Parallel()
	src := "# t\n\n```sh\necho a\n```\n<!-- not run: needs systemd -->\n\n```bash\nsystemctl start x\n```\n" +
		"```yaml\nkey: 1\n```\n<!-- not run:   -->\n```console\nls\n```\ntext\n```sh\nb\n```\n"
	require.Equal(t, []shellBlock{
		{line: 3, text: "echo a\n"},
		{line: 8, text: "systemctl start x\n", notRun: "needs systemd"},
		{line: 15, text: "ls\n"}, // a marker without a reason is none
		{line: 19, text: "b\n"},
	}, shellBlocks(src))
}

// TestDocShellBlocksRun runs the shell blocks of the README and
// docs/DEPLOYMENT.md (issue 21, "Tests"). Every one either runs here or is
// marked <!-- not run: REASON --> on the line before it. The program is
// built first with the README's own command (go build -o bin/blackwell
// ./cmd/blackwell, in the repository), and a demo (blackwell demo) serves
// meanwhile, as the README's commands expect: the CLI is pointed at it
// (BLACKWELL_SERVER) and 127.0.0.1:8080, the default address the
// documents name, is replaced by its address. Each block runs with bash
// -e -o pipefail: the README's in the repository (written for a clone:
// bin/blackwell), the others in an empty directory with blackwell on PATH
// (written for an installation). They run in the documents' order, the
// README first: DEPLOYMENT.md creates the first API token, after which
// the bootstrap token stops working.
func TestDocShellBlocksRun(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", "bin/blackwell", "./cmd/blackwell")
	build.Dir, build.WaitDelay = root, 5*time.Second
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build: %s", out)
	bin := filepath.Join(root, "bin", "blackwell")

	tmp := t.TempDir()
	env := []string{
		"PATH=" + filepath.Join(root, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"XDG_RUNTIME_DIR=" + filepath.Join(tmp, "run"),
		"BLACKWELL_BOOTSTRAP_TOKEN_FILE=" + filepath.Join(tmp, "bootstrap.token"),
	}
	for _, kv := range os.Environ() {
		// The blocks' environment is the test's (its HOME, so go finds
		// its caches), without blackwell's own variables (a token or
		// server of the machine's) and what is set above.
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "BLACKWELL_") && name != "PATH" && name != "XDG_RUNTIME_DIR" {
			env = append(env, kv)
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "run"), 0o700))

	addr := startDocDemo(ctx, t, bin, env)
	env = append(env, "BLACKWELL_SERVER=http://"+addr)

	ran := map[string]int{}
	for _, doc := range []string{"README.md", "docs/DEPLOYMENT.md"} {
		src, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		blocks := shellBlocks(string(src))
		require.NotEmpty(t, blocks, doc)
		for _, b := range blocks {
			if b.notRun != "" {
				continue
			}
			dir := root
			if doc != "README.md" {
				dir = t.TempDir()
			}
			script := strings.ReplaceAll(b.text, "127.0.0.1:8080", addr)
			bctx, bcancel := context.WithTimeout(ctx, time.Minute)
			cmd := exec.CommandContext(bctx, "bash", "-e", "-o", "pipefail", "-c", script)
			cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, 5*time.Second
			out, err := cmd.CombinedOutput()
			bcancel()
			require.NoError(t, err, "%s:%d: the block fails (mark it <!-- not run: REASON --> if it cannot run here):\n%s\n%s", doc, b.line, script, out)
			ran[doc]++
		}
	}
	require.GreaterOrEqual(t, ran["README.md"], 2, "the demo's commands and the hold's")
	require.GreaterOrEqual(t, ran["docs/DEPLOYMENT.md"], 1, "the first token")
}

// startDocDemo starts blackwell demo on a free loopback port and returns
// its address; the demo stops with the test.
func startDocDemo(ctx context.Context, t *testing.T, bin string, env []string) string {
	t.Helper()
	demo := exec.CommandContext(ctx, bin, "demo", "--listen", "127.0.0.1:0")
	demo.Env = env
	stdout, err := demo.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, demo.Start())
	t.Cleanup(func() {
		_ = demo.Process.Kill()
		_ = demo.Wait()
	})
	api := regexp.MustCompile(`^  API +http://([0-9.]+:[0-9]+)/v1/stacks$`)
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := api.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	select {
	case a := <-addrc:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not print its address")
	}
	return ""
}

// TestDocsStateTheSchemaVersion: docs/DEPLOYMENT.md names this release's
// store schema version, and every "schema version N" it shows is it.
func TestDocsStateTheSchemaVersion(t *testing.T) {
	t.Parallel()
	latest := sqlite.LatestSchemaVersion()
	require.Equal(t, latest, postgres.LatestSchemaVersion(), "both drivers have the same migrations")
	src, err := os.ReadFile(filepath.Join("..", "..", "docs", "DEPLOYMENT.md"))
	require.NoError(t, err)
	require.Contains(t, string(src), "This release's store schema version is "+strconv.Itoa(latest)+" ",
		"docs/DEPLOYMENT.md, \"Upgrades and migrations\", names the schema version")
	for _, m := range regexp.MustCompile(`schema version (\d+)`).FindAllStringSubmatch(string(src), -1) {
		require.Equal(t, strconv.Itoa(latest), m[1], "docs/DEPLOYMENT.md shows %q", m[0])
	}
}
