package replication

import (
	"database/sql"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestMaxBinlogPosition(t *testing.T) {
	want := map[Dialect]uint64{
		AuroraMySQL2:  math.MaxUint64,
		AuroraMySQL3:  math.MaxUint64,
		AuroraMySQL84: math.MaxUint64,
		MySQL:         math.MaxUint64,
		MariaDB:       4294967295,
	}
	for _, d := range Dialects() {
		w, ok := want[d]
		if !ok {
			t.Fatalf("dialect %s has no expected limit in this test", d)
		}
		if got := d.MaxBinlogPosition(); got != w {
			t.Errorf("%s.MaxBinlogPosition() = %d; want %d", d, got, w)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MaxBinlogPosition on auto did not panic")
		}
	}()
	DialectAuto.MaxBinlogPosition()
}

func TestCheckPositionLimit(t *testing.T) {
	const file = "mysql-bin-changelog.000001"
	tests := []struct {
		name       string
		pos        uint64
		prod, rb   Dialect
		wantErr    bool
		wantInText []string
	}{
		{name: "mariadb target, largest 32-bit position", pos: math.MaxUint32, prod: MariaDB, rb: MariaDB},
		{name: "mariadb target, 2^32", pos: 1 << 32, prod: MySQL, rb: MariaDB, wantErr: true,
			wantInText: []string{file + ":4294967296", "4294967295", "rollback target (mariadb)", "CHANGE MASTER TO", "truncate it to 0", "explain-event"}},
		{name: "mariadb target, the reported truncation", pos: 4294967948, prod: MariaDB, rb: MariaDB, wantErr: true,
			wantInText: []string{"4294967948", "truncate it to 652"}},
		{name: "mysql target, mariadb production", pos: 1 << 32, prod: MariaDB, rb: MySQL, wantErr: true,
			wantInText: []string{"production (mariadb)", "cannot be production's coordinates", "explain-event"}},
		{name: "mysql both, 64-bit", pos: 5_000_000_000, prod: MySQL, rb: MySQL},
		{name: "aurora 2 → aurora 3, largest", pos: math.MaxUint64, prod: AuroraMySQL3, rb: AuroraMySQL2},
		{name: "aurora 8.4 both", pos: math.MaxUint64, prod: AuroraMySQL84, rb: AuroraMySQL84},
		{name: "aurora 3 production, mariadb target", pos: 1<<32 + 4, prod: AuroraMySQL3, rb: MariaDB, wantErr: true,
			wantInText: []string{"truncate it to 4"}},
		{name: "small position", pos: 4, prod: MariaDB, rb: MariaDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPositionLimit(BinlogPosition{File: file, Position: tt.pos}, tt.prod, tt.rb)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v; want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrRefused) {
				t.Errorf("err %v does not wrap ErrRefused", err)
			}
			for _, s := range tt.wantInText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestIsBoundaryEvent(t *testing.T) {
	mysqlFamily := []Dialect{AuroraMySQL2, AuroraMySQL3, AuroraMySQL84, MySQL}
	tests := []struct {
		event   string
		mariadb bool
		mysql   bool
	}{
		// Events that begin a transaction.
		{"Gtid", true, true},
		{"Anonymous_Gtid", false, true},
		{"Gtid_tagged_log", false, true},
		// File-level events.
		{"Format_desc", true, true},
		{"Rotate", true, true},
		{"Stop", true, true},
		{"Previous_gtids", false, true},
		{"Gtid_list", true, false},
		{"Binlog_checkpoint", true, false},
		{"Start_encryption", true, false},
		// Events inside a transaction.
		{"Query", false, false},
		{"Annotate_rows", false, false},
		{"Table_map", false, false},
		{"Write_rows_v1", false, false},
		{"Write_rows", false, false},
		{"Update_rows", false, false},
		{"Update_rows_v1", false, false},
		{"Delete_rows", false, false},
		{"Delete_rows_v1", false, false},
		{"Xid", false, false},
		{"XA_prepare", false, false},
		{"Intvar", false, false},
		{"User var", false, false},
		{"Rand", false, false},
		{"Transaction_payload", false, false},
		{"Rows_query", false, false},
		{"Incident", false, false},
		{"", false, false},
		// Exact names only.
		{"gtid", false, false},
		{"GTID", false, false},
		{" Gtid", false, false},
	}
	for _, tt := range tests {
		if got := MariaDB.IsBoundaryEvent(tt.event); got != tt.mariadb {
			t.Errorf("mariadb.IsBoundaryEvent(%q) = %v; want %v", tt.event, got, tt.mariadb)
		}
		for _, d := range mysqlFamily {
			if got := d.IsBoundaryEvent(tt.event); got != tt.mysql {
				t.Errorf("%s.IsBoundaryEvent(%q) = %v; want %v", d, tt.event, got, tt.mysql)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("IsBoundaryEvent on auto did not panic")
		}
	}()
	DialectAuto.IsBoundaryEvent("Gtid")
}

func TestShowBinlogEventsAt(t *testing.T) {
	st, err := showBinlogEventsAt(BinlogPosition{File: "mysql-bin-changelog.000003", Position: 40134574}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := "SHOW BINLOG EVENTS IN 'mysql-bin-changelog.000003' FROM 40134574 LIMIT 2 /* switchback */"
	if st.SQL != want || st.Display != want || len(st.Args) != 0 {
		t.Errorf("statement %q (display %q, args %v); want %q without args", st.SQL, st.Display, st.Args, want)
	}
	if _, err := showBinlogEventsAt(BinlogPosition{File: `x\'; DROP`, Position: 4}, 1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("file with a backslash: err %v; want ErrInvalidArgument", err)
	}
}

func TestBinlogReadPrivilege(t *testing.T) {
	for _, d := range Dialects() {
		events, logs := binlogReadPrivilege(d, "SHOW BINLOG EVENTS IN 'f.1' FROM 4 LIMIT 2"), binlogReadPrivilege(d, "SHOW BINARY LOGS")
		wantEvents, wantLogs := "REPLICATION SLAVE", "REPLICATION CLIENT"
		if d == MariaDB {
			wantEvents, wantLogs = "BINLOG MONITOR", "BINLOG MONITOR"
		}
		if events != wantEvents || logs != wantLogs {
			t.Errorf("%s: SHOW BINLOG EVENTS needs %q, SHOW BINARY LOGS %q; want %q, %q", d, events, logs, wantEvents, wantLogs)
		}
	}
	err := privilegeRefusal(BinlogPosition{File: "f.000001", Position: 338}, MariaDB, "admin", "SHOW BINLOG EVENTS IN 'f.000001' FROM 338 LIMIT 2 /* switchback */",
		"Access denied; you need (at least one of) the BINLOG MONITOR privilege(s) for this operation")
	for _, s := range []string{"f.000001:338", `"admin"`, "BINLOG MONITOR privilege", "SHOW BINLOG EVENTS IN 'f.000001' FROM 338 LIMIT 2", "cannot check"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("privilege refusal %q does not contain %q", err, s)
		}
	}
	if !errors.Is(err, ErrRefused) || strings.Contains(err.Error(), "/* switchback */") {
		t.Errorf("privilege refusal %q: want ErrRefused and no marker", err)
	}
}

func nullStrings(vals ...string) []sql.NullString {
	out := make([]sql.NullString, len(vals))
	for i, v := range vals {
		out[i] = sql.NullString{String: v, Valid: true}
	}
	return out
}

func TestParseBinaryLogs(t *testing.T) {
	// MariaDB: Log_name, File_size; MySQL 8: Log_name, File_size, Encrypted.
	got, err := parseBinaryLogs([]string{"Log_name", "File_size"}, [][]sql.NullString{
		nullStrings("mysql-bin-changelog.000001", "1762"), nullStrings("mysql-bin-changelog.000002", "352"),
	})
	if err != nil || len(got) != 2 || got[0] != (BinlogFile{"mysql-bin-changelog.000001", 1762}) || got[1] != (BinlogFile{"mysql-bin-changelog.000002", 352}) {
		t.Errorf("mariadb: %+v, %v", got, err)
	}
	got, err = parseBinaryLogs([]string{"Log_name", "File_size", "Encrypted"}, [][]sql.NullString{nullStrings("binlog.000007", "5000000000", "No")})
	if err != nil || len(got) != 1 || got[0] != (BinlogFile{"binlog.000007", 5000000000}) {
		t.Errorf("mysql: %+v, %v", got, err)
	}
	if _, err := parseBinaryLogs([]string{"Log_name"}, [][]sql.NullString{nullStrings("x.1")}); err == nil || !strings.Contains(err.Error(), "File_size") {
		t.Errorf("missing File_size: %v", err)
	}
	if _, err := parseBinaryLogs([]string{"Log_name", "File_size"}, [][]sql.NullString{nullStrings("x.1", "big")}); err == nil {
		t.Error("non-numeric File_size accepted")
	}
}

func TestParseBinlogEvents(t *testing.T) {
	cols := []string{"Log_name", "Pos", "Event_type", "Server_id", "End_log_pos", "Info"}
	got, err := parseBinlogEvents(cols, [][]sql.NullString{
		nullStrings("mysql-bin-changelog.000001", "636", "Gtid", "7", "678", "BEGIN GTID 0-7-3"),
		nullStrings("mysql-bin-changelog.000001", "678", "Annotate_rows", "7", "742", "INSERT INTO t VALUES (1)"),
	})
	want := []BinlogEvent{
		{File: "mysql-bin-changelog.000001", Pos: 636, EndPos: 678, Type: "Gtid", ServerID: 7},
		{File: "mysql-bin-changelog.000001", Pos: 678, EndPos: 742, Type: "Annotate_rows", ServerID: 7},
	}
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseBinlogEvents(cols[:3], [][]sql.NullString{nullStrings("f.1", "4", "Format_desc")}); err == nil || !strings.Contains(err.Error(), "End_log_pos") {
		t.Errorf("missing End_log_pos: %v", err)
	}
}

func TestLocateStart(t *testing.T) {
	files := []BinlogFile{{"mysql-bin-changelog.000001", 1762}, {"mysql-bin-changelog.000002", 1086}}
	tests := []struct {
		name       string
		p          BinlogPosition
		files      []BinlogFile
		wantSize   uint64
		wantDone   bool
		wantErr    []string
		wantDetail string
	}{
		{name: "inside the last file", p: BinlogPosition{File: "mysql-bin-changelog.000002", Position: 636}, files: files, wantSize: 1086},
		{name: "inside an older file", p: BinlogPosition{File: "mysql-bin-changelog.000001", Position: 4}, files: files, wantSize: 1762},
		{name: "current end of the last file", p: BinlogPosition{File: "mysql-bin-changelog.000002", Position: 1086}, files: files,
			wantSize: 1086, wantDone: true, wantDetail: "current end"},
		{name: "end of an older file", p: BinlogPosition{File: "mysql-bin-changelog.000001", Position: 1762}, files: files,
			wantSize: 1762, wantDone: true, wantDetail: "end of production's binlog file mysql-bin-changelog.000001"},
		{name: "past the end of the last file", p: BinlogPosition{File: "mysql-bin-changelog.000002", Position: 1087}, files: files,
			wantErr: []string{"mysql-bin-changelog.000002:1087", "past the end", "1086 bytes", "current end", "explain-event"}},
		{name: "past the end of an older file", p: BinlogPosition{File: "mysql-bin-changelog.000001", Position: 1_000_000}, files: files,
			wantErr: []string{"past the end", "1762 bytes (its size)"}},
		{name: "file not on production", p: BinlogPosition{File: "mysql-bin-changelog.000009", Position: 4}, files: files,
			wantErr: []string{"mysql-bin-changelog.000009", "not on production", "mysql-bin-changelog.000001 … mysql-bin-changelog.000002", "purged", "explain-event"}},
		{name: "no files", p: BinlogPosition{File: "mysql-bin-changelog.000001", Position: 4},
			wantErr: []string{"no binary log files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size, done, detail, err := locateStart(tt.p, tt.files)
			if len(tt.wantErr) > 0 {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("err %v; want a refusal", err)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("err %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil || size != tt.wantSize || done != tt.wantDone || !strings.Contains(detail, tt.wantDetail) {
				t.Errorf("got size %d done %v detail %q err %v; want size %d done %v detail ~%q", size, done, detail, err, tt.wantSize, tt.wantDone, tt.wantDetail)
			}
		})
	}
}

func TestJudgeStartEvent(t *testing.T) {
	const file = "mysql-bin-changelog.000001"
	at := func(pos uint64) BinlogPosition { return BinlogPosition{File: file, Position: pos} }
	ev := func(pos, end uint64, typ string) BinlogEvent {
		return BinlogEvent{File: file, Pos: pos, EndPos: end, Type: typ}
	}
	tests := []struct {
		name       string
		d          Dialect
		p          BinlogPosition
		size       uint64
		events     []BinlogEvent
		eventsErr  string
		wantDetail string
		wantErr    []string
	}{
		{name: "mariadb Gtid", d: MariaDB, p: at(636), size: 1086,
			events: []BinlogEvent{ev(636, 678, "Gtid"), ev(678, 742, "Annotate_rows")}, wantDetail: "starts an event of type Gtid"},
		{name: "mariadb Format_desc at 4", d: MariaDB, p: at(4), size: 1086,
			events: []BinlogEvent{ev(4, 256, "Format_desc"), ev(256, 285, "Gtid_list")}, wantDetail: "Format_desc"},
		{name: "mariadb Gtid_list", d: MariaDB, p: at(256), size: 1086,
			events: []BinlogEvent{ev(256, 285, "Gtid_list"), ev(285, 338, "Binlog_checkpoint")}, wantDetail: "Gtid_list"},
		{name: "mariadb Rotate, last event of a closed file", d: MariaDB, p: at(1718), size: 1762,
			events: []BinlogEvent{ev(1718, 1762, "Rotate")}, wantDetail: "Rotate"},
		{name: "mysql Anonymous_Gtid", d: MySQL, p: at(157), size: 900,
			events: []BinlogEvent{ev(157, 236, "Anonymous_Gtid"), ev(236, 311, "Query")}, wantDetail: "Anonymous_Gtid"},
		{name: "aurora 2 Previous_gtids", d: AuroraMySQL2, p: at(123), size: 900,
			events: []BinlogEvent{ev(123, 154, "Previous_gtids"), ev(154, 219, "Anonymous_Gtid")}, wantDetail: "Previous_gtids"},
		{name: "aurora 3 Gtid", d: AuroraMySQL3, p: at(197), size: 900,
			events: []BinlogEvent{ev(197, 276, "Gtid"), ev(276, 351, "Query")}, wantDetail: "Gtid"},
		{name: "aurora 8.4 Gtid_tagged_log", d: AuroraMySQL84, p: at(197), size: 900,
			events: []BinlogEvent{ev(197, 290, "Gtid_tagged_log"), ev(290, 351, "Query")}, wantDetail: "Gtid_tagged_log"},
		{name: "mysql past 4 GiB: End_log_pos wraps", d: MySQL, p: at(5_000_000_000), size: 6_000_000_000,
			events: []BinlogEvent{ev(5_000_000_000, (5_000_000_079)&math.MaxUint32, "Gtid"), ev(5_000_000_079, (5_000_000_154)&math.MaxUint32, "Query")}, wantDetail: "Gtid"},

		{name: "mariadb Xid", d: MariaDB, p: at(838), size: 1086,
			events:  []BinlogEvent{ev(838, 869, "Xid"), ev(869, 911, "Gtid")},
			wantErr: []string{file + ":838", "inside a transaction", "of type Xid (bytes 838..869)", "explain-event"}},
		{name: "mariadb Annotate_rows", d: MariaDB, p: at(678), size: 1086,
			events:  []BinlogEvent{ev(678, 742, "Annotate_rows"), ev(742, 789, "Table_map")},
			wantErr: []string{"inside a transaction", "of type Annotate_rows "}},
		{name: "mariadb Table_map", d: MariaDB, p: at(742), size: 1086,
			events:  []BinlogEvent{ev(742, 789, "Table_map"), ev(789, 838, "Write_rows_v1")},
			wantErr: []string{"of type Table_map (bytes 742..789)"}},
		{name: "mariadb Write_rows_v1", d: MariaDB, p: at(789), size: 1086,
			events:  []BinlogEvent{ev(789, 838, "Write_rows_v1"), ev(838, 869, "Xid")},
			wantErr: []string{"of type Write_rows_v1 "}},
		{name: "mariadb DDL Query after its Gtid", d: MariaDB, p: at(380), size: 1086,
			events:  []BinlogEvent{ev(380, 467, "Query"), ev(467, 509, "Gtid")},
			wantErr: []string{"of type Query "}},
		{name: "mariadb last Xid of the file", d: MariaDB, p: at(1055), size: 1086,
			events:  []BinlogEvent{ev(1055, 1086, "Xid")},
			wantErr: []string{"of type Xid (bytes 1055..1086)"}},
		{name: "mysql Transaction_payload", d: MySQL, p: at(236), size: 900,
			events:  []BinlogEvent{ev(236, 500, "Transaction_payload"), ev(500, 579, "Gtid")},
			wantErr: []string{"of type Transaction_payload "}},
		{name: "mysql: MariaDB's Gtid_list is not one of its events", d: MySQL, p: at(256), size: 1086,
			events:  []BinlogEvent{ev(256, 285, "Gtid_list"), ev(285, 338, "Binlog_checkpoint")},
			wantErr: []string{"of type Gtid_list "}},
		{name: "mariadb: MySQL's Anonymous_Gtid is not one of its events", d: MariaDB, p: at(157), size: 900,
			events:  []BinlogEvent{ev(157, 236, "Anonymous_Gtid"), ev(236, 311, "Query")},
			wantErr: []string{"of type Anonymous_Gtid "}},

		{name: "mid-event, as MariaDB answers it", d: MariaDB, p: at(700), size: 1086,
			eventsErr: "Error when executing command SHOW BINLOG EVENTS: Wrong offset or I/O error",
			wantErr:   []string{file + ":700", "not the start of an event", "Wrong offset or I/O error", "explain-event"}},
		{name: "mid-event without checksums, as MariaDB answers it", d: MariaDB, p: at(700), size: 1022,
			eventsErr: "Error when executing command SHOW BINLOG EVENTS: Invalid input pos specified please provide valid one.",
			wantErr:   []string{"not the start of an event", "Invalid input pos"}},
		{name: "file purged meanwhile", d: MariaDB, p: at(636), size: 1086,
			eventsErr: "Error when executing command SHOW BINLOG EVENTS: Could not find target log",
			wantErr:   []string{"not on production any more", "purged", "explain-event"}},
		{name: "no event although inside the file", d: MySQL, p: at(636), size: 1086,
			wantErr: []string{"cannot prove", "no event at position 636", "1086 bytes"}},
		{name: "event at another position", d: MySQL, p: at(636), size: 1086,
			events:  []BinlogEvent{ev(4, 126, "Format_desc")},
			wantErr: []string{"cannot prove", "event at " + file + ":4 instead"}},
		{name: "event from another file", d: MySQL, p: at(636), size: 1086,
			events:  []BinlogEvent{{File: "other.000001", Pos: 636, EndPos: 678, Type: "Gtid"}},
			wantErr: []string{"cannot prove", "other.000001:636"}},
		{name: "header end does not match the next event", d: MySQL, p: at(636), size: 1086,
			events:  []BinlogEvent{ev(636, 9999, "Gtid"), ev(715, 800, "Query")},
			wantErr: []string{"cannot prove", "ends at 9999", "next event starts at 715"}},
		{name: "last event does not end at the file's end", d: MySQL, p: at(636), size: 1086,
			events:  []BinlogEvent{ev(636, 700, "Gtid")},
			wantErr: []string{"cannot prove", "ends at 700", "file at 1086"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail, err := judgeStartEvent(tt.d, tt.p, tt.size, tt.events, tt.eventsErr)
			if len(tt.wantErr) > 0 {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("err %v; want a refusal", err)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("err %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil || !strings.Contains(detail, tt.wantDetail) || !strings.Contains(detail, tt.p.String()) {
				t.Errorf("detail %q err %v; want accepted with %q", detail, err, tt.wantDetail)
			}
		})
	}
}
