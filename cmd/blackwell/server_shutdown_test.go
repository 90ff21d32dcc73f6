package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestStartServerUndoesWhatStartedOnALateFailure: a start that fails at
// its last step (pprof on a taken port) stops everything it had started
// before it closes the store: no goroutine of the loop, the heal runner,
// the membership, the feed, the sweeps or the HTTP server survives, and
// the API's port is free again.
//
// Not parallel: goleak looks at every goroutine of the process, and the
// parallel tests of this package start only after this one has returned.
func TestStartServerUndoesWhatStartedOnALateFailure(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	listen := freeAddr(t)
	_, err = startServer(context.Background(), serverOptions{
		listen: listen, storeURL: "sqlite://" + filepath.Join(t.TempDir(), "blackwell.db"), logOut: io.Discard,
		pprofListen: taken.Addr().String(),
	})
	require.ErrorContains(t, err, "pprof listen on "+taken.Addr().String())
	ln, err := net.Listen("tcp", listen)
	require.NoError(t, err, "the API's listener is closed")
	require.NoError(t, ln.Close())
}
