package awstest

import (
	"database/sql"

	"github.com/switchback/switchback/shared/loadgen"
)

// ConfigureNow delivers the coordinates and the switchover to capture,
// runs the configure invocation, and checks the pair is configured.
func (w *World) ConfigureNow() {
	w.t.Helper()
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.Capture(w.SwitchoverEvent())
	if outs := w.Drain(); len(outs) != 1 || outs[0].Outcome != "configured" {
		w.t.Fatalf("configure: %+v; want one run, configured", outs)
	}
	w.AssertConfiguredOnce(w.Coords)
}

// AppUser and AppPassword are the application's login: SELECT, INSERT,
// UPDATE, DELETE on shop.*, so read_only stops it as it stops an
// application on Aurora.
const (
	AppUser     = "app"
	AppPassword = "app-pw"
)

// AddApp creates, on the new production, the application's user and the
// load table (shop.load_events), waits until replication brought them to
// the rollback cluster, and returns the application's connection pools to
// green and blue.
func (w *World) AddApp() (green, blue *sql.DB) {
	w.t.Helper()
	w.Green.ExecT(w.t,
		"CREATE USER '"+AppUser+"'@'%' IDENTIFIED BY '"+AppPassword+"'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO '"+AppUser+"'@'%'",
		loadgen.DDL)
	WaitRow(w.t, w.Blue.DBT(w.t), "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'load_events'", "load_events")
	open := func(dsn string) *sql.DB {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			w.t.Fatal(err)
		}
		w.t.Cleanup(func() { db.Close() })
		return db
	}
	return open(w.Green.DSN(AppUser, AppPassword, "")), open(w.Blue.DSN(AppUser, AppPassword, ""))
}
