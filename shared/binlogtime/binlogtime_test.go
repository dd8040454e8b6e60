package binlogtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	binlog "github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-sql-driver/mysql"

	"github.com/switchback/switchback/shared/replication"
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
	s := sourceOf(&replication.Server{Role: "production", Addr: "db:3306", User: "admin"})
	err := s.dumpError("mysql-bin-changelog.000001", &gomysql.MyError{Code: 1236, Message: tests[0].msg})
	if !errors.Is(err, replication.ErrBinlogGone) {
		t.Errorf("dumpError: %v; want ErrBinlogGone", err)
	}
	err = s.dumpError("mysql-bin-changelog.000001", &gomysql.MyError{Code: 1227, Message: tests[5].msg})
	if errors.Is(err, replication.ErrBinlogGone) || !strings.Contains(err.Error(), "REPLICATION SLAVE privilege for \"admin\"") ||
		!strings.HasPrefix(err.Error(), "production (db:3306): ") {
		t.Errorf("dumpError: %v; want the server and the privilege named", err)
	}
}

// A failed login is the engine's ErrUnreachable, naming the user when the
// server refused it (go-mysql's error given go-sql-driver's type).
func TestUnreachable(t *testing.T) {
	s := sourceOf(&replication.Server{Role: "production", Addr: "db:3306", User: "admin"})
	err := s.unreachable(driverError(&gomysql.MyError{Code: 1045, Message: "Access denied for user 'admin'"}))
	if !errors.Is(err, replication.ErrUnreachable) || !strings.Contains(err.Error(), `refused the login of "admin"`) {
		t.Errorf("login refused: %v", err)
	}
	other := errors.New("connection refused")
	if err := driverError(other); err != other {
		t.Errorf("driverError(%v) = %v; want it unchanged", other, err)
	}
}

// A server that Connect did not open has no connection settings; a file
// name that is not one is refused before any connection.
func TestFileCreatedRefuses(t *testing.T) {
	if _, err := FileCreated(context.Background(), &replication.Server{Role: "production", Addr: "db:3306"}, "mysql-bin.000001"); err == nil || !strings.Contains(err.Error(), "no connection settings") {
		t.Errorf("no settings: %v", err)
	}
	cfg, err := mysql.ParseDSN("admin:pw@tcp(db:3306)/")
	if err != nil {
		t.Fatal(err)
	}
	s := source{name: "production (db:3306)", user: "admin", cfg: cfg}
	for _, file := range []string{"", "mysql-bin\x00.000001"} {
		if _, err := s.fileCreated(context.Background(), file); err == nil || !strings.Contains(err.Error(), "invalid binlog file name") {
			t.Errorf("file %q: %v", file, err)
		}
	}
}

// The replica's connection logs in as the pool does (address, user,
// password, TLS), under a server id that cannot be a real replica's.
func TestDumpConfig(t *testing.T) {
	for _, tt := range []struct {
		dsn        string
		addr       string
		port       uint16
		tls        bool
		serverName string
		skipVerify bool
	}{
		{"admin:pw@tcp(db.example.com:3307)/", "db.example.com:3307", 3307, false, "", false},
		{"admin:pw@tcp(db.example.com:3306)/?tls=true", "db.example.com:3306", 3306, true, "db.example.com", false},
		{"admin:pw@tcp(db.example.com:3306)/?tls=skip-verify", "db.example.com:3306", 3306, true, "", true},
		{"admin:pw@tcp([::1]:3306)/?tls=preferred", "[::1]:3306", 3306, true, "", true},
		{"admin:pw@unix(/run/mysqld/mysqld.sock)/", "/run/mysqld/mysqld.sock", 0, false, "", false},
	} {
		cfg, err := mysql.ParseDSN(tt.dsn)
		if err != nil {
			t.Fatal(err)
		}
		srv := &replication.Server{Role: "production", Addr: cfg.Addr, User: cfg.User, Info: replication.ServerInfo{Version: "8.0.39"}}
		s := sourceOf(srv)
		s.cfg = cfg
		c, err := s.dumpConfig()
		if err != nil {
			t.Fatalf("%s: %v", tt.dsn, err)
		}
		if c.addr != tt.addr || c.port != tt.port || c.user != "admin" || c.password != "pw" {
			t.Errorf("%s: %s (%d) %s/%s", tt.dsn, c.addr, c.port, c.user, c.password)
		}
		if c.serverID < 1<<31 || c.mariaDB || c.dial == nil {
			t.Errorf("%s: %+v", tt.dsn, c)
		}
		if (c.tls != nil) != tt.tls {
			t.Fatalf("%s: TLS %v; want %v", tt.dsn, c.tls != nil, tt.tls)
		}
		if c.tls != nil {
			if c.tls == cfg.TLS || c.tls.ServerName != tt.serverName || c.tls.InsecureSkipVerify != tt.skipVerify {
				t.Errorf("%s: TLS %+v", tt.dsn, c.tls)
			}
		}
	}
	cfg, err := mysql.ParseDSN("admin:pw@tcp(db:3306)/")
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*replication.Server{
		{Role: "production", Addr: cfg.Addr, Info: replication.ServerInfo{Version: "10.11.19-MariaDB-0+deb12u1-log"}},
		{Role: "production", Addr: cfg.Addr, Dialect: replication.MariaDB},
	} {
		s := sourceOf(srv)
		s.cfg = cfg
		if c, err := s.dumpConfig(); err != nil || !c.mariaDB {
			t.Errorf("MariaDB (%+v): %v %+v", srv, err, c)
		}
	}
	s := source{name: "production (db:3306)", cfg: cfg.Clone()}
	s.cfg.Net = "pipe"
	if _, err := s.dumpConfig(); err == nil {
		t.Error("network pipe accepted")
	}
}

