package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/store"
)

const commandStack = "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: acme-corp, stack_id: docs}\nspec:\n" +
	"  providers:\n    ssg: {name: hugo, build: {driver: command, command: [env]}}\n"

// The server's own config file may declare a command build only with
// --allow-command-builds; without, serve refuses to start, naming the flag.
func TestServeRefusesACommandBuildWithoutTheFlag(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "blackwell.yaml")
		require.NoError(t, os.WriteFile(cfgPath, []byte(commandStack), 0o600))
		s, err := startServer(context.Background(), serverOptions{
			configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
			storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
			tenancy: tenancyFlags{allowCommandBuilds: allow},
		})
		if !allow {
			require.ErrorContains(t, err, "blackwell.yaml:6:39: spec.providers.ssg.build.driver: build driver command runs a program on the server and is disabled: allow it with serve --allow-command-builds")
			continue
		}
		require.NoError(t, err)
		require.NoError(t, s.Shutdown(context.Background()))
	}
}

// memEvents keeps the build events it is given.
type memEvents struct {
	mu  sync.Mutex
	got []store.Event
}

func (m *memEvents) InsertEvents(_ context.Context, in []store.Event) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, in...)
	return make([]bool, len(in)), nil
}

// A command build stored earlier (or by another replica's config) does not
// run without the flag: the build fails, saying why. With it, it runs in
// a minimal environment, without the server's variables.
func TestBuilderRunsCommandsOnlyWithTheFlag(t *testing.T) {
	t.Setenv("BLACKWELL_TEST_SERVER_SECRET", "server-secret-91d2") // the server's environment; not parallel
	cfg, err := config.ParseWith("blackwell.yaml", []byte(commandStack), nil, config.Rules{CommandBuilds: true})
	require.NoError(t, err)
	b, ok := provider.NewBinding("acme-corp", "docs", config.RoleSSG, cfg.Stacks[0].Spec)
	require.True(t, ok)

	ev := &memEvents{}
	_, err = newBuilder(ev, os.LookupEnv, nil, false, nil, nil).Trigger(context.Background(), b)
	require.ErrorContains(t, err, "command builds are disabled (serve --allow-command-builds)")
	require.Len(t, ev.got, 1)
	require.Contains(t, string(ev.got[0].Payload), "command builds are disabled (serve --allow-command-builds)")

	res, err := newBuilder(ev, os.LookupEnv, nil, true, nil, nil).Trigger(context.Background(), b)
	require.NoError(t, err)
	require.Contains(t, res.Output, "PATH=")
	require.False(t, strings.Contains(res.Output, "server-secret-91d2") || strings.Contains(res.Output, "BLACKWELL_TEST_SERVER_SECRET"), res.Output)
}
