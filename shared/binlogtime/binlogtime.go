// Package binlogtime reads when a MySQL-compatible server created one of
// its binary log files: FileCreated, the engine's
// replication.BinlogFileCreated, which the monitor hands to
// replication.MeasureHeadroom (through orchestrate.Orchestrator).
//
// SQL has no way to read a binary log event's timestamp: SHOW BINLOG EVENTS
// and SHOW BINARY LOGS list names, sizes, positions and event types, never
// times, on MySQL, MariaDB and Aurora alike. A replica reads the timestamps
// over the replication protocol (every event header starts with one), so
// FileCreated does what a replica does: it logs in with go-mysql's client,
// registers as a replica, asks for the file with COM_BINLOG_DUMP and reads
// the header of the file's first event — the steps of go-mysql's binlog
// syncer, without its package of event decoders (rows, JSON, decimals),
// which would add about 1 MB to the monitor for a 19-byte header.
//
// It is a package of its own, outside the engine, so that only the
// programs that measure binlog retention headroom link go-mysql.
package binlogtime

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/switchback/switchback/shared/replication"
)

const (
	// readTimeout bounds one FileCreated call when its context allows
	// longer.
	readTimeout = 30 * time.Second
	// maxEventsBeforeFormatDescription bounds the events read before the
	// file's Format_description event (the sender's fake Rotate event
	// comes first).
	maxEventsBeforeFormatDescription = 8
	// eeFileNotFound is the error EE_FILENOTFOUND of the servers' mysys
	// library, "File '%s' not found (Errcode: …)", which a MariaDB binlog
	// dump sends for a file it cannot open.
	eeFileNotFound = 29
	// connectTimeout bounds each login, as go-mysql's syncer bounds it.
	connectTimeout = 10 * time.Second
	// localHostname is the host name the replica registers with.
	localHostname = "switchback"
)

// The replication protocol's numbers (MySQL's and MariaDB's log_event.h,
// as go-mysql's replication package declares them).
const (
	// eventHeaderSize is the size of a binlog event's common header:
	// timestamp (4 bytes), type (1), server id (4), event size (4), next
	// position (4), flags (2), little-endian.
	eventHeaderSize = 19
	// formatDescriptionEvent is FORMAT_DESCRIPTION_EVENT's type code.
	formatDescriptionEvent = 15
	// logEventArtificial is LOG_EVENT_ARTIFICIAL_F: the sender made the
	// event up; it is not in the file.
	logEventArtificial = 0x0020
	// binlogDumpNonBlock is BINLOG_DUMP_NON_BLOCK: at the end of the
	// binlog the server sends EOF instead of waiting for more.
	binlogDumpNonBlock = 0x01
)

// errNoFormatDescription: the file's Format_description event is not among
// its first events.
var errNoFormatDescription = errors.New("no format description event")

var _ replication.BinlogFileCreated = FileCreated

// FileCreated returns when the server s created its binary log file file:
// the timestamp, in the server's clock, of the file's first event (its
// Format_description event), read over the replication protocol the way a
// replica reads it. It needs the REPLICATION SLAVE privilege (the Aurora
// master user has it). The error wraps replication.ErrBinlogGone when the
// server no longer has the file, and replication.ErrUnreachable when the
// server cannot be reached or refuses the login.
//
// It reads on a connection of its own, logged in with go-mysql's client
// (the pool's address, login and TLS settings, s.ConnConfig), as
// go-mysql's binlog syncer would: it registers as a replica (host
// "switchback") and requests the file from its start without blocking,
// under a random server id in the upper half of the 32-bit range so that
// it cannot replace a real replica's dump thread, and as soon as the event
// is read it kills the dump (from a second, short connection) and closes
// the connection. The call takes about 30
// seconds at most, less when ctx says so; a cancelled ctx ends it at once.
func FileCreated(ctx context.Context, s *replication.Server, file string) (time.Time, error) {
	return sourceOf(s).fileCreated(ctx, file)
}

