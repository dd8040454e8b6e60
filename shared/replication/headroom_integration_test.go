//go:build integration

package replication

import (
	"errors"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// The creation time of a binlog file comes from the server: the timestamp
// of the file's first event, read over the replication protocol. A new
// file (FLUSH BINARY LOGS) is created now; an older one before it; a file
// the server does not have (never written, or purged) is ErrBinlogGone.
func TestIntegrationBinlogFileCreated(t *testing.T) {
	servers := sandbox.StartT(t, 1, sandbox.Options{})
	s := connectRoot(t, "production", servers[0], DialectAuto)
	db := servers[0].DBT(t)
	first, err := s.BinlogPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // event timestamps have one-second resolution
	if _, err := db.Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	second, err := s.BinlogPosition(t.Context())
	if err != nil || second.File == first.File {
		t.Fatalf("FLUSH BINARY LOGS did not start a new file: %v %+v", err, second)
	}
	created1, err := s.BinlogFileCreated(t.Context(), first.File)
	if err != nil {
		t.Fatal(err)
	}
	created2, err := s.BinlogFileCreated(t.Context(), second.File)
	if err != nil {
		t.Fatal(err)
	}
	var now int64
	if err := db.QueryRow("SELECT UNIX_TIMESTAMP()").Scan(&now); err != nil {
		t.Fatal(err)
	}
	if !created1.Before(created2) || created2.Unix() > now || now-created2.Unix() > 5 || now-created1.Unix() > 120 {
		t.Fatalf("created %s then %s; server clock %s", created1, created2, time.Unix(now, 0))
	}
	if _, err := s.BinlogFileCreated(t.Context(), "nosuch-bin.000042"); !errors.Is(err, ErrBinlogGone) {
		t.Fatalf("unknown file: %v; want ErrBinlogGone", err)
	}
	if _, err := db.Exec("PURGE BINARY LOGS TO '" + second.File + "'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BinlogFileCreated(t.Context(), first.File); !errors.Is(err, ErrBinlogGone) {
		t.Fatalf("purged file: %v; want ErrBinlogGone", err)
	}
	// The pool still works: the dump ran on a connection of its own.
	if _, err := s.BinlogPosition(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// Headroom is the retention minus the age of the oldest file the replica
// needs; not configured, unset or unlimited retention are said as such;
// a purged file is no headroom at all. ResetReplica and DropReplicationUser
// end the pair and are no-ops the second time.
func TestIntegrationHeadroomAndTeardown(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{})
	prod := connectRoot(t, "production", p.green, DialectAuto)
	rb := connectRoot(t, "rollback target", p.blue, DialectAuto)
	ctx := t.Context()

	h, err := MeasureHeadroom(ctx, prod, rb)
	if err != nil || h.Hours != nil || h.Unknown == "" {
		t.Fatalf("before configure: %+v %v; want unknown", h, err)
	}
	if _, err := Configure(ctx, ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, RetentionHours: 48, WaitTimeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// MariaDB's default expiry (0, never) covers any window, so configure
	// leaves it: set 48 h by hand.
	greenDB := p.green.DBT(t)
	if _, err := greenDB.Exec("SET GLOBAL binlog_expire_logs_seconds = 172800"); err != nil {
		t.Fatal(err)
	}
	h, err = MeasureHeadroom(ctx, prod, rb)
	if err != nil || h.Hours == nil || *h.Hours > 48 || *h.Hours < 47.9 || h.File == "" || h.Created.IsZero() || !h.Active {
		t.Fatalf("configured: %+v %v; want about 48 h for the active file", h, err)
	}
	if _, err := greenDB.Exec("SET GLOBAL binlog_expire_logs_seconds = 0"); err != nil {
		t.Fatal(err)
	}
	if h, err = MeasureHeadroom(ctx, prod, rb); err != nil || !h.Unlimited || h.Hours != nil {
		t.Fatalf("no expiry: %+v %v; want unlimited", h, err)
	}
	if _, err := greenDB.Exec("SET GLOBAL binlog_expire_logs_seconds = 3600"); err != nil {
		t.Fatal(err)
	}
	// The replica stops reading; production moves on and purges the file
	// the replica still needs.
	p.blue.ExecT(t, "STOP SLAVE")
	if _, err := greenDB.Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	cur, err := prod.BinlogPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// MariaDB keeps a file until its binlog checkpoint is written.
	waitFor(t, 10*time.Second, "the purge of "+h.File, func() (bool, error) {
		if _, err := greenDB.Exec("PURGE BINARY LOGS TO '" + cur.File + "'"); err != nil {
			return false, err
		}
		var name string
		var size any
		err := greenDB.QueryRow("SHOW BINARY LOGS").Scan(&name, &size)
		return err == nil && name == cur.File, err
	})
	if h, err = MeasureHeadroom(ctx, prod, rb); err != nil || !h.Gone || h.Hours == nil || *h.Hours != 0 {
		t.Fatalf("purged: %+v %v; want gone, 0 h", h, err)
	}

	outcome, detail, err := ResetReplica(ctx, rb, "")
	if err != nil || outcome != StepDone {
		t.Fatalf("reset: %s %s %v", outcome, detail, err)
	}
	if outcome, _, err := ResetReplica(ctx, rb, ""); err != nil || outcome != StepAlreadyDone {
		t.Fatalf("second reset: %s %v; want already done", outcome, err)
	}
	outcome, detail, err = DropReplicationUser(ctx, prod, "", "")
	if err != nil || outcome != StepDone {
		t.Fatalf("drop user: %s %s %v", outcome, detail, err)
	}
	if outcome, _, err := DropReplicationUser(ctx, prod, "", ""); err != nil || outcome != StepAlreadyDone {
		t.Fatalf("second drop: %s %v; want already done", outcome, err)
	}
	// An account of the same name with more privileges is someone else's.
	if _, err := greenDB.Exec("CREATE USER 'switchback_repl'@'%' IDENTIFIED BY 'x'"); err != nil {
		t.Fatal(err)
	}
	if _, err := greenDB.Exec("GRANT SELECT ON *.* TO 'switchback_repl'@'%'"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DropReplicationUser(ctx, prod, "", ""); !errors.Is(err, ErrRefused) {
		t.Fatalf("foreign account: %v; want refused", err)
	}
	// Replication that is not switchback's is left alone.
	p.blue.ExecT(t, "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=1, MASTER_USER='someone_else'")
	if _, _, err := ResetReplica(ctx, rb, ""); !errors.Is(err, ErrRefused) {
		t.Fatalf("foreign replication: %v; want refused", err)
	}
}
