//go:build integration

package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procState returns the state letter of pid from /proc (R, S, T, …).
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state …: comm may hold spaces; the state follows the last ')'.
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

// Stop freezes the server: queries get no answer, a statement sent
// meanwhile runs once Cont resumes it. Shutdown keeps the data for Restart.
func TestStopContShutdown(t *testing.T) {
	t.Parallel()
	s := StartT(t, 1, Options{})[0]
	t.Cleanup(func() { s.Cont() })
	s.ExecT(t, "CREATE DATABASE f", "CREATE TABLE f.t (id INT PRIMARY KEY)")
	db := s.DBT(t)
	db.SetMaxIdleConns(4)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if st := procState(t, s.PID()); st != "T" {
		t.Errorf("mariadbd state after Stop = %q; want T (stopped)", st)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	err = db.QueryRowContext(ctx, "SELECT 1").Scan(new(int))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("query on a stopped server: %v; want no answer until the deadline", err)
	}
	// Sent while stopped: it waits in the socket and runs on resume.
	sent := make(chan error, 1)
	go func() {
		_, err := conn.ExecContext(t.Context(), "INSERT INTO f.t VALUES (1)")
		sent <- err
	}()
	select {
	case err := <-sent:
		t.Fatalf("a statement to a stopped server returned: %v", err)
	case <-time.After(300 * time.Millisecond): // the freeze being tested
	}
	if err := s.Cont(); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("the statement sent while stopped: %v", err)
	}
	if st := procState(t, s.PID()); st == "T" {
		t.Error("mariadbd still stopped after Cont")
	}

	// Shutdown from the stopped state: clean exit, data kept, Restart works.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	db.Close()
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if s.PID() != 0 {
		t.Fatalf("PID() = %d after Shutdown; want 0", s.PID())
	}
	if !strings.Contains(s.LogTail(20), "Shutdown complete") {
		t.Errorf("no clean shutdown in the error log:\n%s", s.LogTail(20))
	}
	if err := s.Stop(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Stop of a shut-down server: %v; want ErrNotRunning", err)
	}
	if err := s.Shutdown(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Shutdown twice: %v; want ErrNotRunning", err)
	}
	if err := s.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, err := countRows(t, s.DBT(t), "f.t"); err != nil || n != 1 {
		t.Errorf("rows after Shutdown+Restart = %d, %v; want 1", n, err)
	}
}
