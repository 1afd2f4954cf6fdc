package e2e

import "syscall"

// childProcAttr makes the kernel kill a child if the test binary dies
// without running its cleanups (a test timeout panics, or the binary is
// killed), so that no receiptd or zimfake outlives the suite.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
