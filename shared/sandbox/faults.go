package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server faults beyond Kill and Restart, for fault-injection tests.

// ErrNotRunning is returned by Stop, Cont and Shutdown when mariadbd is not
// running (never started, killed, shut down or closed).
var ErrNotRunning = errors.New("sandbox: server is not running")

// Stop freezes mariadbd with SIGSTOP, the way a hung server behaves: its
// port still accepts TCP connections (the kernel completes the handshake
// and queues what clients send) and open connections stay up, but nothing
// is answered, read or executed until Cont. Statements sent meanwhile wait
// in the server's socket buffers and run when it resumes, unless their
// connection is gone by then.
//
// Stop returns once every thread of mariadbd is stopped.
//
// A stopped server must be resumed with Cont (or killed) before Close: a
// stopped process does not act on SIGTERM, so Close would wait for its
// StopTimeout before it kills it. Tests should register
// t.Cleanup(func() { s.Cont() }) after StartT.
func (s *Server) Stop() error {
	if err := s.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	// The signal is delivered asynchronously: a thread may still answer a
	// query sent right after kill(2) returns. Wait until every thread is
	// stopped, so that the hang starts when Stop returns.
	if pid := s.PID(); pid != 0 {
		deadline := time.Now().Add(5 * time.Second)
		for !allThreadsStopped(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("sandbox: stop %s: pid %d not stopped 5 s after SIGSTOP", s.Name, pid)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// allThreadsStopped reports whether every thread of pid is in the stopped
// state (T) according to /proc; true where /proc cannot tell.
func allThreadsStopped(pid int) bool {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return true
	}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", task.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		// pid (comm) state …: comm may hold spaces; the state follows the last ')'.
		st := string(b)
		if i := strings.LastIndexByte(st, ')'); i < 0 || !strings.HasPrefix(strings.TrimSpace(st[i+1:]), "T") {
			return false
		}
	}
	return true
}

// Cont resumes a server frozen by Stop (SIGCONT). It is harmless on a
// server that is not stopped.
func (s *Server) Cont() error { return s.signal(syscall.SIGCONT) }

// Shutdown stops mariadbd cleanly, as an orderly restart does (SIGTERM,
// then SIGKILL after Options.StopTimeout), resuming it first if Stop froze
// it, and waits for it to exit. Unlike Close it keeps the directory, so
// Restart brings the server back with its data; unlike Kill, the server
// writes out its state on the way down (a replica's relay-log.info and
// master.info included). It returns ErrNotRunning when mariadbd is not
// running.
func (s *Server) Shutdown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.proc == nil || s.proc.exited() {
		return fmt.Errorf("shutdown %s: %w", s.Name, ErrNotRunning)
	}
	p := s.proc
	if err := killGroup(p.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sandbox: shutdown %s: SIGTERM pid %d: %w", s.Name, p.pid, err)
	}
	// A stopped process keeps SIGTERM pending until it runs again.
	_ = killGroup(p.pid, syscall.SIGCONT)
	if err := p.stop(s.opts.stopTimeout()); err != nil {
		return fmt.Errorf("sandbox: shutdown %s: %w", s.Name, err)
	}
	return nil
}

// signal sends sig to the running mariadbd (its process group).
func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.proc == nil || s.proc.exited() {
		return fmt.Errorf("sandbox: %s %s: %w", sig, s.Name, ErrNotRunning)
	}
	if err := killGroup(s.proc.pid, sig); err != nil {
		return fmt.Errorf("sandbox: %s %s (pid %d): %w", sig, s.Name, s.proc.pid, err)
	}
	return nil
}
