//go:build linux

package sandbox

import "syscall"

// sysProcAttr puts the child in its own process group (so a terminal's
// Ctrl-C reaches only the Go process, which then closes its servers) and asks
// the kernel to SIGKILL it when the forking thread dies, so a crashed or
// killed test or demo does not leave mariadbd behind. spawn keeps that thread
// alive for the child's lifetime.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
