//go:build integration

package loadgen

import (
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

const appPassword = "app-password-for-tests"

// newAppServer starts one server with shop.load_events and an application
// user 'app'@'%' that has only SELECT, INSERT, UPDATE, DELETE on shop.* (no
// SUPER, no READ_ONLY ADMIN), and returns the server and the app's pool.
func newAppServer(t *testing.T) (*sandbox.Server, *sql.DB) {
	t.Helper()
	s := sandbox.StartT(t, 1, sandbox.Options{})[0]
	s.ExecT(t,
		"CREATE DATABASE shop",
		DDL,
		"CREATE USER 'app'@'%' IDENTIFIED BY '"+appPassword+"'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'app'@'%'",
	)
	app, err := sql.Open("mysql", s.DSN("app", appPassword, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return s, app
}

// waitUntil polls cond every 5 ms until it holds, failing the test after
// timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLoadIntegrationRate: four app connections sustain at least 200
// acknowledged writes per second, and Verify finds every one of them.
func TestLoadIntegrationRate(t *testing.T) {
	s, app := newAppServer(t)
	root := s.DBT(t)
	w := Start(t.Context(), func() *sql.DB { return app }, Options{Workers: 4})
	defer w.Stop()

	// All four workers hold their own connection as the app user.
	waitUntil(t, 10*time.Second, "4 app connections", func() bool {
		var n int
		err := root.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'").Scan(&n)
		return err == nil && n >= 4
	})
	// Run for about a second, and long enough to have written something.
	waitUntil(t, 20*time.Second, "1 s of load", func() bool {
		s := w.Snapshot()
		return s.Duration >= time.Second && len(s.Acknowledged) >= 200
	})
	r := w.Stop()
	t.Logf("load: %s", r)
	if r.Rate() < 200 {
		t.Errorf("acknowledged rate %.0f/s over 4 connections; want ≥ 200/s", r.Rate())
	}
	if len(r.Rejected) != 0 || len(r.Failed) != 0 || r.ConnectErrors != 0 {
		t.Errorf("writable server: %d rejected, %d failed (%v), %d connect errors", len(r.Rejected), len(r.Failed), r.Failed, r.ConnectErrors)
	}
	v, err := Verify(t.Context(), root, DefaultTable, r)
	if err != nil {
		t.Fatal(err)
	}
	if v.Present != len(r.Acknowledged) || v.Rows != len(r.Acknowledged) || v.Other != 0 {
		t.Errorf("verification %+v; want all %d acknowledged ids and nothing else", v, len(r.Acknowledged))
	}
}

// TestLoadIntegrationReadOnlyRejects: once the server is read-only, the app
// user's writes fail with 1290, land in Rejected, and are absent from the
// table; Verify also catches a rejected id that shows up anyway.
func TestLoadIntegrationReadOnlyRejects(t *testing.T) {
	s, app := newAppServer(t)
	root := s.DBT(t)
	w := Start(t.Context(), func() *sql.DB { return app }, Options{Workers: 4, Rate: 1000})
	defer w.Stop()
	waitUntil(t, 10*time.Second, "first acknowledged writes", func() bool { return len(w.Snapshot().Acknowledged) >= 50 })
	if _, err := root.ExecContext(t.Context(), "SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "read-only rejections", func() bool { return len(w.Snapshot().Rejected) >= 50 })
	r := w.Stop()
	t.Logf("load: %s", r)
	if len(r.Failed) != 0 {
		t.Fatalf("read-only errors were not classified as rejections: %v", r.Failed[:min(3, len(r.Failed))])
	}
	// The app user cannot write; the rejection is the server's 1290.
	_, err := app.ExecContext(t.Context(), "INSERT INTO shop.load_events (id, worker, payload) VALUES (-1, 0, 'x')")
	if !IsReadOnly(err) || !strings.Contains(err.Error(), "1290") {
		t.Fatalf("app insert on a read-only server: %v; want error 1290", err)
	}

	v, err := Verify(t.Context(), root, DefaultTable, r)
	if err != nil {
		t.Fatal(err)
	}
	if v.Present != len(r.Acknowledged) || len(v.Unexpected) != 0 || v.Rejected != len(r.Rejected) {
		t.Errorf("verification %+v", v)
	}

	// A rejected id that is present after all is caught.
	stray := r.Rejected[len(r.Rejected)/2]
	s.ExecT(t, "SET GLOBAL read_only = 0")
	if _, err := root.ExecContext(t.Context(), "INSERT INTO shop.load_events (id, worker, payload) VALUES (?, 0, 'stray')", stray); err != nil {
		t.Fatal(err)
	}
	v, err = Verify(t.Context(), root, DefaultTable, r)
	if err == nil || !slices.Equal(v.Unexpected, []int64{stray}) {
		t.Fatalf("Verify after inserting rejected id %d: %+v, %v; want it reported", stray, v, err)
	}
	t.Logf("caught: %v", err)
}

// TestVerifyIntegrationCatchesDeletedRow: Verify fails, naming the id, when
// an acknowledged row is gone.
func TestVerifyIntegrationCatchesDeletedRow(t *testing.T) {
	s, app := newAppServer(t)
	root := s.DBT(t)
	w := Start(t.Context(), func() *sql.DB { return app }, Options{Workers: 2})
	waitUntil(t, 10*time.Second, "acknowledged writes", func() bool { return len(w.Snapshot().Acknowledged) >= 100 })
	r := w.Stop()
	if _, err := Verify(t.Context(), root, DefaultTable, r); err != nil {
		t.Fatalf("before the delete: %v", err)
	}
	lost := r.Acknowledged[len(r.Acknowledged)/3]
	if _, err := root.ExecContext(t.Context(), "DELETE FROM shop.load_events WHERE id = ?", lost); err != nil {
		t.Fatal(err)
	}
	v, err := Verify(t.Context(), root, DefaultTable, r)
	if err == nil || !slices.Equal(v.Missing, []int64{lost}) || v.Present != len(r.Acknowledged)-1 {
		t.Fatalf("Verify after deleting acknowledged id %d: %+v, %v; want it missing", lost, v, err)
	}
	if !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %q does not say missing", err)
	}
}

// TestChecksumIntegration: equal tables compare equal; a changed row is
// reported with its table.
func TestChecksumIntegration(t *testing.T) {
	servers := sandbox.StartT(t, 2, sandbox.Options{})
	for _, s := range servers {
		s.ExecT(t,
			"CREATE DATABASE shop",
			DDL,
			"CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
			"INSERT INTO shop.items VALUES (1, 'a'), (2, 'b')",
			"INSERT INTO shop.load_events (id, worker, payload, created_at) VALUES (1, 1, 'p', '2026-01-01 00:00:00.123456')",
		)
	}
	a, b := servers[0].DBT(t), servers[1].DBT(t)
	tables := []string{"shop.items", DefaultTable}
	if err := CompareTables(t.Context(), a, b, tables); err != nil {
		t.Fatalf("equal tables: %v", err)
	}
	servers[1].ExecT(t, "UPDATE shop.items SET name = 'B' WHERE id = 2")
	err := CompareTables(t.Context(), a, b, tables)
	if err == nil || !strings.Contains(err.Error(), "shop.items: same row count (2) but checksum") {
		t.Fatalf("after an update: %v", err)
	}
	if _, err := Checksum(t.Context(), a, []string{"shop.nope"}); err == nil {
		t.Error("checksum of a missing table: nil error")
	}
}
