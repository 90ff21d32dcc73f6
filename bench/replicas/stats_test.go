package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

// The generated config is valid, and holds the stacks and policies asked for.
func TestWriteConfig(t *testing.T) {
	for _, tc := range []struct{ n, perClient, clients int }{
		{1, 100, 1},
		{250, 100, 3},
		{300, 100, 3},
		{7, 3, 3},
	} {
		var buf bytes.Buffer
		keys, err := writeConfig(&buf, tc.n, tc.perClient, "http://127.0.0.1:1/", 5*time.Minute)
		require.NoError(t, err)
		require.Len(t, keys, tc.n)
		cfg, err := config.Parse("bench.yaml", buf.Bytes(), nil)
		require.NoError(t, err)
		require.Len(t, cfg.Stacks, tc.n)
		require.Len(t, cfg.Policies, tc.clients)
		seen := map[stackKey]bool{}
		for i, st := range cfg.Stacks {
			k := stackKey{st.Metadata.ClientID, st.Metadata.StackID}
			require.Equal(t, keys[i], k)
			require.False(t, seen[k], "%v twice", k)
			seen[k] = true
		}
		pol := config.EffectivePolicy(nil, &cfg.Policies[0].Spec)
		require.Equal(t, config.Duration(5*time.Minute), pol.Schedule.Interval)
	}
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 10; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Second)
	}
	require.Equal(t, 5*time.Second, quantile(ds, 0.5))
	require.Equal(t, 10*time.Second, quantile(ds, 0.99))
	require.Equal(t, 1*time.Second, quantile(ds, 0))
	require.Equal(t, time.Duration(0), quantile(nil, 0.5))
	require.Equal(t, 10*time.Second, ds[0], "the input is not reordered")
}
