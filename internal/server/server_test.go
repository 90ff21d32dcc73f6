package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func testOptions(t *testing.T) Options {
	return Options{
		Listen: freeAddr(t), StoreURL: "sqlite://" + filepath.Join(t.TempDir(), "blackwell.db"),
		Logger: slog.New(slog.DiscardHandler),
	}
}

// TestStartUndoesWhatStartedOnALateFailure: a start that fails at its
// last step (pprof on a taken port) stops everything it had started
// before it closes the store: no goroutine of the loop, the heal runner,
// the membership, the feed, the sweeps or the HTTP server survives, and
// the API's port is free again (issue 15, fault 5).
//
// Not parallel: goleak looks at every goroutine of the process, and the
// parallel tests of this package start only after this one has returned.
func TestStartUndoesWhatStartedOnALateFailure(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	opts := testOptions(t)
	opts.PprofListen = taken.Addr().String()
	s, err := New(context.Background(), opts)
	require.NoError(t, err)
	err = s.Start(context.Background())
	require.ErrorContains(t, err, "pprof listen on "+taken.Addr().String())
	ln, err := net.Listen("tcp", opts.Listen)
	require.NoError(t, err, "the API's listener is closed")
	require.NoError(t, ln.Close())
	require.NoError(t, s.Shutdown(context.Background()), "nothing left to stop")
}

// TestNewClosesWhatItOpenedOnFailure: a listen address that is taken
// fails New after the store was opened; the store is closed again.
func TestNewClosesWhatItOpenedOnFailure(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	opts := testOptions(t)
	opts.Listen = taken.Addr().String()
	_, err = New(context.Background(), opts)
	require.ErrorContains(t, err, "listen on "+taken.Addr().String())
}

// TestShutdownStopsWhatStartRan: after a normal start, Shutdown runs the
// same stack: the API answered, and afterwards no goroutine is left.
func TestShutdownStopsWhatStartRan(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	opts := testOptions(t)
	opts.PprofListen = freeAddr(t)
	s, err := New(context.Background(), opts)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + s.Addr() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, s.Shutdown(context.Background()))
	_, err = c.Get("http://" + s.Addr() + "/healthz")
	require.Error(t, err, "the API is closed")
}
