package dynalitetest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes dynalite end with the test binary that started it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
