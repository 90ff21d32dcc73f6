//go:build !linux

package dynalitetest

import "os/exec"

// dieWithParent: outside Linux, dynalite outlives a test binary killed
// before it returns.
func dieWithParent(*exec.Cmd) {}