// The replica's commands are laid out as go-mysql's binlog syncer writes
// them (and as the servers read them), after 4 bytes for the packet
// header.
func TestReplicaCommands(t *testing.T) {
	d := dumpConfig{serverID: 0x80000001, user: "admin", port: 3306}
	want := []byte{0, 0, 0, 0, gomysql.COM_REGISTER_SLAVE, 0x01, 0, 0, 0x80,
		10, 's', 'w', 'i', 't', 'c', 'h', 'b', 'a', 'c', 'k',
		5, 'a', 'd', 'm', 'i', 'n',
		0,
		0xea, 0x0c,
		0, 0, 0, 0,
		0, 0, 0, 0}
	if got := d.registerReplica(); !bytes.Equal(got, want) {
		t.Errorf("COM_REGISTER_SLAVE:\n got %v\nwant %v", got, want)
	}
	want = []byte{0, 0, 0, 0, gomysql.COM_BINLOG_DUMP, 4, 0, 0, 0, 0x01, 0, 0x01, 0, 0, 0x80,
		'm', 'y', 's', 'q', 'l', '-', 'b', 'i', 'n', '.', '0', '0', '0', '0', '0', '2'}
	if got := d.binlogDump("mysql-bin.000002"); !bytes.Equal(got, want) {
		t.Errorf("COM_BINLOG_DUMP:\n got %v\nwant %v", got, want)
	}
}

// An event's header is read as go-mysql's replication package reads it,
// and an event that is not whole is refused.
func TestParseHeader(t *testing.T) {
	event := make([]byte, 30)
	binary.LittleEndian.PutUint32(event[0:], 1700000000)
	event[4] = formatDescriptionEvent
	binary.LittleEndian.PutUint32(event[5:], 7)
	binary.LittleEndian.PutUint32(event[9:], 30)
	binary.LittleEndian.PutUint32(event[13:], 126)
	binary.LittleEndian.PutUint16(event[17:], logEventArtificial)
	h, err := parseHeader(event)
	if err != nil {
		t.Fatal(err)
	}
	var ref binlog.EventHeader
	if err := ref.Decode(event); err != nil {
		t.Fatal(err)
	}
	if h.timestamp != ref.Timestamp || h.eventType != byte(ref.EventType) || h.serverID != ref.ServerID ||
		h.eventSize != ref.EventSize || h.logPos != ref.LogPos || h.flags != ref.Flags ||
		ref.EventType != binlog.FORMAT_DESCRIPTION_EVENT || ref.Flags&binlog.LOG_EVENT_ARTIFICIAL_F == 0 {
		t.Errorf("parseHeader = %+v; go-mysql reads %+v", h, ref)
	}
	if _, err := parseHeader(event[:18]); err == nil {
		t.Error("short header accepted")
	}
	if _, err := parseHeader(event[:29]); err == nil {
		t.Error("event shorter than its size accepted")
	}
	binary.LittleEndian.PutUint32(event[9:], 18)
	if _, err := parseHeader(event); err == nil {
		t.Error("event size under the header's accepted")
	}
	if binlog.BINLOG_DUMP_NON_BLOCK != binlogDumpNonBlock {
		t.Errorf("BINLOG_DUMP_NON_BLOCK = %d; go-mysql says %d", binlogDumpNonBlock, binlog.BINLOG_DUMP_NON_BLOCK)
	}
}

// A replica's UUID is a version 4 UUID, new each time.
func TestNewUUID(t *testing.T) {
	a, b := newUUID(), newUUID()
	if a == b || len(a) != 36 || a[14] != '4' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Errorf("newUUID: %s, %s", a, b)
	}
}
