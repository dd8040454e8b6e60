//go:build integration

package replication

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/sandbox"
)

// zeroLossCutovers is how many cutovers one run of the suite drives under
// load (the pair revolves: each cutover's --reverse feeds the next).
const zeroLossCutovers = 10

// TestIntegrationRollbackZeroLossUnderLoad drives cutovers back and forth
// between two real servers while an application — 4 connections as a user
// without SUPER or READ_ONLY ADMIN, so read_only stops it as on Aurora —
// writes 1,000 rows/s. After every cutover: every write production
// acknowledged is on the new production; every write after the fence was
// rejected with a read-only error and is absent; nothing is ambiguous; row
// counts and CHECKSUM TABLE are equal on both sides.
func TestIntegrationRollbackZeroLossUnderLoad(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{},
		loadgen.DDL,
		"CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'app'@'%'")
	servers := map[*sandbox.Server]*Server{
		p.green: connectRoot(t, "production", p.green, DialectAuto),
		p.blue:  connectRoot(t, "rollback target", p.blue, DialectAuto),
	}
	apps := map[*sandbox.Server]*sql.DB{}
	for s := range servers {
		db, err := sql.Open("mysql", s.DSN("app", "app-pw", ""))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		apps[s] = db
	}
	if res, err := Configure(t.Context(), ConfigureRequest{Production: servers[p.green], Rollback: servers[p.blue], Start: p.coords}); err != nil {
		t.Fatalf("configure: %v %+v", err, res)
	}

	const maxDowntime = 2 * time.Second
	prod, rb := p.green, p.blue
	var all loadgen.Result
	nextID := int64(1)
	for i := 1; i <= zeroLossCutovers; i++ {
		app := apps[prod]
		w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 4, Rate: 1000, FirstID: nextID})
		sandbox.WaitFor(t, 10*time.Second, "the load to be acknowledged 300 times", func() (bool, error) {
			return w.Counts().Acknowledged >= 300, nil
		})
		// The load is paced: on 2 shared cores an unthrottled one can
		// out-write the rollback target's apply for good, and the write
		// downtime gate then rightly refuses (a saturating load is
		// measured by make bench, with the servers on separate CPUs).
		rep, err := Rollback(t.Context(), RollbackRequest{PrivilegedWriters: PrivilegedAllow,
			Production: servers[prod], Rollback: servers[rb], Execute: true, Reverse: &ReverseOptions{},
			MaxWriteDowntime: maxDowntime, CatchupTimeout: time.Minute,
		})
		if err != nil || rep.Outcome != OutcomeCompleted {
			w.Stop()
			t.Fatalf("cutover %d: %v\n%+v", i, err, rep)
		}
		// The application keeps trying the fenced old production for a moment.
		sandbox.WaitFor(t, 10*time.Second, "writes after the fence to be rejected", func() (bool, error) {
			return w.Counts().Rejected >= 4, nil
		})
		res := w.Stop()
		t.Logf("cutover %d %s → %s: %d acknowledged at %.0f/s, %d rejected, write downtime %d ms",
			i, prod.Addr(), rb.Addr(), len(res.Acknowledged), res.Rate(), len(res.Rejected), rep.WriteUnavailableMS)
		if res.Rate() < 200 {
			t.Errorf("cutover %d: load ran at %.0f acknowledged writes/s; the test needs ≥ 200", i, res.Rate())
		}
		if len(res.Failed) > 0 {
			t.Errorf("cutover %d: %d writes failed with a non-read-only error (ambiguous): %+v", i, len(res.Failed), res.Failed[0])
		}
		// A prediction, not a hard bound: a second of slack.
		if limit := (maxDowntime + time.Second).Milliseconds(); rep.WriteUnavailableMS > limit {
			t.Errorf("cutover %d: write_unavailable_ms = %d with --max-write-downtime %s; want ≤ %d", i, rep.WriteUnavailableMS, maxDowntime, limit)
		}
		for _, side := range []*sandbox.Server{rb, prod} {
			if v, err := loadgen.Verify(t.Context(), side.DBT(t), loadgen.DefaultTable, res); err != nil {
				t.Fatalf("cutover %d on %s: %v (%+v)", i, side.Addr(), err, v)
			}
		}
		if err := loadgen.CompareTables(t.Context(), prod.DBT(t), rb.DBT(t), []string{loadgen.DefaultTable, "shop.orders"}); err != nil {
			t.Fatalf("cutover %d: %v", i, err)
		}
		if !readOnly(t, prod.DBT(t)) || readOnly(t, rb.DBT(t)) {
			t.Fatalf("cutover %d: old production must be read-only and the new one writable", i)
		}
		all.Acknowledged = append(all.Acknowledged, res.Acknowledged...)
		all.Rejected = append(all.Rejected, res.Rejected...)
		nextID += int64(res.Attempted())
		prod, rb = rb, prod
	}
	// Every write acknowledged over all cutovers is on the final production
	// and, through the last --reverse, on its rollback target.
	for _, side := range []*sandbox.Server{prod, rb} {
		sandbox.WaitFor(t, 10*time.Second, fmt.Sprintf("all acknowledged writes on %s", side.Addr()), func() (bool, error) {
			v, err := loadgen.Verify(t.Context(), side.DBT(t), loadgen.DefaultTable, all)
			return err == nil && v.OK(), err
		})
	}
}
