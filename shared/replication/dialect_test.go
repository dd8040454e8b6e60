package replication

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDialect(t *testing.T) {
	tests := []struct {
		in      string
		want    Dialect
		wantErr bool
	}{
		{in: "auto", want: DialectAuto},
		{in: "aurora-mysql-2", want: AuroraMySQL2},
		{in: "aurora-mysql-3", want: AuroraMySQL3},
		{in: "aurora-mysql-8.4", want: AuroraMySQL84},
		{in: "mysql", want: MySQL},
		{in: "mariadb", want: MariaDB},
		// Flags are typed by people: case and surrounding blanks don't matter.
		{in: " MariaDB ", want: MariaDB},
		{in: "AURORA-MYSQL-3", want: AuroraMySQL3},
		{in: "", wantErr: true},
		{in: "aurora", wantErr: true},
		{in: "aurora-mysql-8.0", wantErr: true},
		{in: "postgres", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseDialect(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseDialect(%q) = %q, nil; want an error", tt.in, got)
				continue
			}
			// The error must teach the valid values.
			for _, name := range []string{"auto", "aurora-mysql-2", "aurora-mysql-3", "aurora-mysql-8.4", "mysql", "mariadb"} {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("ParseDialect(%q) error %q does not list %q", tt.in, err, name)
				}
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDialect(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestDialects(t *testing.T) {
	got := Dialects()
	want := []Dialect{AuroraMySQL2, AuroraMySQL3, AuroraMySQL84, MySQL, MariaDB}
	if len(got) != len(want) {
		t.Fatalf("Dialects() = %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Dialects()[%d] = %q; want %q", i, got[i], want[i])
		}
		if _, err := ParseDialect(string(got[i])); err != nil {
			t.Errorf("ParseDialect(%q) = %v; every concrete dialect must parse", got[i], err)
		}
	}
	// The result is a copy: callers cannot change the package's list.
	got[0] = "x"
	if Dialects()[0] != AuroraMySQL2 {
		t.Error("Dialects() returned the package's own slice")
	}
}

func TestIsAurora(t *testing.T) {
	want := map[Dialect]bool{
		AuroraMySQL2: true, AuroraMySQL3: true, AuroraMySQL84: true,
		MySQL: false, MariaDB: false, DialectAuto: false, "bogus": false,
	}
	for d, w := range want {
		if got := d.IsAurora(); got != w {
			t.Errorf("%q.IsAurora() = %v; want %v", d, got, w)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		info ServerInfo
		want Dialect
		// wantErr lists substrings the error must contain; nil means no error.
		wantErr []string
	}{
		{
			// Captured from the MariaDB 10.11 server these machines run.
			name: "MariaDB 10.11 (Debian)",
			info: ServerInfo{Version: "10.11.19-MariaDB-0+deb12u1-log", VersionComment: "Debian 12"},
			want: MariaDB,
		},
		{
			name: "MariaDB named only in the comment",
			info: ServerInfo{Version: "11.4.2", VersionComment: "mariadb.org binary distribution"},
			want: MariaDB,
		},
		{
			name:    "MySQL 5.7.44",
			info:    ServerInfo{Version: "5.7.44-log", VersionComment: "MySQL Community Server (GPL)"},
			wantErr: []string{"5.7.44-log", "not support", "--dialect"},
		},
		{
			name:    "MySQL 8.0.21",
			info:    ServerInfo{Version: "8.0.21", VersionComment: "MySQL Community Server - GPL"},
			wantErr: []string{"8.0.21", "8.0.23", "--dialect"},
		},
		{
			// 8.0.22 has START REPLICA and SHOW REPLICA STATUS but not yet
			// CHANGE REPLICATION SOURCE TO, so the MySQL dialect cannot serve it.
			name:    "MySQL 8.0.22",
			info:    ServerInfo{Version: "8.0.22", VersionComment: "MySQL Community Server - GPL"},
			wantErr: []string{"8.0.22", "CHANGE REPLICATION SOURCE TO"},
		},
		{
			name: "MySQL 8.0.23",
			info: ServerInfo{Version: "8.0.23", VersionComment: "MySQL Community Server - GPL"},
			want: MySQL,
		},
		{
			name: "MySQL 8.0.36 (Ubuntu)",
			info: ServerInfo{Version: "8.0.36-0ubuntu0.22.04.1", VersionComment: "(Ubuntu)"},
			want: MySQL,
		},
		{
			name: "Percona Server 8.0.36",
			info: ServerInfo{Version: "8.0.36-28", VersionComment: "Percona Server (GPL), Release 28, Revision 47601f19"},
			want: MySQL,
		},
		{
			name: "MySQL 8.4.3",
			info: ServerInfo{Version: "8.4.3", VersionComment: "MySQL Community Server - GPL"},
			want: MySQL,
		},
		{
			name: "MySQL 9.1.0",
			info: ServerInfo{Version: "9.1.0", VersionComment: "MySQL Community Server - GPL"},
			want: MySQL,
		},
		{
			name: "Aurora MySQL v2",
			info: ServerInfo{Version: "5.7.12", VersionComment: "Source distribution", AuroraVersion: "2.11.5"},
			want: AuroraMySQL2,
		},
		{
			name: "Aurora MySQL v2 with an older two-digit minor",
			info: ServerInfo{Version: "5.7.12-log", AuroraVersion: "2.07.2"},
			want: AuroraMySQL2,
		},
		{
			name: "Aurora MySQL v3",
			info: ServerInfo{Version: "8.0.39", VersionComment: "Source distribution", AuroraVersion: "3.08.0"},
			want: AuroraMySQL3,
		},
		{
			name: "Aurora MySQL 8.4 reporting an 8.4 Aurora version",
			info: ServerInfo{Version: "8.4.7", VersionComment: "Source distribution", AuroraVersion: "8.4.7"},
			want: AuroraMySQL84,
		},
		{
			// AWS has not documented Aurora 8.4's AURORA_VERSION() format: an
			// 8.4 server with any Aurora version is Aurora 8.4.
			name: "Aurora MySQL 8.4 with another Aurora numbering",
			info: ServerInfo{Version: "8.4.7", AuroraVersion: "4.0.0"},
			want: AuroraMySQL84,
		},
		{
			name: "Aurora v3 from an RDS engine-version string",
			info: ServerInfo{Version: "8.0.mysql_aurora.3.05.2"},
			want: AuroraMySQL3,
		},
		{
			name: "Aurora v2 from an RDS engine-version string",
			info: ServerInfo{Version: "5.7.mysql_aurora.2.11.5"},
			want: AuroraMySQL2,
		},
		{
			name:    "Aurora MySQL v1",
			info:    ServerInfo{Version: "5.6.10", AuroraVersion: "1.23.4"},
			wantErr: []string{"1.23.4", "not supported"},
		},
		{
			name:    "unparseable Aurora version",
			info:    ServerInfo{Version: "8.0.39", AuroraVersion: "three"},
			wantErr: []string{`"three"`},
		},
		{
			name:    "unknown Aurora major",
			info:    ServerInfo{Version: "9.7.0", AuroraVersion: "9.7.0"},
			wantErr: []string{"9.7.0", "--dialect"},
		},
		{
			name:    "unparseable server version",
			info:    ServerInfo{Version: "banana-1", VersionComment: "fruit"},
			wantErr: []string{`"banana-1"`, "--dialect"},
		},
		{
			name:    "empty server version",
			info:    ServerInfo{},
			wantErr: []string{"empty", "--dialect"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(tt.info)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Detect(%+v) = %q, %v; want %q, nil", tt.info, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Detect(%+v) = %q, nil; want an error", tt.info, got)
			}
			if !errors.Is(err, ErrUnsupportedServer) {
				t.Errorf("Detect(%+v) error %q does not wrap ErrUnsupportedServer", tt.info, err)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Detect(%+v) error %q does not contain %q", tt.info, err, s)
				}
			}
		})
	}
}

func TestParseServerVersion(t *testing.T) {
	tests := []struct {
		in   string
		want serverVersion
		ok   bool
	}{
		{"8.0.36-0ubuntu0.22.04.1", serverVersion{8, 0, 36}, true},
		{"10.11.19-MariaDB-0+deb12u1-log", serverVersion{10, 11, 19}, true},
		{"3.08.0", serverVersion{3, 8, 0}, true},
		{"8.4", serverVersion{8, 4, 0}, true},
		{"5.7.mysql_aurora.2.11.5", serverVersion{5, 7, 0}, true},
		{" 8.0.23 ", serverVersion{8, 0, 23}, true},
		{"8", serverVersion{}, false},
		{"v8.0.1", serverVersion{}, false},
		{"", serverVersion{}, false},
		{"99999999999.1.1", serverVersion{}, false},
	}
	for _, tt := range tests {
		got, ok := parseServerVersion(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseServerVersion(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBuildersRejectUnresolvedDialects(t *testing.T) {
	for _, d := range []Dialect{DialectAuto, "", "bogus"} {
		if _, err := d.SetSource(SourceParams{Host: "h", Port: 3306, User: "u", File: "f.000001", Position: 4}, ServerInfo{}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q.SetSource() error = %v; want ErrInvalidArgument", d, err)
		}
		if _, err := d.SetRetention(24); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q.SetRetention(24) error = %v; want ErrInvalidArgument", d, err)
		}
		// Builders without an error result panic: using "auto" unresolved is a
		// programming error, and the message says how to fix it.
		builders := map[string]func(){
			"StartReplication": func() { d.StartReplication() },
			"StopReplication":  func() { d.StopReplication() },
			"ResetSource":      func() { d.ResetSource() },
			"ReplicaStatus":    func() { d.ReplicaStatus() },
			"BinlogStatus":     func() { d.BinlogStatus(ServerInfo{}) },
			"WaitForPosition":  func() { d.WaitForPosition("f.000001", 4, 1, ServerInfo{}) },
			"ShowRetention":    func() { d.ShowRetention() },
			"SetReadOnly":      func() { d.SetReadOnly(true) },
			"ReadOnlyQuery":    func() { d.ReadOnlyQuery() },
		}
		for name, f := range builders {
			func() {
				defer func() {
					r := recover()
					msg, _ := r.(string)
					if !strings.Contains(msg, name) || !strings.Contains(msg, "Detect") {
						t.Errorf("%q.%s() panic = %v; want a panic naming %s and Detect", d, name, r, name)
					}
				}()
				f()
			}()
		}
	}
}
