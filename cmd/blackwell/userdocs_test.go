package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// userDocs are the documents a user reads: the README and docs/*.md.
func userDocs(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, docs)
	return append([]string{"../../README.md"}, docs...)
}

// outsideRefs are phrases that send a reader to files outside the
// repository or assume they hold the original specification.
var outsideRefs = regexp.MustCompile(`\.\./shared|/work/|shared/(DESIGN|PROVIDERS|STYLE)|(?i:\bthe spec's\b|\bthe spec (asks|requires|says)\b)`)

// markdownLink is the target of an inline Markdown link.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestUserDocsAreSelfContained: outside code blocks (benchmark commands
// may name the shared bench directory), the README and docs/*.md refer
// to nothing outside the repository, and every relative link names a
// file or directory of it.
func TestUserDocsAreSelfContained(t *testing.T) {
	t.Parallel()
	for _, path := range userDocs(t) {
		src, err := os.ReadFile(path)
		require.NoError(t, err)
		for i, line := range proseLines(string(src)) {
			if line == "" {
				continue
			}
			require.Falsef(t, outsideRefs.MatchString(line), "%s:%d refers outside the repository: %s", path, i+1, line)
			for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				target, _, _ = strings.Cut(target, "#")
				_, err := os.Stat(filepath.Join(filepath.Dir(path), target))
				require.NoErrorf(t, err, "%s:%d links to %s, which is not in the repository", path, i+1, m[1])
			}
		}
	}
}

func TestProseLinesSkipCodeBlocks(t *testing.T) {
	t.Parallel()
	got := proseLines("a\n```sh\n../shared/x\n```\nb")
	require.Equal(t, []string{"a", "", "", "", "b"}, got)
}

// proseLines returns the lines of a Markdown document, with those of
// fenced code blocks (and the fences) blanked so that line numbers stay.
func proseLines(src string) []string {
	lines := strings.Split(src, "\n")
	inCode := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inCode = !inCode
			lines[i] = ""
			continue
		}
		if inCode {
			lines[i] = ""
		}
	}
	return lines
}
