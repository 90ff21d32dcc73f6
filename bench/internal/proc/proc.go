// Package proc reads what Linux's /proc says of processes, for the
// benchmark harnesses: CPU time, memory and threads of a process, and the
// CPU time of the PostgreSQL server.
package proc

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// Proc is what /proc says of a process at one moment.
type Proc struct {
	PID, PPID int
	Comm      string
	CPU       time.Duration // utime + stime
	ChildCPU  time.Duration // cutime + cstime (reaped children)
	RSS, HWM  int64         // VmRSS, VmHWM in bytes
	Threads   int
	At        time.Time
	OK        bool // /proc/PID/stat was read
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// Read reads /proc/PID/stat and /proc/PID/status; OK is false if the
// process is gone.
func Read(pid int) Proc {
	p := Proc{PID: pid, At: time.Now()}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil || !ParseStat(stat, &p) {
		return p
	}
	if status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
		p.RSS, p.HWM = ParseStatus(status)
	}
	p.OK = true
	return p
}

// CPU is the CPU time (user + system) the process has used so far; zero
// where that cannot be read.
func CPU(pid int) time.Duration {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	var p Proc
	if !ParseStat(stat, &p) {
		return 0
	}
	return p.CPU
}

// ParseStat reads the command, parent, CPU times and threads of a
// /proc/PID/stat line.
func ParseStat(b []byte, p *Proc) bool {
	// The command is in parentheses and may hold spaces; the fields after
	// it start with state (field 3).
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return false
	}
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 18 {
		return false
	}
	p.Comm = string(b[open+1 : closing])
	num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	tick := func(v int64) time.Duration { return time.Duration(v) * time.Second / clockTicks }
	// f[0] is field 3 (state): field k is f[k-3].
	p.PPID = int(num(1))
	p.CPU = tick(num(11) + num(12))
	p.ChildCPU = tick(num(13) + num(14))
	p.Threads = int(num(17))
	return true
}

// ParseStatus reads VmRSS and VmHWM (kB) of /proc/PID/status, in bytes.
func ParseStatus(b []byte) (rss, hwm int64) {
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

// PostgresCPU is the CPU time of every process named postgres so far,
// including the reaped children the postmaster accounts for: the server's
// CPU, whichever client it worked for.
func PostgresCPU() time.Duration {
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
		p := Proc{PID: pid}
		if ParseStat(b, &p) && p.Comm == "postgres" {
			total += p.CPU + p.ChildCPU
		}
	}
	return total
}
