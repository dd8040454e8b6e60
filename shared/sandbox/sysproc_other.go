//go:build !linux

package sandbox

import "syscall"

// sysProcAttr puts the child in its own process group. Outside Linux there is
// no parent-death signal: a killed test process leaves mariadbd running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
