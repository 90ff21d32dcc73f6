package main

import (
	"bytes"
	"strings"
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

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, line    string
		ok            bool
		comm          string
		cpu, childCPU time.Duration
		threads       int
	}{
		{
			name: "plain",
			line: "123 (blackwell) S 1 123 123 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0 100 1000 200",
			ok:   true, comm: "blackwell", cpu: 3 * time.Second, childCPU: 100 * time.Millisecond, threads: 11,
		},
		{
			name: "command with spaces and parentheses",
			line: "9 (postgres: a (b) c) S 1 9 9 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 100 1000 200",
			ok:   true, comm: "postgres: a (b) c", cpu: 30 * time.Millisecond, childCPU: 70 * time.Millisecond, threads: 1,
		},
		{name: "truncated", line: "9 (x) S 1 9", ok: false},
		{name: "no command", line: "9 x S 1 9 9 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0", ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p proc
			require.Equal(t, tc.ok, parseStat([]byte(tc.line), &p))
			if !tc.ok {
				return
			}
			require.Equal(t, tc.comm, p.comm)
			require.Equal(t, tc.cpu, p.cpu)
			require.Equal(t, tc.childCPU, p.childCPU)
			require.Equal(t, tc.threads, p.threadsNum)
		})
	}
}

func TestParseStatus(t *testing.T) {
	status := strings.Join([]string{"Name:\tblackwell", "VmPeak:\t  900000 kB", "VmHWM:\t   81920 kB", "VmRSS:\t   40960 kB", "Threads:\t11", ""}, "\n")
	rss, hwm := parseStatus([]byte(status))
	require.Equal(t, int64(40<<20), rss)
	require.Equal(t, int64(80<<20), hwm)
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
