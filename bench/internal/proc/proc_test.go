package proc

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

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
			var p Proc
			require.Equal(t, tc.ok, ParseStat([]byte(tc.line), &p))
			if !tc.ok {
				return
			}
			require.Equal(t, tc.comm, p.Comm)
			require.Equal(t, tc.cpu, p.CPU)
			require.Equal(t, tc.childCPU, p.ChildCPU)
			require.Equal(t, tc.threads, p.Threads)
		})
	}
}

func TestParseStatus(t *testing.T) {
	status := strings.Join([]string{"Name:\tblackwell", "VmPeak:\t  900000 kB", "VmHWM:\t   81920 kB", "VmRSS:\t   40960 kB", "Threads:\t11", ""}, "\n")
	rss, hwm := ParseStatus([]byte(status))
	require.Equal(t, int64(40<<20), rss)
	require.Equal(t, int64(80<<20), hwm)
}

// TestReadSelf: this process reads as itself, alive; a pid that does not
// exist reads as not OK. (The harnesses are Linux-only.)
func TestReadSelf(t *testing.T) {
	p := Read(os.Getpid())
	require.True(t, p.OK)
	require.Equal(t, os.Getppid(), p.PPID)
	require.Positive(t, p.RSS)
	require.GreaterOrEqual(t, p.HWM, p.RSS)
	require.Positive(t, p.Threads)
	require.False(t, Read(1<<30).OK)
}
