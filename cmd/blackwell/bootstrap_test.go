package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	bwserver "github.com/blackwellio/blackwell/internal/server"
)

// bearerClient is an HTTP client that sends token with every request (the
// tests' stand-in for the CLI or a browser holding a token).
func bearerClient(token string) *http.Client {
	return &http.Client{Transport: bearerTransport{token: token}}
}

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Header.Get("Authorization") == "" && b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestBootstrapTokenFile: serve writes the bootstrap token to a file only
// its user can read; the CLI, given no token and talking to a server on
// this machine, reads it; the first token ends it; at the next start no
// bootstrap token is made and the stale file is removed.
func TestBootstrapTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "run", "bootstrap.token")
	store := "sqlite://" + filepath.Join(dir, "blackwell.db")
	start := func() *server {
		srv, err := startServer(context.Background(), serverOptions{
			listen: "127.0.0.1:0", storeURL: store, logOut: io.Discard, bootstrapTokenFile: file,
		})
		require.NoError(t, err)
		return srv
	}
	srv := start()
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, srv.bootstrapToken, strings.TrimSpace(string(data)))
	require.True(t, strings.HasPrefix(srv.bootstrapToken, bootstrapPrefix))

	base := "http://" + srv.Addr()
	cli := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"--server", base, "--bootstrap-token-file", file, "--token", ""}, args...), nil, &out, &errOut)
		return out.String(), errOut.String(), code
	}
	// Without a token the API refuses; the CLI finds the file.
	resp, err := http.Get(base + "/v1/stacks")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	out, errOut, code := cli("status")
	require.Equal(t, 0, code, errOut)
	_ = out

	// The first token, created with the bootstrap token, ends it.
	out, errOut, code = cli("token", "create", "--name", "ops", "--role", "admin")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "bw_")
	_, errOut, code = cli("status")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "stopped working")
	require.NoError(t, srv.Shutdown(context.Background()))

	srv = start()
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	require.Empty(t, srv.bootstrapToken, "tokens exist: no bootstrap token")
	_, err = os.Stat(file)
	require.ErrorIs(t, err, os.ErrNotExist, "the stale file is removed")
}

// TestCLIReadsTheBootstrapFileOnlyForThisMachine: a server elsewhere never
// gets the bootstrap token.
func TestCLIReadsTheBootstrapFileOnlyForThisMachine(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "bootstrap.token")
	require.NoError(t, bwserver.WriteSecretFile(file, bootstrapPrefix+"abc"))
	g := &globals{bootstrapFile: file, stderr: io.Discard}
	for _, c := range []struct {
		server string
		want   string
	}{
		{"http://127.0.0.1:8080", bootstrapPrefix + "abc"},
		{"http://localhost:8080", bootstrapPrefix + "abc"},
		{"http://[::1]:8080", bootstrapPrefix + "abc"},
		{"https://blackwell.example.com", ""},
		{"http://192.0.2.7:8080", ""},
	} {
		g.server = c.server
		api, err := g.client()
		require.NoError(t, err)
		require.Equal(t, c.want, api.token, c.server)
	}
}
