//go:build integration

package verify

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// pair is production replicating into the rollback target, configured by
// the engine as after a switchover, on two real MariaDB servers.
type pair struct {
	prodS, rbS *sandbox.Server
	prod, rb   *replication.Server
}

// newPair starts two servers, seeds the blue one (the rollback target to
// be), switches over and configures replication back into it.
func newPair(t *testing.T, seed ...string) *pair {
	t.Helper()
	servers := sandbox.StartT(t, 2, sandbox.Options{})
	blue, green := servers[0], servers[1]
	sw, err := sandbox.SimulateSwitchover(t.Context(), blue, green, func(db *sql.DB) error {
		for _, q := range seed {
			if _, err := db.Exec(q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{prodS: green, rbS: blue, prod: connect(t, "production", green), rb: connect(t, "rollback target", blue)}
	if res, err := replication.Configure(t.Context(), replication.ConfigureRequest{Production: p.prod, Rollback: p.rb,
		Start: replication.BinlogPosition{File: sw.File, Position: sw.Position}}); err != nil {
		t.Fatalf("configure: %v %+v", err, res)
	}
	return p
}

func connect(t *testing.T, role string, s *sandbox.Server) *replication.Server {
	t.Helper()
	srv, err := replication.Connect(t.Context(), role, s.RootDSN(), replication.DialectAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
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

// onTarget runs statements on the rollback target with its replication
// stopped around them, as a DBA fixing (or breaking) a row by hand would.
func onTarget(t *testing.T, p *pair, stmts ...string) {
	t.Helper()
	db := p.rbS.DBT(t)
	all := append(append([]string{"STOP SLAVE", "SET GLOBAL read_only = 0"}, stmts...), "SET GLOBAL read_only = 1", "START SLAVE")
	for _, q := range all {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("on the rollback target: %s: %v", q, err)
		}
	}
}

func run(t *testing.T, p *pair, req Request) *Report {
	t.Helper()
	req.Production, req.Rollback = p.prod, p.rb
	rep, err := Run(t.Context(), req)
	if err != nil {
		t.Fatalf("verify: %v\n%+v", err, rep)
	}
	return rep
}

func tableResult(t *testing.T, rep *Report, name string) TableResult {
	t.Helper()
	for _, r := range rep.Tables {
		if r.Table == name {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", name, rep.Tables)
	return TableResult{}
}

func replicationRunning(t *testing.T, p *pair) {
	t.Helper()
	rs, err := p.rb.ReplicaStatus(t.Context())
	if err != nil || !rs.IOThreadRunning || !rs.SQLThreadRunning {
		t.Fatalf("replication on the rollback target is not running afterwards: %+v %v", rs, err)
	}
}

var shopSeed = []string{
	"CREATE DATABASE IF NOT EXISTS seq",
	"CREATE DATABASE shop",
	"CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(64) COLLATE utf8mb4_general_ci NOT NULL, note TEXT NULL) DEFAULT CHARSET=utf8mb4",
	"INSERT INTO shop.customers SELECT seq, CONCAT('customer-', seq), IF(seq % 3 = 0, NULL, 'n') FROM seq.seq_1_to_5000",
	"CREATE TABLE shop.lines (order_id INT NOT NULL, line SMALLINT NOT NULL, sku VARBINARY(16) NOT NULL, qty DECIMAL(10,2), PRIMARY KEY (order_id, line))",
	"INSERT INTO shop.lines SELECT seq DIV 4, seq MOD 4, UNHEX(MD5(seq)), seq / 7 FROM seq.seq_1_to_3000",
	"CREATE TABLE shop.audit (at DATETIME NOT NULL, what VARCHAR(32)) ENGINE=InnoDB",
	"INSERT INTO shop.audit VALUES (NOW(), 'seed')",
}

// Identical data under a concurrent write load is equal, every time; the
// table without a primary key is reported, never skipped.
func TestIntegrationVerifyEqualUnderLoad(t *testing.T) {
	p := newPair(t, append(shopSeed, loadgen.DDL)...)
	app := p.prodS.DBT(t)
	w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 2, Rate: 300})
	defer w.Stop()
	for i := range 3 {
		rep := run(t, p, Request{ChunkRows: 500, Restart: true})
		if rep.Outcome != OutcomeUnverified {
			t.Fatalf("run %d: outcome %s (%s); want %s (only shop.audit unverifiable)\n%+v", i, rep.Outcome, rep.Reason, OutcomeUnverified, rep.Tables)
		}
		for _, r := range rep.Tables {
			want := StatusEqual
			if r.Table == "shop.audit" {
				want = StatusUnverifiable
			}
			if r.Status != want {
				t.Errorf("run %d: %s is %s (%s); want %s", i, r.Table, r.Status, r.Reason, want)
			}
		}
		if got := tableResult(t, rep, "shop.audit").Reason; !strings.Contains(got, "no primary key") {
			t.Errorf("shop.audit reason %q does not say it has no primary key", got)
		}
		if c := tableResult(t, rep, "shop.customers"); c.Rows != 5000 || c.Chunks != 11 {
			t.Errorf("shop.customers: %d rows in %d chunks; want 5000 in 11", c.Rows, c.Chunks)
		}
		t.Logf("run %d: %d tables, %d chunks, %d rows, %d sync points, production lock ≤ %.1f ms, replication paused ≤ %.1f ms",
			i, len(rep.Tables), rep.Chunks, rep.Rows, rep.SyncPoints, rep.MaxLockMS, rep.MaxPauseMS)
	}
	replicationRunning(t, p)
}

// A row changed, deleted, added and one differing only in case on the
// rollback target: each found, with its key.
func TestIntegrationVerifyFindsEachDifference(t *testing.T) {
	p := newPair(t, shopSeed...)
	onTarget(t, p,
		"UPDATE shop.customers SET note = 'changed' WHERE id = 1234",
		"DELETE FROM shop.customers WHERE id = 2345",
		"INSERT INTO shop.customers VALUES (9999, 'extra', NULL)",
		"UPDATE shop.customers SET name = UPPER(name) WHERE id = 4000",
		"UPDATE shop.lines SET qty = qty + 1 WHERE order_id = 100 AND line = 2",
	)
	rep := run(t, p, Request{Rows: true, Tables: []string{"shop.customers", "shop.lines"}})
	if rep.Outcome != OutcomeDiffering || rep.ExitCode() != 1 {
		t.Fatalf("outcome %s exit %d; want differing, 1: %s", rep.Outcome, rep.ExitCode(), rep.Reason)
	}
	got := map[string]string{}
	for _, r := range rep.Tables {
		for _, d := range r.Differences {
			for _, row := range d.Rows {
				got[r.Table+" "+strings.Join(row.Key, ",")] = row.Difference
			}
		}
	}
	want := map[string]string{
		"shop.customers 1234": RowChanged,
		"shop.customers 2345": RowMissing,
		"shop.customers 9999": RowExtra,
		"shop.customers 4000": RowChangedCollation,
		"shop.lines 100,2":    RowChanged,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q; want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("differences %v; want exactly %v", got, want)
	}
	replicationRunning(t, p)
}
