package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the demo's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDemoInjectsFaultsAndShowsDrift(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	began := time.Now()
	err := runDemo(context.Background(), &out, demoOptions{
		listen: "127.0.0.1:0", faultEvery: 300 * time.Millisecond, mendAfter: 2 * time.Second,
		interval: time.Second, duration: 8 * time.Second,
	})
	require.NoError(t, err)
	// It returned on its own (the context never ends): the demo stops
	// after --duration, and not before.
	require.GreaterOrEqual(t, time.Since(began), 8*time.Second, "the demo runs for --duration")
	got := out.String()
	for _, want := range []string{
		"blackwell demo: 3 stacks of 3 clients", "fault  ", "mend   ",
		"status acme-corp/shop-prod healthy", "drift_detected: ", "demo stopped",
	} {
		require.Contains(t, got, want)
	}
	require.False(t, strings.Contains(got, "/build_hooks/"), "build hook URLs are secrets")
}
