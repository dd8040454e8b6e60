//go:build integration

package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// sandboxBinlogFileCreated reads when a sandbox server created a binlog
// file from the file itself, in the server's data directory: the timestamp
// of its first event (the Format_description event, after the 4-byte magic
// number). shared/binlogtime.FileCreated, which the functions use, reads
// the same header over the replication protocol and is tested there; the
// engine cannot import it.
func sandboxBinlogFileCreated(srv *sandbox.Server) BinlogFileCreated {
	return func(_ context.Context, s *Server, file string) (time.Time, error) {
		f, err := os.Open(filepath.Join(srv.Dir, "data", filepath.Base(file)))
		if errors.Is(err, fs.ErrNotExist) {
			return time.Time{}, fmt.Errorf("%w: %s has no binlog %s", ErrBinlogGone, s, file)
		}
		if err != nil {
			return time.Time{}, err
		}
		defer f.Close()
		var head [8]byte
		if _, err := io.ReadFull(f, head[:]); err != nil {
			return time.Time{}, fmt.Errorf("binlog %s: %w", file, err)
		}
		if string(head[:4]) != "\xfebin" {
			return time.Time{}, fmt.Errorf("binlog %s: no binlog magic number", file)
		}
		return time.Unix(int64(binary.LittleEndian.Uint32(head[4:])), 0), nil
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
	created := sandboxBinlogFileCreated(p.green)

	if _, err := MeasureHeadroom(ctx, prod, rb, nil); err == nil {
		t.Fatal("no BinlogFileCreated: no error")
	}
	h, err := MeasureHeadroom(ctx, prod, rb, created)
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
	h, err = MeasureHeadroom(ctx, prod, rb, created)
	if err != nil || h.Hours == nil || *h.Hours > 48 || *h.Hours < 47.9 || h.File == "" || h.Created.IsZero() || !h.Active {
		t.Fatalf("configured: %+v %v; want about 48 h for the active file", h, err)
	}
	if _, err := greenDB.Exec("SET GLOBAL binlog_expire_logs_seconds = 0"); err != nil {
		t.Fatal(err)
	}
	if h, err = MeasureHeadroom(ctx, prod, rb, created); err != nil || !h.Unlimited || h.Hours != nil {
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
	sandbox.WaitFor(t, 10*time.Second, "the purge of "+h.File, func() (bool, error) {
		if _, err := greenDB.Exec("PURGE BINARY LOGS TO '" + cur.File + "'"); err != nil {
			return false, err
		}
		var name string
		var size any
		err := greenDB.QueryRow("SHOW BINARY LOGS").Scan(&name, &size)
		return err == nil && name == cur.File, err
	})
	if h, err = MeasureHeadroom(ctx, prod, rb, created); err != nil || !h.Gone || h.Hours == nil || *h.Hours != 0 {
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
