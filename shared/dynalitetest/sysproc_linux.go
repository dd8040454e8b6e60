//go:build linux

package dynalitetest

import "syscall"

// sysProcAttr asks the kernel to SIGKILL dynalite when the thread that
// started it dies, so a crashed or killed test binary does not leave it
// behind. start keeps that thread alive for dynalite's lifetime.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
