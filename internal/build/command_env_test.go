package build_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
)

// A build command sees PATH, HOME, LANG, TMPDIR and its build.env, never
// the server's environment (where every client's secrets live). Not
// parallel: it sets a variable of the test process, the "server".
func TestCommandGetsAMinimalEnvironment(t *testing.T) {
	t.Setenv("BLACKWELL_OTHER_CLIENT_TOKEN", "server-secret-4f1c")
	r := build.NewCommandRunner(build.CommandOptions{})
	b := binding(config.Build{Driver: "command", Command: []string{"env"}, Env: map[string]config.Secret{
		"NODE_ENV": config.NewSecret("production"),
	}})
	res, err := r.Run(context.Background(), b)
	require.NoError(t, err)
	require.Equal(t, build.StatusSucceeded, res.Status)
	require.NotContains(t, res.Output, "server-secret-4f1c")
	require.NotContains(t, res.Output, "BLACKWELL_OTHER_CLIENT_TOKEN")

	var names []string
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.Output), "\n") {
		k, v, _ := strings.Cut(line, "=")
		names = append(names, k)
		vars[k] = v
	}
	require.ElementsMatch(t, []string{"HOME", "LANG", "NODE_ENV", "PATH", "TMPDIR"}, names, res.Output)
	require.Equal(t, os.Getenv("PATH"), vars["PATH"])
	require.Equal(t, "production", vars["NODE_ENV"])
	require.Equal(t, vars["HOME"], vars["TMPDIR"])
	require.Regexp(t, regexp.MustCompile(`blackwell-build-`), vars["HOME"])
	_, err = os.Stat(vars["HOME"])
	require.True(t, os.IsNotExist(err), "the build's home is removed after the build")
}

func TestMinimalEnv(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"HOME=/h", "LANG=C.UTF-8", "PATH=/p", "TMPDIR=/h"}, build.MinimalEnv("/p", "/h", nil))
	require.Equal(t, []string{"HOME=/h", "LANG=de_DE.UTF-8", "PATH=/p", "TMPDIR=/h", "X="},
		build.MinimalEnv("/p", "/h", map[string]config.Secret{"LANG": config.NewSecret("de_DE.UTF-8"), "X": config.NewSecret("${UNRESOLVED}")}))
}

// An unresolved build.env refuses to run rather than run with a hole.
func TestCommandRefusesAnUnresolvedEnv(t *testing.T) {
	t.Parallel()
	r := build.NewCommandRunner(build.CommandOptions{})
	_, err := r.Run(context.Background(), binding(config.Build{Driver: "command", Command: []string{"true"},
		Env: map[string]config.Secret{"NPM_TOKEN": config.NewSecret("${NPM_TOKEN}")}}))
	require.ErrorContains(t, err, "build.env.NPM_TOKEN (${NPM_TOKEN}) is unresolved")
}

// Without serve --allow-command-builds the server registers Disabled for
// driver command: a stored command build fails, saying why, and runs
// nothing.
func TestDisabledCommandBuilds(t *testing.T) {
	t.Parallel()
	ev := &events{}
	marker := t.TempDir() + "/ran"
	b := build.NewBuilder(build.BuilderOptions{Events: ev, Runners: map[string]build.Runner{
		build.DriverCommand: build.Disabled{Reason: "command builds are disabled (serve --allow-command-builds)"},
	}})
	res, err := b.Trigger(context.Background(), binding(config.Build{Driver: "command", Command: []string{"touch", marker}}))
	require.ErrorContains(t, err, "command builds are disabled (serve --allow-command-builds)")
	require.Equal(t, build.StatusFailed, res.Status)
	_, statErr := os.Stat(marker)
	require.True(t, os.IsNotExist(statErr), "the command ran")
	evs := ev.all()
	require.Len(t, evs, 1)
	require.Equal(t, build.EventFailed, evs[0].EventType)
	var payload build.BuildResult
	require.NoError(t, json.Unmarshal(evs[0].Payload, &payload))
	require.Equal(t, "command builds are disabled (serve --allow-command-builds)", payload.Detail)
}

func TestBuildDestinations(t *testing.T) {
	t.Parallel()
	hook := config.NewSecret("https://API.netlify.com/build_hooks/abc")
	cases := []struct {
		name string
		b    *config.Build
		want []string
	}{
		{"none", nil, nil},
		{"hook", &config.Build{Driver: "hook", URL: hook}, []string{"https://api.netlify.com"}},
		{"unresolved hook", &config.Build{Driver: "hook", URL: config.NewSecret("${HOOK}")}, nil},
		{"command", &config.Build{Driver: "command", Command: []string{"make"}}, nil},
		{"codebuild region", &config.Build{Driver: "codebuild", Region: "eu-west-1"}, []string{"https://codebuild.eu-west-1.amazonaws.com"}},
		{"codebuild endpoint", &config.Build{Driver: "codebuild", Region: "eu-west-1", Endpoint: "http://127.0.0.1:4566/"}, []string{"http://127.0.0.1:4566"}},
		{"codebuild default", &config.Build{Driver: "codebuild"}, []string{"codebuild:default"}},
	}
	for _, c := range cases {
		require.Equal(t, c.want, build.Destinations(c.b), c.name)
	}
}
