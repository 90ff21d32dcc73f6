package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stackKey names a stack.
type stackKey struct{ client, stack string }

// writeConfig writes a blackwell.yaml of n stacks, perClient to a client,
// each with one http probe of target, and one policy per client with the
// interval; it returns the stacks.
func writeConfig(w io.Writer, n, perClient int, target string, interval time.Duration) ([]stackKey, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	var keys []stackKey
	for _, block := range configBlocks(n, perClient, target, interval, &keys) {
		bw.WriteString(block)
	}
	return keys, bw.Flush()
}

// configBlocks is the config of writeConfig, one block of YAML documents
// per client (each block starts with "---"); the stacks are appended to
// keys.
func configBlocks(n, perClient int, target string, interval time.Duration, keys *[]stackKey) []string {
	var blocks []string
	var b strings.Builder
	for c := 0; len(*keys) < n; c++ {
		b.Reset()
		client := fmt.Sprintf("c%04d", c)
		for s := 0; s < perClient && len(*keys) < n; s++ {
			stack := fmt.Sprintf("s%03d", s)
			*keys = append(*keys, stackKey{client, stack})
			fmt.Fprintf(&b, "---\napiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: %s, stack_id: %s, environment: prod}\n"+
				"spec:\n  resources:\n    site: {probe: http, url: %q, expect_status: 200}\n", client, stack, target)
		}
		fmt.Fprintf(&b, "---\napiVersion: blackwell.io/v1\nkind: ReconciliationPolicy\nmetadata: {client_id: %s}\n"+
			"spec:\n  schedule: {interval: %s}\n  confirmation: {observations: 1}\n", client, interval)
		blocks = append(blocks, b.String())
	}
	return blocks
}

// proc is what /proc says of a process at one moment.
type proc struct {
	cpu        time.Duration // utime + stime
	childCPU   time.Duration // cutime + cstime (reaped children)
	rss, hwm   int64         // VmRSS, VmHWM in bytes
	ok         bool
	comm       string
	ppid       int
	pid        int
	at         time.Time
	threadsNum int
}

// readProc reads /proc/PID/stat and /proc/PID/status (Linux).
func readProc(pid int) proc {
	p := proc{pid: pid, at: time.Now()}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return p
	}
	if !parseStat(stat, &p) {
		return p
	}
	if status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
		p.rss, p.hwm = parseStatus(status)
	}
	p.ok = true
	return p
}

// parseStat reads the command, parent, CPU times and threads of a
// /proc/PID/stat line.
func parseStat(b []byte, p *proc) bool {
	// The command is in parentheses and may hold spaces; the fields after
	// it start with state (field 3).
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return false
	}
	p.comm = string(b[open+1 : closing])
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 18 {
		return false
	}
	num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	tick := func(v int64) time.Duration { return time.Duration(v) * time.Second / clockTicks }
	// f[0] is field 3 (state): field k is f[k-3].
	p.ppid = int(num(1))
	p.cpu = tick(num(11) + num(12))
	p.childCPU = tick(num(13) + num(14))
	p.threadsNum = int(num(17))
	return true
}

// parseStatus reads VmRSS and VmHWM (kB) of /proc/PID/status, in bytes.
func parseStatus(b []byte) (rss, hwm int64) {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &rss
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		*dst = kb * 1024
	}
	return rss, hwm
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// postgresCPU is the CPU time of every process named postgres so far,
// including the reaped children the postmaster accounts for: the server's
// CPU, whichever client it worked for.
func postgresCPU() time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		p := proc{pid: pid}
		if parseStat(b, &p) && p.comm == "postgres" {
			total += p.cpu + p.childCPU
		}
	}
	return total
}

// quantile is the q-quantile (nearest rank) of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func secs(d time.Duration) float64 { return d.Seconds() }
