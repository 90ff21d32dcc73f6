package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClientSendsTokenAndExplainsForeignErrors: --token becomes a bearer
// token, and an error answer that is not the API's JSON (a proxy's 502)
// still gives a clear message and exit 1.
func TestClientSendsTokenAndExplainsForeignErrors(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	code := run([]string{"status", "--server", srv.URL, "--token", "s3cr3t"}, nil, &stdout, &stderr)
	require.Equal(t, exitFailure, code)
	require.Equal(t, "blackwell: the server answered 502 Bad Gateway\n", stderr.String())
	require.Empty(t, stdout.String())
	require.Equal(t, []string{"Bearer s3cr3t"}, auth)

	// Without a token no Authorization header is sent; a bare host:port
	// is taken as http.
	stderr.Reset()
	code = run([]string{"drift", "acme-corp", "--token", "", "--server", srv.Listener.Addr().String()}, nil, &stdout, &stderr)
	require.Equal(t, exitFailure, code)
	require.Equal(t, []string{"Bearer s3cr3t", ""}, auth)
}
