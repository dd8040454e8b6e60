//go:build !linux

package dynalitetest

import "syscall"

// sysProcAttr: outside Linux there is no parent-death signal, so a killed
// test binary leaves dynalite running.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
