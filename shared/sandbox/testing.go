package sandbox

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"
)

// Require skips the test when mariadbd or mariadb-install-db is missing, or
// fails it when the environment variable CI is "true" (CI must install
// them, so a missing binary there is a setup bug, not a reason to skip).
func Require(t testing.TB) {
	t.Helper()
	if _, _, err := FindBinaries(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// StartT calls Require, then starts n servers in parallel with StartN and
// registers their Close with t.Cleanup. It fails the test if a server does
// not start. If the test has failed by cleanup time, each server's error-log
// tail is logged before it is closed. opts.NamePrefix defaults to the test
// name.
func StartT(t testing.TB, n int, opts Options) []*Server {
	t.Helper()
	Require(t)
	if opts.NamePrefix == "" {
		opts.NamePrefix = dirSafe(t.Name())
	}
	servers, err := StartN(t.Context(), n, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("sandbox %s (%s, server_id %d) error log tail:\n%s", s.Name, s.Addr(), s.ServerID, s.LogTail(logTailLines))
			}
			if err := s.Close(); err != nil {
				t.Errorf("close sandbox: %v", err)
			}
		})
	}
	return servers
}

// DBT opens a root *sql.DB that is closed when the test ends (before the
// server, since cleanups run last-in first-out).
func (s *Server) DBT(t testing.TB) *sql.DB {
	t.Helper()
	db, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// ExecT runs stmts in order as root on one connection (so session settings
// such as SET SESSION sql_log_bin = 0 apply to the later statements), and
// fails the test on the first error.
func (s *Server) ExecT(t testing.TB, stmts ...string) {
	t.Helper()
	db, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatalf("sandbox %s: connect: %v", s.Name, err)
	}
	defer conn.Close()
	for _, stmt := range stmts {
		if _, err := conn.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("sandbox %s: %s: %v", s.Name, stmt, err)
		}
	}
}

// WaitFor polls cond every 20 ms until it holds, failing t when timeout
// passes first (with what it waited for and cond's last error). TEST-ONLY:
// it waits for a condition on the servers, never for a fixed time.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for {
		ok, err := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
