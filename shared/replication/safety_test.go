package replication

import (
	"database/sql"
	"slices"
	"strings"
	"testing"
)

func TestMariaDBErrant(t *testing.T) {
	cases := []struct {
		name, target, production, baseline, want string
	}{
		{"same history", "0-1-10,0-2-5", "0-1-10,0-2-7", "", ""},
		{"own write on the target", "0-1-11,0-2-5", "0-1-10,0-2-7", "", "newest GTID 0-1-11 (production has up to 0-1-10)"},
		{"known at configure", "0-1-11,0-2-5", "0-2-7", "0-1-11", ""},
		{"written after configure", "0-1-12", "0-2-7", "0-1-11", "newest GTID 0-1-12 (it had up to 0-1-11 when switchback configured it)"},
		{"unknown server", "0-9-3", "0-1-10", "", "newest GTID 0-9-3 (production has none from that server)"},
		{"production's own id, ahead of production", "0-2-9", "0-2-7", "", "newest GTID 0-2-9 (production has up to 0-2-7)"},
		{"empty target", "", "0-1-10", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := mariaDBErrant(c.target, c.production, c.baseline)
			if err != nil || got != c.want {
				t.Fatalf("mariaDBErrant(%q, %q, %q) = %q, %v; want %q", c.target, c.production, c.baseline, got, err, c.want)
			}
		})
	}
	if _, err := mariaDBErrant("0-1", "", ""); err == nil || !strings.Contains(err.Error(), "domain-server-sequence") {
		t.Fatalf("malformed state: %v; want an error naming the format", err)
	}
}

func TestExpandRoles(t *testing.T) {
	edges := [][2]string{{"ops", "ops_role"}, {"r2", "ops_role"}, {"ops2", "r2"}, {"app", "reader"}}
	got := expandRoles([]string{"root", "ops_role"}, edges)
	for _, want := range []string{"root", "ops_role", "ops", "r2", "ops2"} {
		if !slices.Contains(got, want) {
			t.Errorf("expandRoles = %v; want %q in it", got, want)
		}
	}
	if slices.Contains(got, "app") || slices.Contains(got, "*") {
		t.Errorf("expandRoles = %v; app holds only an unprivileged role", got)
	}
	if got := expandRoles([]string{"PUBLIC"}, nil); !slices.Contains(got, "*") {
		t.Errorf("PUBLIC privileged: %v; want every user (*)", got)
	}
}

func TestGrantsGlobal(t *testing.T) {
	privs := []string{"READ_ONLY ADMIN"}
	cases := []struct {
		lines []string
		want  bool
	}{
		{[]string{"GRANT READ_ONLY ADMIN ON *.* TO `ops_role`"}, true},
		{[]string{"GRANT SELECT, READ_ONLY ADMIN, INSERT ON *.* TO `r`"}, true},
		{[]string{"GRANT ALL PRIVILEGES ON *.* TO `r` WITH GRANT OPTION"}, true},
		{[]string{"GRANT USAGE ON *.* TO `r`", "GRANT ALL PRIVILEGES ON `shop`.* TO `r`"}, false},
		{[]string{"GRANT SUPER ON *.* TO `r`"}, false},
	}
	for _, c := range cases {
		if got := grantsGlobal(c.lines, privs); got != c.want {
			t.Errorf("grantsGlobal(%q) = %v; want %v", c.lines, got, c.want)
		}
	}
}

func TestBinlogFilterProblems(t *testing.T) {
	cols := []string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB"}
	row := func(do, ignore string) []sql.NullString {
		return []sql.NullString{{String: "b.000001", Valid: true}, {String: "4", Valid: true}, {String: do, Valid: true}, {String: ignore, Valid: true}}
	}
	if got := binlogFilterProblems(cols, row("", "")); len(got) != 0 {
		t.Errorf("no filters: %q", got)
	}
	got := binlogFilterProblems(cols, row("", "audit"))
	if len(got) != 1 || !strings.Contains(got[0], "Binlog_Ignore_DB=audit") {
		t.Errorf("ignore filter: %q", got)
	}
	if got := binlogFilterProblems(cols, row("shop", "audit")); len(got) != 2 {
		t.Errorf("both filters: %q", got)
	}
}

func TestReplicaProblems(t *testing.T) {
	rs := ReplicaStatus{Configured: true, Filters: []string{"Replicate_Ignore_DB=x"}, SQLDelay: 60, SkipCounter: 2,
		OtherConnections: []string{"connection 'other' from h:1 (IO Yes, SQL Yes)"}}
	got := strings.Join(replicaProblems(rs), "\n")
	for _, want := range []string{"connection 'other'", "Replicate_Ignore_DB=x", "60 s late", "skip the next 2"} {
		if !strings.Contains(got, want) {
			t.Errorf("replicaProblems = %q; want %q", got, want)
		}
	}
	if got := replicaProblems(ReplicaStatus{Configured: true}); len(got) != 0 {
		t.Errorf("clean status: %q", got)
	}
}

func TestApplySettingsProblems(t *testing.T) {
	if got := (applySettings{ExecMode: "STRICT", SkipErrors: "OFF"}).problems(); len(got) != 0 {
		t.Errorf("defaults: %q", got)
	}
	got := strings.Join((applySettings{ExecMode: "IDEMPOTENT", SkipErrors: "1062,1032", SkipCounter: 1}).problems(), "\n")
	for _, want := range []string{"IDEMPOTENT", "1062,1032", "skip the next 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems = %q; want %q", got, want)
		}
	}
	for _, d := range Dialects() {
		qs := d.applySettingsQueries()
		if len(qs) == 0 || !strings.Contains(qs[len(qs)-1].SQL, "slave_exec_mode") {
			t.Errorf("%s: %v; want the slave_* spelling last (older servers know only it)", d, qs)
		}
		if d == MariaDB && len(qs) != 1 {
			t.Errorf("mariadb: %v; MariaDB has no replica_* spelling", qs)
		}
	}
}
