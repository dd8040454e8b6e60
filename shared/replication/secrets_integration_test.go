//go:build integration

package replication

import (
	"bytes"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// enableQueryLogs turns on s's general query log and a slow query log that
// records every statement (long_query_time 0, admin statements and
// statements not using indexes too), both written to output (FILE or
// TABLE), the files in s's directory. Sessions opened afterwards get
// long_query_time 0.
func enableQueryLogs(t *testing.T, s *sandbox.Server, output string) {
	t.Helper()
	db := s.DBT(t)
	for _, q := range []string{
		"SET GLOBAL general_log_file = '" + filepath.Join(s.Dir, "general.log") + "'",
		"SET GLOBAL slow_query_log_file = '" + filepath.Join(s.Dir, "slow.log") + "'",
		"SET GLOBAL log_output = '" + output + "'",
		"SET GLOBAL long_query_time = 0",
		"SET GLOBAL log_slow_admin_statements = ON",
		"SET GLOBAL log_queries_not_using_indexes = ON",
		"SET GLOBAL general_log = ON",
		"SET GLOBAL slow_query_log = ON",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// queryLogs returns what s's general and slow query logs hold, from the
// files or from mysql.general_log and mysql.slow_log.
func queryLogs(t *testing.T, s *sandbox.Server, output string) string {
	t.Helper()
	if output == "FILE" {
		var b strings.Builder
		for _, f := range []string{"general.log", "slow.log"} {
			data, err := os.ReadFile(filepath.Join(s.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			b.Write(data)
		}
		return b.String()
	}
	db := s.DBT(t)
	var b strings.Builder
	for _, q := range []string{"SELECT argument FROM mysql.general_log", "SELECT sql_text FROM mysql.slow_log"} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var v []byte
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			b.Write(v)
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

// binlogs returns the contents of s's binary log files, by name.
func binlogs(t *testing.T, s *sandbox.Server) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(s.Dir, "data", sandbox.BinlogBasename+".[0-9]*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no binary log files in %s (%v)", s.Dir, err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

// filesContaining lists the files under s's directory (data directory,
// logs, everything) that contain secret, except those named in except.
func filesContaining(t *testing.T, s *sandbox.Server, secret string, except ...string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // temporary files come and go
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(s.Dir, path)
		for _, e := range except {
			if rel == e {
				return nil
			}
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(secret)) {
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestIntegrationSecretsGeneralLogNative configures reverse replication as
// root on the native MariaDB path with the general query log and a
// log-everything slow query log on, both to FILE and to TABLE: the
// replication password reaches neither log, nor either binary log, nor any
// file of either server but the rollback target's master.info (where every
// replica keeps it). Production's logs do not hold the password's hash
// either, which its binary log carries by design.
func TestIntegrationSecretsGeneralLogNative(t *testing.T) {
	for _, output := range []string{"FILE", "TABLE"} {
		t.Run(output, func(t *testing.T) {
			password := "SwBk-Secret-GenLog-" + output + "-q7Zr2"
			hash := nativePasswordHash(password)
			p := newSwitchedOverPair(t, sandbox.Options{})
			enableQueryLogs(t, p.green, output)
			enableQueryLogs(t, p.blue, output)
			prod := connectRoot(t, "production", p.green, DialectAuto)
			rb := connectRoot(t, "rollback target", p.blue, DialectAuto)

			res, err := Configure(t.Context(), ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords,
				ReplicationPassword: password, WaitTimeout: 10 * time.Second})
			if err != nil || res.Outcome != OutcomeConfigured {
				t.Fatalf("configure: %v %q\n%+v", err, res.Outcome, res.Steps)
			}
			assertNoSecret(t, password, res)
			// The logs are on and this reader sees them: a canary and
			// switchback's other statements are there.
			for _, s := range []*sandbox.Server{p.green, p.blue} {
				if _, err := s.DBT(t).Exec("SELECT 'secrets-canary-" + output + "'"); err != nil {
					t.Fatal(err)
				}
			}
			prodLogs, rbLogs := queryLogs(t, p.green, output), queryLogs(t, p.blue, output)
			for _, c := range []struct{ name, logs, want string }{
				{"production", prodLogs, "secrets-canary-" + output},
				{"production", prodLogs, "CREATE TABLE IF NOT EXISTS switchback.heartbeat"},
				{"production", prodLogs, "sql_log_off"},
				{"rollback target", rbLogs, "secrets-canary-" + output},
				{"rollback target", rbLogs, "sql_log_off"},
			} {
				if !strings.Contains(c.logs, c.want) {
					t.Errorf("%s's query logs do not contain %q: the check below would prove nothing", c.name, c.want)
				}
			}
			for _, c := range []struct{ name, logs string }{{"production", prodLogs}, {"rollback target", rbLogs}} {
				if strings.Contains(c.logs, password) {
					t.Errorf("the replication password is in the %s's general or slow query log", c.name)
				}
				if strings.Contains(c.logs, "CHANGE MASTER") {
					t.Errorf("CHANGE MASTER reached the %s's query logs", c.name)
				}
			}
			// The hash travels in production's binary log by design, so the
			// rollback target's slow log (log_slow_slave_statements) may
			// record the replicated CREATE USER; production's own logs may not.
			if strings.Contains(prodLogs, hash) || strings.Contains(prodLogs, "IDENTIFIED BY") {
				t.Error("CREATE USER … IDENTIFIED BY PASSWORD (the password's hash) reached production's query logs")
			}

			var sawHash bool
			for name, s := range map[string]*sandbox.Server{"production": p.green, "rollback target": p.blue} {
				for file, data := range binlogs(t, s) {
					if bytes.Contains(data, []byte(password)) {
						t.Errorf("the replication password is in the %s's binary log %s", name, file)
					}
					sawHash = sawHash || bytes.Contains(data, []byte(hash))
				}
			}
			if !sawHash {
				t.Error("the password's hash (CREATE USER … IDENTIFIED BY PASSWORD) is in no binary log: the binlog check reads the wrong files")
			}
			if f := filesContaining(t, p.green, password); len(f) > 0 {
				t.Errorf("the replication password is on production's disk in %v", f)
			}
			if f := filesContaining(t, p.blue, password, filepath.Join("data", "master.info")); len(f) > 0 {
				t.Errorf("the replication password is on the rollback target's disk in %v (besides master.info)", f)
			}
			if f := filesContaining(t, p.blue, password); len(f) != 1 {
				t.Errorf("the replication password is in %v on the rollback target; want exactly data/master.info, where the replica keeps it", f)
			}
		})
	}
}

var reReplicaStatus = regexp.MustCompile(`(?i)SHOW (ALL )?(SLAVES?|REPLICAS?) STATUS`)

// auroraSnapshot is what a refused configure must leave as it was.
type auroraSnapshot struct {
	blueReadOnly   bool
	blueConfigured bool
	blueSetCalls   int
	greenBinlog    string
	greenUsers     int
	greenSchema    int
}

func takeAuroraSnapshot(t *testing.T, p *pair, rb *Server) auroraSnapshot {
	t.Helper()
	greenDB, blueDB := p.green.DBT(t), p.blue.DBT(t)
	rs, err := rb.ReplicaStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s := auroraSnapshot{blueReadOnly: readOnly(t, blueDB), blueConfigured: rs.Configured, greenBinlog: masterPos(t, greenDB)}
	for _, q := range []struct {
		db   *sql.DB
		sql  string
		dest *int
	}{
		{blueDB, "SELECT COUNT(*) FROM mysql.rds_history WHERE action LIKE 'set %'", &s.blueSetCalls},
		{greenDB, "SELECT COUNT(*) FROM mysql.user WHERE user = '" + DefaultReplicationUser + "'", &s.greenUsers},
		{greenDB, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'switchback'", &s.greenSchema},
	} {
		if err := q.db.QueryRow(q.sql).Scan(q.dest); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return s
}

// TestIntegrationSecretsGeneralLogAurora drives the Aurora procedure path
// as the fixture's admin user, who has no SUPER and so may not set
// sql_log_off. With the general query log on, configure must refuse before
// it changes anything (exit 3 in the CLI), naming the cause and the fix;
// once the log writes nothing, the same request configures, and the slow
// query log (which the admin may turn off for its session) does not get
// the password either.
func TestIntegrationSecretsGeneralLogAurora(t *testing.T) {
	for _, tc := range []struct {
		name     string
		logsOn   string // "rollback target" or "production"
		output   string
		unlogged string // how the test then stops the general log from writing
	}{
		// CALL mysql.rds_set_external_source(…, password, …) on the rollback target.
		{"rollback target logs to FILE", "rollback target", "FILE", "SET GLOBAL general_log = OFF"},
		// CREATE USER … IDENTIFIED BY 'password': real Aurora rewrites it in
		// its logs, the MariaDB under the fixture does not.
		{"production logs to TABLE", "production", "TABLE", "SET GLOBAL log_output = 'NONE'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			password := "SwBk-Secret-Aurora-" + tc.output + "-p4Kd8"
			p := newSwitchedOverPair(t, sandbox.Options{})
			prodAdmin, err := p.green.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
			if err != nil {
				t.Fatal(err)
			}
			rbAdmin, err := p.blue.InstallAuroraProcedures(t.Context(), sandbox.AuroraV3)
			if err != nil {
				t.Fatal(err)
			}
			logged := p.blue
			if tc.logsOn == "production" {
				logged = p.green
			}
			if tc.logsOn == "rollback target" {
				// Only CALL mysql.rds_set_external_source carries the password:
				// the user exists with it, as after an earlier run. (Created by
				// the fixture's MariaDB, CREATE USER … IDENTIFIED BY 'password'
				// would reach its binary log and the rollback target as sent,
				// where Aurora writes the hash.)
				greenDB := p.green.DBT(t)
				for _, q := range []string{
					"CREATE USER '" + DefaultReplicationUser + "'@'%' IDENTIFIED BY PASSWORD '" + nativePasswordHash(password) + "'",
					"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '" + DefaultReplicationUser + "'@'%'",
				} {
					if _, err := greenDB.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
			}
			enableQueryLogs(t, logged, tc.output)
			prod := connectDSN(t, "production", prodAdmin.DSN(""), AuroraMySQL3)
			rb := connectDSN(t, "rollback target", rbAdmin.DSN(""), AuroraMySQL3)
			req := ConfigureRequest{Production: prod, Rollback: rb, Start: p.coords, ReplicationPassword: password, RetentionHours: 48, WaitTimeout: 10 * time.Second}

			// The admin really may not set sql_log_off: the refusal is the
			// only safe outcome, not a shortcut.
			adminDB, err := prodAdmin.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer adminDB.Close()
			if _, err := adminDB.Exec("SET SESSION sql_log_off = ON"); mysqlErrno(err) != errnoSpecificAccessDenied {
				t.Fatalf("admin SET SESSION sql_log_off: %v; want error 1227 (needs SUPER)", err)
			}

			before := takeAuroraSnapshot(t, p, rb)
			res, err := Configure(t.Context(), req)
			if !errors.Is(err, ErrRefused) || res.Outcome != OutcomeRefused {
				t.Fatalf("configure with the %s's general log on: %v, outcome %q; want refused\n%+v", tc.logsOn, err, res.Outcome, res.Steps)
			}
			t.Logf("refusal: %s", res.Reason)
			for _, want := range []string{tc.logsOn + " at " + logged.Addr(), "general query log", "general_log=ON, log_output=" + tc.output,
				`user "admin"`, "sql_log_off", "in clear", "turn general_log off", "DB cluster parameter group"} {
				if !strings.Contains(res.Reason, want) {
					t.Errorf("refusal %q does not say %q", res.Reason, want)
				}
			}
			for _, s := range res.Steps[1:] {
				t.Errorf("step %q ran after the refusal (%s)", s.Name, s.Outcome)
			}
			if after := takeAuroraSnapshot(t, p, rb); after != before {
				t.Errorf("refused configure changed something:\nbefore %+v\nafter  %+v", before, after)
			}
			assertNoSecret(t, password, res, err.Error())
			if logs := queryLogs(t, logged, tc.output); strings.Contains(logs, password) {
				t.Errorf("the replication password is in the %s's query logs after the refusal", tc.logsOn)
			}

			// The fix the refusal names: the general log writes nothing.
			if _, err := logged.DBT(t).Exec(tc.unlogged); err != nil {
				t.Fatal(err)
			}
			res, err = Configure(t.Context(), req)
			if err != nil || res.Outcome != OutcomeConfigured {
				t.Fatalf("configure once the general log writes nothing: %v %q\n%+v", err, res.Outcome, res.Steps)
			}
			logs := queryLogs(t, logged, tc.output)
			if strings.Contains(logs, password) {
				t.Errorf("the replication password is in the %s's query logs", tc.logsOn)
			}
			if tc.logsOn == "rollback target" {
				// Its slow log, which the admin turns off for its own
				// session only, still records everything else.
				if !reReplicaStatus.MatchString(logs) {
					t.Error("the rollback target's slow query log does not record switchback's other statements: the check proves nothing")
				}
				// Not checked on production: the fixture's MariaDB writes
				// CREATE USER … IDENTIFIED BY 'password' to its binary log as
				// sent, where Aurora would write the hash.
				if f := filesContaining(t, logged, password, filepath.Join("data", "master.info")); len(f) > 0 {
					t.Errorf("the replication password is on the rollback target's disk in %v", f)
				}
			}
		})
	}
}