// source is what FileCreated needs of a server: how to name it, its
// connection settings, its flavour, and how to report a failed login.
type source struct {
	// name is the server's String(): "production (host:port)".
	name string
	// user is the login user, named in privilege errors.
	user string
	// cfg is the pool's configuration (a copy); nil when the server has
	// none.
	cfg *mysql.Config
	// mariaDB: the server speaks MariaDB's replication protocol (the
	// replica declares its GTID capability); MySQL's otherwise.
	mariaDB bool
	// unreachable wraps an error reaching or logging in to the server in
	// replication.ErrUnreachable.
	unreachable func(error) error
}

// sourceOf is what FileCreated needs of s.
func sourceOf(s *replication.Server) source {
	return source{
		name:        s.String(),
		user:        s.User,
		cfg:         s.ConnConfig(),
		mariaDB:     isMariaDB(s),
		unreachable: s.Unreachable,
	}
}

// isMariaDB reports whether s speaks MariaDB's replication protocol.
func isMariaDB(s *replication.Server) bool {
	return s.Dialect == replication.MariaDB || strings.Contains(s.Info.Version, "MariaDB")
}

// fileCreated is FileCreated for s; tls=preferred falls back to a plain
// connection as the pool does.
func (s source) fileCreated(ctx context.Context, file string) (time.Time, error) {
	if s.cfg == nil {
		return time.Time{}, fmt.Errorf("%s: no connection settings to read binlog %s with", s.name, file)
	}
	if file == "" || strings.ContainsRune(file, 0) {
		return time.Time{}, fmt.Errorf("%s: invalid binlog file name %q", s.name, file)
	}
	cfg, err := s.dumpConfig()
	if err != nil {
		return time.Time{}, err
	}
	if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > readTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readTimeout)
		defer cancel()
	}
	created, err := s.readFormatDescription(ctx, cfg, file)
	if err != nil && cfg.tls != nil && s.cfg.AllowFallbackToPlaintext && strings.Contains(err.Error(), "does not support TLS") {
		// tls=preferred: the pool fell back to a plain connection too.
		cfg.tls = nil
		created, err = s.readFormatDescription(ctx, cfg, file)
	}
	return created, err
}

// dumpConfig is how a replica's connection logs in and registers.
type dumpConfig struct {
	// serverID is the replica's server id.
	serverID uint32
	// mariaDB tells the server that the replica understands MariaDB's
	// GTIDs (@mariadb_slave_capability), as go-mysql's MariaDB flavour does.
	mariaDB bool
	// addr is host:port, or a socket path (a name with a slash); port is
	// the port, 0 for a socket, which COM_REGISTER_SLAVE carries.
	addr string
	port uint16
	user string
	// password is the login's: never in an error.
	password string
	// tls is the pool's TLS configuration (a copy), nil for none.
	tls *tls.Config
	// dial opens a connection.
	dial client.Dialer
}

// dumpConfig is the configuration of a replica's connection that logs in
// as the pool does, under a random server id in the upper half of the
// 32-bit range.
func (s source) dumpConfig() (dumpConfig, error) {
	var addr string
	var port uint16
	switch s.cfg.Net {
	case "tcp", "tcp4", "tcp6":
		h, p, err := net.SplitHostPort(s.cfg.Addr)
		if err != nil {
			return dumpConfig{}, fmt.Errorf("%s: address %q: %w", s.name, s.cfg.Addr, err)
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return dumpConfig{}, fmt.Errorf("%s: address %q has no valid port", s.name, s.cfg.Addr)
		}
		addr, port = net.JoinHostPort(h, p), uint16(n)
	case "unix":
		// go-mysql takes an address with a slash for a socket path.
		addr = s.cfg.Addr
	default:
		return dumpConfig{}, fmt.Errorf("%s: cannot read binlogs over network %q: want tcp or unix", s.name, s.cfg.Net)
	}
	id, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt32))
	if err != nil {
		return dumpConfig{}, fmt.Errorf("%s: random server id: %w", s.name, err)
	}
	var tlsConfig *tls.Config
	if s.cfg.TLS != nil {
		// ParseDSN resolved tls=... (true, skip-verify, preferred or a
		// registered name) into TLS, ServerName included.
		tlsConfig = s.cfg.TLS.Clone()
	}
	dialTimeout := s.cfg.Timeout
	if dialTimeout <= 0 {
		dialTimeout = 10 * time.Second
	}
	return dumpConfig{
		serverID: uint32(1<<31) + uint32(id.Int64()),
		mariaDB:  s.mariaDB,
		addr:     addr,
		port:     port,
		user:     s.cfg.User,
		password: s.cfg.Passwd,
		tls:      tlsConfig,
		dial:     (&net.Dialer{Timeout: dialTimeout}).DialContext,
	}, nil
}

