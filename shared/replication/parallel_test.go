package replication

import (
	"errors"
	"strings"
	"testing"
)

func TestParallelApplyStatements(t *testing.T) {
	mysql := func(v string) ServerInfo {
		return ServerInfo{Version: v, VersionComment: "MySQL Community Server - GPL"}
	}
	aurora := func(v, a string) ServerInfo { return ServerInfo{Version: v, AuroraVersion: a} }
	for _, tc := range []struct {
		name    string
		d       Dialect
		info    ServerInfo
		workers int
		want    []string // SQL without the marker; nil with wantErr
		wantErr error
	}{
		{"mariadb", MariaDB, ServerInfo{Version: "10.11.19-MariaDB-log"}, 4,
			[]string{"SET GLOBAL slave_parallel_mode = 'optimistic'", "SET GLOBAL slave_parallel_threads = 4"}, nil},
		{"mariadb 16 workers", MariaDB, ServerInfo{Version: "10.6.20-MariaDB"}, 16,
			[]string{"SET GLOBAL slave_parallel_mode = 'optimistic'", "SET GLOBAL slave_parallel_threads = 16"}, nil},
		{"mysql 8.0.25: slave_ spellings and LOGICAL_CLOCK", MySQL, mysql("8.0.25"), 4,
			[]string{"SET GLOBAL slave_parallel_type = 'LOGICAL_CLOCK'", "SET GLOBAL slave_preserve_commit_order = ON", "SET GLOBAL slave_parallel_workers = 4"}, nil},
		{"mysql 8.0.26: replica_ spellings and LOGICAL_CLOCK", MySQL, mysql("8.0.26"), 4,
			[]string{"SET GLOBAL replica_parallel_type = 'LOGICAL_CLOCK'", "SET GLOBAL replica_preserve_commit_order = ON", "SET GLOBAL replica_parallel_workers = 4"}, nil},
		{"mysql 8.0.36", MySQL, mysql("8.0.36-0ubuntu0.22.04.1"), 8,
			[]string{"SET GLOBAL replica_preserve_commit_order = ON", "SET GLOBAL replica_parallel_workers = 8"}, nil},
		{"mysql 8.4", MySQL, mysql("8.4.3"), 4,
			[]string{"SET GLOBAL replica_preserve_commit_order = ON", "SET GLOBAL replica_parallel_workers = 4"}, nil},
		{"mysql version unknown", MySQL, ServerInfo{}, 4,
			[]string{"SET GLOBAL replica_preserve_commit_order = ON", "SET GLOBAL replica_parallel_workers = 4"}, nil},
		{"aurora 2: parameter group", AuroraMySQL2, aurora("5.7.12", "2.11.5"), 4, nil, ErrParameterGroup},
		{"aurora 3: parameter group", AuroraMySQL3, aurora("8.0.39", "3.08.0"), 4, nil, ErrParameterGroup},
		{"aurora 8.4: parameter group", AuroraMySQL84, aurora("8.4.7", "8.4.7"), 4, nil, ErrParameterGroup},
		{"zero workers", MariaDB, ServerInfo{}, 0, nil, ErrInvalidArgument},
		{"negative workers", MySQL, ServerInfo{}, -1, nil, ErrInvalidArgument},
		{"too many workers", MySQL, ServerInfo{}, MaxParallelWorkers + 1, nil, ErrInvalidArgument},
		{"auto dialect", DialectAuto, ServerInfo{}, 4, nil, ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts, err := tc.d.ParallelApply(tc.workers, tc.info)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || sts != nil {
					t.Fatalf("ParallelApply = %v, %v; want an error wrapping %v", sts, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range sts {
				if st.SQL != st.Display || len(st.Args) != 0 || !strings.HasSuffix(st.SQL, marker) {
					t.Errorf("statement %q: want plain SQL with the marker", st.SQL)
				}
				got = append(got, strings.TrimSuffix(st.SQL, marker))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParallelApplyQuery(t *testing.T) {
	for _, tc := range []struct {
		d    Dialect
		info ServerInfo
		want string
	}{
		{MariaDB, ServerInfo{}, "SELECT @@global.slave_parallel_threads AS workers, @@global.slave_parallel_mode AS parallel_mode"},
		{MySQL, ServerInfo{Version: "8.0.25"}, "SELECT @@global.slave_parallel_workers AS workers, @@global.slave_preserve_commit_order AS preserve_commit_order, @@global.slave_parallel_type AS parallel_type"},
		{MySQL, ServerInfo{Version: "8.0.26"}, "SELECT @@global.replica_parallel_workers AS workers, @@global.replica_preserve_commit_order AS preserve_commit_order, @@global.replica_parallel_type AS parallel_type"},
		{MySQL, ServerInfo{Version: "8.0.27"}, "SELECT @@global.replica_parallel_workers AS workers, @@global.replica_preserve_commit_order AS preserve_commit_order"},
		{MySQL, ServerInfo{}, "SELECT @@global.replica_parallel_workers AS workers, @@global.replica_preserve_commit_order AS preserve_commit_order"},
		{AuroraMySQL2, ServerInfo{Version: "5.7.12", AuroraVersion: "2.11.5"}, "SELECT @@global.slave_parallel_workers AS workers, @@global.slave_preserve_commit_order AS preserve_commit_order, @@global.slave_parallel_type AS parallel_type"},
		{AuroraMySQL3, ServerInfo{Version: "8.0.23", AuroraVersion: "3.02.0"}, "SELECT @@global.slave_parallel_workers AS workers, @@global.slave_preserve_commit_order AS preserve_commit_order, @@global.slave_parallel_type AS parallel_type"},
		{AuroraMySQL3, ServerInfo{Version: "8.0.39", AuroraVersion: "3.08.0"}, "SELECT @@global.replica_parallel_workers AS workers, @@global.replica_preserve_commit_order AS preserve_commit_order"},
		{AuroraMySQL84, ServerInfo{Version: "8.4.7", AuroraVersion: "8.4.7"}, "SELECT @@global.replica_parallel_workers AS workers, @@global.replica_preserve_commit_order AS preserve_commit_order"},
	} {
		if got := strings.TrimSuffix(tc.d.ParallelApplyQuery(tc.info).SQL, marker); got != tc.want {
			t.Errorf("%s %+v:\n got %s\nwant %s", tc.d, tc.info, got, tc.want)
		}
	}
}

func TestParseParallelApplyAndProblems(t *testing.T) {
	mariaCols := []string{"workers", "parallel_mode"}
	mysqlCols := []string{"workers", "preserve_commit_order"}
	oldCols := []string{"workers", "preserve_commit_order", "parallel_type"}
	for _, tc := range []struct {
		name     string
		d        Dialect
		cols     []string
		row      []string
		wantErr  bool
		problems []string // substrings, one per problem
		matches4 bool     // equals what ParallelApply(4) sets
	}{
		{"mariadb optimistic 4", MariaDB, mariaCols, []string{"4", "optimistic"}, false, nil, true},
		{"mariadb default: 0 threads", MariaDB, mariaCols, []string{"0", "optimistic"}, false, []string{"parallel apply is off (0 workers)"}, false},
		{"mariadb 8 conservative", MariaDB, mariaCols, []string{"8", "conservative"}, false, nil, false},
		{"mariadb 4 none", MariaDB, mariaCols, []string{"4", "none"}, false, []string{"slave_parallel_mode is none"}, false},
		{"mariadb 4 minimal", MariaDB, mariaCols, []string{"4", "MINIMAL"}, false, []string{"slave_parallel_mode is minimal"}, false},
		{"mysql 4 ON", MySQL, mysqlCols, []string{"4", "1"}, false, nil, true},
		{"mysql 4 ON spelled", MySQL, mysqlCols, []string{"4", "ON"}, false, nil, true},
		{"mysql 4 OFF", MySQL, mysqlCols, []string{"4", "0"}, false, []string{"commit order is not preserved"}, false},
		{"mysql 1 worker", MySQL, mysqlCols, []string{"1", "1"}, false, []string{"parallel apply is off (1 workers)"}, false},
		{"mysql 0 workers, OFF", MySQL, mysqlCols, []string{"0", "0"}, false, []string{"parallel apply is off (0 workers)"}, false},
		{"mysql 8.0.25 DATABASE", MySQL, oldCols, []string{"4", "1", "DATABASE"}, false, []string{"parallel type is DATABASE"}, false},
		{"mysql 8.0.25 LOGICAL_CLOCK", MySQL, oldCols, []string{"4", "1", "logical_clock"}, false, nil, true},
		{"aurora 2 default", AuroraMySQL2, oldCols, []string{"0", "0", "DATABASE"}, false, []string{"parallel apply is off (0 workers)"}, false},
		{"aurora 3 4 OFF", AuroraMySQL3, mysqlCols, []string{"4", "0"}, false, []string{"commit order is not preserved"}, false},
		{"aurora 8.4 4 ON", AuroraMySQL84, mysqlCols, []string{"4", "1"}, false, nil, true},
		{"workers not a number", MariaDB, mariaCols, []string{"x", "optimistic"}, true, nil, false},
		{"boolean not a boolean", MySQL, mysqlCols, []string{"4", "maybe"}, true, nil, false},
		{"missing commit order", MySQL, []string{"workers"}, []string{"4"}, true, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseParallelApply(tc.d, tc.cols, [][]string{tc.row})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v; want an error", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := parallelApplyProblems(tc.d, s)
			if len(got) != len(tc.problems) {
				t.Fatalf("problems %q; want %q", got, tc.problems)
			}
			for i, p := range tc.problems {
				if !strings.Contains(got[i], p) {
					t.Errorf("problem %d = %q; want it to contain %q", i, got[i], p)
				}
			}
			if m := s.matches(tc.d, 4); m != tc.matches4 {
				t.Errorf("matches(4) = %v; want %v (%s)", m, tc.matches4, s)
			}
			if probs, cost := ParallelApplyProblems(tc.d, s); len(probs) != len(got) || (len(got) == 0) != (cost == "") || len(got) > 0 && cost != parallelApplyCost(got) {
				t.Errorf("ParallelApplyProblems = %q, %q; want %q with its cost", probs, cost, got)
			}
			if len(got) > 0 {
				cost := parallelApplyCost(got)
				if strings.Contains(strings.Join(got, ";"), "commit order") {
					if cost != commitOrderCost {
						t.Errorf("cost %q; want the commit order cost", cost)
					}
				} else if cost != oneThreadCost {
					t.Errorf("cost %q; want the one-thread cost", cost)
				}
			}
		})
	}
	if _, err := ParseParallelApply(MariaDB, mariaCols, nil); err == nil {
		t.Error("no rows parsed without an error")
	}
}

// The Aurora wording names each version's parameters.
func TestAuroraParallelNames(t *testing.T) {
	for _, tc := range []struct {
		d    Dialect
		info ServerInfo
		want string
	}{
		{AuroraMySQL2, ServerInfo{Version: "5.7.12", AuroraVersion: "2.12.1"}, "slave_parallel_workers ≥ 2, slave_preserve_commit_order=ON, slave_parallel_type=LOGICAL_CLOCK"},
		{AuroraMySQL3, ServerInfo{Version: "8.0.39", AuroraVersion: "3.08.0"}, "replica_parallel_workers ≥ 2, replica_preserve_commit_order=ON"},
		{AuroraMySQL3, ServerInfo{Version: "8.0.23", AuroraVersion: "3.02.0"}, "slave_parallel_workers ≥ 2, slave_preserve_commit_order=ON, slave_parallel_type=LOGICAL_CLOCK"},
	} {
		if got := auroraParallelNames(tc.d, tc.info); got != tc.want {
			t.Errorf("%s %s: %q; want %q", tc.d, tc.info.AuroraVersion, got, tc.want)
		}
	}
	if ParallelOneThreadCost != oneThreadCost || ParallelCommitOrderCost != commitOrderCost {
		t.Error("exported cost wording differs")
	}
}
