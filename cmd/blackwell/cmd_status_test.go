package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLastSeenWords(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	require.Equal(t, "never", ago(nil, now))
	require.Equal(t, "42s ago", ago(at(42*time.Second), now))
	require.Equal(t, "3m ago", ago(at(3*time.Minute+59*time.Second), now))
	require.Equal(t, "5h ago", ago(at(5*time.Hour), now))
	require.Equal(t, "3d ago", ago(at(72*time.Hour), now))
	require.Equal(t, "0s ago", ago(at(-time.Second), now), "a clock ahead is not negative")

	require.Equal(t, "known", wireSighting{Known: true}.now(now))
	require.Equal(t, "unknown (timeout) for 12m", wireSighting{Reason: "timeout", UnknownSince: at(12 * time.Minute)}.now(now))
	require.Equal(t, "unknown", wireSighting{}.now(now))
}