// connect logs in on a connection of its own, as go-mysql's binlog
// syncer does (TLS as configured, the connection attribute _client_role
// binary_log_listener), within connectTimeout.
func (d dumpConfig) connect(ctx context.Context) (*client.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return client.ConnectWithDialer(ctx, "", d.addr, d.user, d.password, "", d.dial, func(c *client.Conn) error {
		c.SetTLSConfig(d.tls)
		c.SetAttributes(map[string]string{"_client_role": "binary_log_listener"})
		return nil
	})
}

// readFormatDescription reads file's first Format_description event on a
// replica's connection of configuration cfg, bounded by ctx.
func (s source) readFormatDescription(ctx context.Context, cfg dumpConfig, file string) (time.Time, error) {
	// Every connection (the dump's, and the one that kills it) is dialled
	// under ctx and carries ctx's deadline, and a cancelled ctx ends its
	// reads and writes at once.
	dial := cfg.dial
	cfg.dial = func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(dialCtx, cancel)()
		c, err := dial(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		deadline, _ := ctx.Deadline()
		if err := c.SetDeadline(deadline); err != nil {
			c.Close()
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
		return c, nil
	}
	// An error before the login is the server's or the network's, one
	// after it the dump's.
	conn, err := cfg.connect(ctx)
	if err != nil {
		if err := contextError(ctx); err != nil {
			return time.Time{}, fmt.Errorf("%s: read binlog %s: %w", s.name, file, err)
		}
		return time.Time{}, s.unreachable(driverError(err))
	}
	defer cfg.kill(ctx, conn)
	created, err := cfg.dump(conn, file)
	switch {
	case err == nil:
		return created, nil
	case contextError(ctx) != nil:
		return time.Time{}, fmt.Errorf("%s: read binlog %s: %w", s.name, file, contextError(ctx))
	case errors.Is(err, errNoFormatDescription):
		return time.Time{}, fmt.Errorf("%s: binlog %s: no Format_description event among the first %d events", s.name, file, maxEventsBeforeFormatDescription)
	}
	return time.Time{}, s.dumpError(file, err)
}

// kill ends the dump as go-mysql's syncer does: KILL from a second
// connection (a KILL on the dump's own connection does not end the dump
// thread), then the dump's connection is closed.
func (d dumpConfig) kill(ctx context.Context, conn *client.Conn) {
	if id := conn.GetConnectionID(); id > 0 {
		if k, err := d.connect(ctx); err == nil {
			_, _ = k.Execute(fmt.Sprintf("KILL %d", id))
			k.Close()
		}
	}
	conn.Close()
}

// dump registers conn as a replica, asks for file from its start without
// blocking, and reads events until the file's own Format_description
// event: the steps of go-mysql's binlog syncer (BinlogSyncer.StartSync
// without semi-sync, heartbeat or retries).
func (d dumpConfig) dump(conn *client.Conn, file string) (time.Time, error) {
	// Checksum-aware, as mysqlbinlog is: the server need not checksum the
	// first fake Rotate event.
	r, err := conn.Execute("SHOW GLOBAL VARIABLES LIKE 'BINLOG_CHECKSUM'")
	if err != nil {
		return time.Time{}, err
	}
	if v, _ := r.GetString(0, 1); v != "" {
		if _, err := conn.Execute(`SET @master_binlog_checksum='NONE', @source_binlog_checksum='NONE'`); err != nil {
			return time.Time{}, err
		}
	}
	if d.mariaDB {
		// MARIA_SLAVE_CAPABILITY_GTID: the replica understands GTIDs.
		if _, err := conn.Execute("SET @mariadb_slave_capability=4"); err != nil {
			return time.Time{}, fmt.Errorf("failed to set @mariadb_slave_capability=4: %w", err)
		}
	}
	uuid := newUUID()
	if _, err := conn.Execute(fmt.Sprintf("SET @slave_uuid = '%s', @replica_uuid = '%s'", uuid, uuid)); err != nil {
		return time.Time{}, err
	}
	conn.ResetSequence()
	if err := conn.WritePacket(d.registerReplica()); err != nil {
		return time.Time{}, err
	}
	if _, err := conn.ReadOKPacket(); err != nil {
		return time.Time{}, err
	}
	conn.ResetSequence()
	if err := conn.WritePacket(d.binlogDump(file)); err != nil {
		return time.Time{}, err
	}
	for events := 0; ; {
		data, err := conn.ReadPacket()
		if err != nil {
			return time.Time{}, err
		}
		switch data[0] {
		case gomysql.OK_HEADER:
			h, err := parseHeader(data[1:])
			if err != nil {
				return time.Time{}, err
			}
			// The sender makes up events that are not in the file (a
			// Rotate event first, a Format_description event when a dump
			// starts past it): they carry LOG_EVENT_ARTIFICIAL_F or a zero
			// timestamp.
			if h.eventType == formatDescriptionEvent && h.flags&logEventArtificial == 0 && h.timestamp != 0 {
				return time.Unix(int64(h.timestamp), 0), nil
			}
			if events++; events >= maxEventsBeforeFormatDescription {
				return time.Time{}, errNoFormatDescription
			}
		case gomysql.ERR_HEADER:
			return time.Time{}, conn.HandleErrorPacket(data)
		case gomysql.EOF_HEADER:
			// BINLOG_DUMP_NON_BLOCK: the end of the binlog, and no
			// Format_description event in the file.
			return time.Time{}, errNoFormatDescription
		}
	}
}

// registerReplica is the COM_REGISTER_SLAVE packet (with room for the
// packet header): server id, host name, user, an empty password, port,
// rank and source id 0.
func (d dumpConfig) registerReplica() []byte {
	data := make([]byte, 4, 4+1+4+1+len(localHostname)+1+len(d.user)+1+2+4+4)
	data = append(data, gomysql.COM_REGISTER_SLAVE)
	data = binary.LittleEndian.AppendUint32(data, d.serverID)
	data = append(data, byte(len(localHostname)))
	data = append(data, localHostname...)
	user := d.user
	if len(user) > 255 {
		user = user[:255]
	}
	data = append(data, byte(len(user)))
	data = append(data, user...)
	data = append(data, 0) // no password
	data = binary.LittleEndian.AppendUint16(data, d.port)
	data = binary.LittleEndian.AppendUint32(data, 0) // replication rank, unused
	data = binary.LittleEndian.AppendUint32(data, 0) // source id: 0 is fine
	return data
}

// binlogDump is the COM_BINLOG_DUMP packet (with room for the packet
// header) that asks for file from its first event (position 4) with
// BINLOG_DUMP_NON_BLOCK.
func (d dumpConfig) binlogDump(file string) []byte {
	data := make([]byte, 4, 4+1+4+2+4+len(file))
	data = append(data, gomysql.COM_BINLOG_DUMP)
	data = binary.LittleEndian.AppendUint32(data, 4)
	data = binary.LittleEndian.AppendUint16(data, binlogDumpNonBlock)
	data = binary.LittleEndian.AppendUint32(data, d.serverID)
	return append(data, file...)
}

// eventHeader is the common header of a binlog event.
type eventHeader struct {
	timestamp uint32
	eventType byte
	serverID  uint32
	eventSize uint32
	logPos    uint32
	flags     uint16
}

// parseHeader reads an event's header; the event must be whole (its size
// that of data).
func parseHeader(data []byte) (eventHeader, error) {
	if len(data) < eventHeaderSize {
		return eventHeader{}, fmt.Errorf("binlog event header size too short %d, must 19", len(data))
	}
	h := eventHeader{
		timestamp: binary.LittleEndian.Uint32(data[0:]),
		eventType: data[4],
		serverID:  binary.LittleEndian.Uint32(data[5:]),
		eventSize: binary.LittleEndian.Uint32(data[9:]),
		logPos:    binary.LittleEndian.Uint32(data[13:]),
		flags:     binary.LittleEndian.Uint16(data[17:]),
	}
	if h.eventSize < eventHeaderSize {
		return eventHeader{}, fmt.Errorf("invalid binlog event size %d, must >= 19", h.eventSize)
	}
	if int(h.eventSize) != len(data) {
		return eventHeader{}, fmt.Errorf("invalid binlog event data size %d, event type %d of size %d", len(data), h.eventType, h.eventSize)
	}
	return h, nil
}

// newUUID is a random (version 4) UUID: the replica's @slave_uuid.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// contextError is ctx.Err(), or context.DeadlineExceeded once ctx's
// deadline has passed: a connection's deadline, ctx's, can end a read a
// moment before ctx's own timer fires.
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// dumpError turns an error of the binlog dump into one naming the server
// and the file; a file the server does not have wraps
// replication.ErrBinlogGone.
func (s source) dumpError(file string, err error) error {
	var me *gomysql.MyError
	if !errors.As(err, &me) {
		return fmt.Errorf("%s: read binlog %s: %w", s.name, file, err)
	}
	if binlogGone(me) {
		return fmt.Errorf("%w: %s has no binlog %s (error %d: %s)", replication.ErrBinlogGone, s.name, file, me.Code, me.Message)
	}
	if me.Code == gomysql.ER_SPECIFIC_ACCESS_DENIED_ERROR || me.Code == gomysql.ER_ACCESS_DENIED_ERROR {
		return fmt.Errorf("%s: reading binlog %s needs the REPLICATION SLAVE privilege for %q (error %d: %s)", s.name, file, s.user, me.Code, me.Message)
	}
	return fmt.Errorf("%s: read binlog %s: error %d: %s", s.name, file, me.Code, me.Message)
}

// binlogGone reports whether the error a server sent for a binlog dump
// says it does not have the file: MySQL's and MariaDB's error 1236 "Could
// not find first log file name in binary log index file" for a file not in
// the index, MariaDB's error 29 "File '…' not found (Errcode: 2 …)" for
// one still in the index but no longer on disk.
func binlogGone(me *gomysql.MyError) bool {
	msg := strings.ToLower(me.Message)
	switch me.Code {
	case gomysql.ER_MASTER_FATAL_ERROR_READING_BINLOG:
		return strings.Contains(msg, "could not find")
	case eeFileNotFound:
		// Only ENOENT: a file the server cannot open for another reason
		// (permissions, too many open files) is still there.
		return strings.Contains(msg, "errcode: 2 ") || strings.Contains(msg, "errno 2 ")
	}
	return false
}

// driverError gives a go-mysql server error go-sql-driver's type, which
// replication.Server.Unreachable reads; other errors are returned as they
// are.
func driverError(err error) error {
	var me *gomysql.MyError
	if errors.As(err, &me) {
		return &mysql.MySQLError{Number: me.Code, Message: me.Message}
	}
	return err
}
