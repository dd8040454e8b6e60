package replication

import (
	"errors"
	"strings"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"
)

func TestBinlogGone(t *testing.T) {
	tests := []struct {
		code uint16
		msg  string
		want bool
	}{
		{1236, "Could not find first log file name in binary log index file", true},
		{1236, "Could not find first log file name in binary log index file; the first event '' at 4, the last event read from '' at 4, the last byte read from '' at 4.", true},
		{1236, "binlog truncated in the middle of event; consider out of disk space on master", false},
		{29, `File './mysql-bin-changelog.000001' not found (Errcode: 2 "No such file or directory")`, true},
		{29, `File './mysql-bin-changelog.000001' not found (Errcode: 13 "Permission denied")`, false},
		{1227, "Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s) for this operation", false},
	}
	for _, tt := range tests {
		if got := binlogGone(&gomysql.MyError{Code: tt.code, Message: tt.msg}); got != tt.want {
			t.Errorf("binlogGone(%d %q) = %v; want %v", tt.code, tt.msg, got, tt.want)
		}
	}
	s := &Server{Role: "production", Addr: "db:3306", User: "admin"}
	err := s.dumpError("mysql-bin-changelog.000001", &gomysql.MyError{Code: 1236, Message: tests[0].msg})
	if !errors.Is(err, ErrBinlogGone) {
		t.Errorf("dumpError: %v; want ErrBinlogGone", err)
	}
	err = s.dumpError("mysql-bin-changelog.000001", &gomysql.MyError{Code: 1227, Message: tests[5].msg})
	if errors.Is(err, ErrBinlogGone) || !strings.Contains(err.Error(), "REPLICATION SLAVE privilege for \"admin\"") {
		t.Errorf("dumpError: %v; want the privilege named", err)
	}
}

// The syncer logs in as the pool does (address, user, password, TLS), as
// a replica whose server id cannot be a real replica's.
func TestBinlogSyncerConfig(t *testing.T) {
	for _, tt := range []struct {
		dsn        string
		host       string
		port       uint16
		tls        bool
		serverName string
		skipVerify bool
	}{
		{"admin:pw@tcp(db.example.com:3307)/", "db.example.com", 3307, false, "", false},
		{"admin:pw@tcp(db.example.com:3306)/?tls=true", "db.example.com", 3306, true, "db.example.com", false},
		{"admin:pw@tcp(db.example.com:3306)/?tls=skip-verify", "db.example.com", 3306, true, "", true},
		{"admin:pw@tcp([::1]:3306)/?tls=preferred", "::1", 3306, true, "", true},
		{"admin:pw@unix(/run/mysqld/mysqld.sock)/", "/run/mysqld/mysqld.sock", 0, false, "", false},
	} {
		cfg, err := mysql.ParseDSN(tt.dsn)
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Role: "production", Addr: cfg.Addr, User: cfg.User, cfg: cfg, Info: ServerInfo{Version: "8.0.39"}}
		c, err := s.binlogSyncerConfig()
		if err != nil {
			t.Fatalf("%s: %v", tt.dsn, err)
		}
		if c.Host != tt.host || c.Port != tt.port || c.User != "admin" || c.Password != "pw" {
			t.Errorf("%s: %s:%d %s/%s", tt.dsn, c.Host, c.Port, c.User, c.Password)
		}
		if c.ServerID < 1<<31 || c.Flavor != gomysql.MySQLFlavor || !c.DisableRetrySync || !c.RawModeEnabled || c.Logger == nil || c.Dialer == nil {
			t.Errorf("%s: %+v", tt.dsn, c)
		}
		if (c.TLSConfig != nil) != tt.tls {
			t.Fatalf("%s: TLS %v; want %v", tt.dsn, c.TLSConfig != nil, tt.tls)
		}
		if c.TLSConfig != nil {
			if c.TLSConfig == cfg.TLS || c.TLSConfig.ServerName != tt.serverName || c.TLSConfig.InsecureSkipVerify != tt.skipVerify {
				t.Errorf("%s: TLS %+v", tt.dsn, c.TLSConfig)
			}
		}
	}
	cfg, err := mysql.ParseDSN("admin:pw@tcp(db:3306)/")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Role: "production", Addr: cfg.Addr, cfg: cfg, Info: ServerInfo{Version: "10.11.19-MariaDB-0+deb12u1-log"}}
	if c, err := s.binlogSyncerConfig(); err != nil || c.Flavor != gomysql.MariaDBFlavor {
		t.Errorf("MariaDB: %v %+v", err, c)
	}
	cfg.Net = "pipe"
	if _, err := s.binlogSyncerConfig(); err == nil {
		t.Error("network pipe accepted")
	}
}
