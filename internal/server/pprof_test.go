package server

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPprofIsOffUnlessAsked(t *testing.T) {
	t.Parallel()
	srv, err := startPprof("", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Nil(t, srv)
}

func TestPprofServesProfilesOnItsOwnListener(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	srv, err := startPprof(addr, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "goroutine")
}
