//go:build integration

package replication

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// pair is a simulated blue/green deployment after switchover, on two real
// MariaDB servers: green is the new production, blue (the -old1 cluster) is
// the rollback target, and coords are green's binlog coordinates at
// switchover.
type pair struct {
	blue, green *sandbox.Server
	coords      BinlogPosition
}

// newSwitchedOverPair starts blue and green, replicates blue → green,
// seeds data, switches over and returns green's coordinates.
func newSwitchedOverPair(t *testing.T, opts sandbox.Options, extraSeed ...string) *pair {
	t.Helper()
	servers := sandbox.StartT(t, 2, opts)
	blue, green := servers[0], servers[1]
	sw, err := sandbox.SimulateSwitchover(t.Context(), blue, green, func(db *sql.DB) error {
		for _, q := range append([]string{
			"CREATE DATABASE shop",
			"CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64) NOT NULL)",
			"INSERT INTO shop.orders VALUES (1, 'seed-a'), (2, 'seed-b')",
		}, extraSeed...) {
			if _, err := db.Exec(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &pair{blue: blue, green: green, coords: BinlogPosition{File: sw.File, Position: sw.Position}}
}

// connect opens an engine Server for a sandbox server as root.
func connectRoot(t *testing.T, role string, s *sandbox.Server, d Dialect) *Server {
	t.Helper()
	srv, err := Connect(t.Context(), role, s.RootDSN(), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func connectDSN(t *testing.T, role, dsn string, d Dialect) *Server {
	t.Helper()
	srv, err := Connect(t.Context(), role, dsn, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// waitRow waits until query returns want on db.
func waitRow(t *testing.T, db *sql.DB, query, want string) {
	t.Helper()
	sandbox.WaitFor(t, 10*time.Second, fmt.Sprintf("%q = %q", query, want), func() (bool, error) {
		var got sql.NullString
		err := db.QueryRow(query).Scan(&got)
		return err == nil && got.String == want, err
	})
}

func stepOutcomes(steps []Step) map[string]StepOutcome {
	m := map[string]StepOutcome{}
	for _, s := range steps {
		m[s.Name] = s.Outcome
	}
	return m
}

// assertNoSecret fails if secret appears in any of the values, rendered as
// JSON and with %v.
func assertNoSecret(t *testing.T, secret string, values ...any) {
	t.Helper()
	if secret == "" {
		t.Fatal("assertNoSecret with an empty secret proves nothing")
	}
	for _, v := range values {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), secret) || strings.Contains(fmt.Sprintf("%v", v), secret) {
			t.Errorf("secret leaked in %T: %s", v, b)
		}
	}
}

func readOnly(t *testing.T, db *sql.DB) bool {
	t.Helper()
	var ro int
	if err := db.QueryRow("SELECT @@global.read_only").Scan(&ro); err != nil {
		t.Fatal(err)
	}
	return ro == 1
}

func masterPos(t *testing.T, db *sql.DB) string {
	t.Helper()
	var file string
	var pos uint64
	var doDB, ignoreDB sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", file, pos)
}
