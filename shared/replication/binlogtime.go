package replication

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	binlog "github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-sql-driver/mysql"
)

// ErrBinlogGone means a binary log file is no longer on the server: it was
// purged (or never existed), and a replica that still needs it cannot go on.
var ErrBinlogGone = errors.New("binary log file is not on the server")

// SQL has no way to read a binary log event's timestamp: SHOW BINLOG EVENTS
// and SHOW BINARY LOGS list names, sizes, positions and event types, never
// times, on MySQL, MariaDB and Aurora alike. A replica reads the timestamps
// over the replication protocol (every event header starts with one), so
// BinlogFileCreated does what a replica does, through go-mysql's binlog
// syncer: it asks for the file with COM_BINLOG_DUMP and reads the header of
// the file's first event.

const (
	// binlogReadTimeout bounds one BinlogFileCreated call when its context
	// allows longer.
	binlogReadTimeout = 30 * time.Second
	// maxEventsBeforeFormatDescription bounds the events read before the
	// file's Format_description event (the sender's fake Rotate event
	// comes first).
	maxEventsBeforeFormatDescription = 8
	// eeFileNotFound is the error EE_FILENOTFOUND of the servers' mysys
	// library, "File '%s' not found (Errcode: …)", which a MariaDB binlog
	// dump sends for a file it cannot open.
	eeFileNotFound = 29
)

// errFormatDescriptionRead stops the binlog stream once the event is read,
// errNoFormatDescription when it is not among the first events.
var (
	errFormatDescriptionRead = errors.New("format description event read")
	errNoFormatDescription   = errors.New("no format description event")
)

// BinlogFileCreated returns when the server created its binary log file
// file: the timestamp, in the server's clock, of the file's first event
// (its Format_description event), read over the replication protocol the
// way a replica reads it. It needs the REPLICATION SLAVE privilege (the
// Aurora master user has it). The error wraps ErrBinlogGone when the server
// no longer has the file, and ErrUnreachable when the server cannot be
// reached or refuses the login.
//
// It reads with go-mysql's binlog syncer on a connection of its own (the
// pool's address, login and TLS settings): it registers as a replica
// (host "switchback") and requests the file from its start without
// blocking, under a random server id in the upper half of the 32-bit range
// so that it cannot replace a real replica's dump thread, and as soon as
// the event is read it kills the dump (the syncer does so from a second,
// short connection) and closes the connection. The call takes about 30
// seconds at most, less when ctx says so; a cancelled ctx ends it at once.
func (s *Server) BinlogFileCreated(ctx context.Context, file string) (time.Time, error) {
	if s.cfg == nil {
		return time.Time{}, fmt.Errorf("%s: no connection settings to read binlog %s with", s, file)
	}
	if file == "" || strings.ContainsRune(file, 0) {
		return time.Time{}, fmt.Errorf("%s: invalid binlog file name %q", s, file)
	}
	cfg, err := s.binlogSyncerConfig()
	if err != nil {
		return time.Time{}, err
	}
	if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > binlogReadTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, binlogReadTimeout)
		defer cancel()
	}
	created, err := s.readFormatDescription(ctx, cfg, file)
	if err != nil && cfg.TLSConfig != nil && s.cfg.AllowFallbackToPlaintext && strings.Contains(err.Error(), "does not support TLS") {
		// tls=preferred: the pool fell back to a plain connection too.
		cfg.TLSConfig = nil
		created, err = s.readFormatDescription(ctx, cfg, file)
	}
	return created, err
}

// binlogSyncerConfig is the configuration of a binlog syncer that logs in
// as the pool does, under a random server id in the upper half of the
// 32-bit range, logs nothing and never reconnects.
func (s *Server) binlogSyncerConfig() (binlog.BinlogSyncerConfig, error) {
	var host string
	var port uint16
	switch s.cfg.Net {
	case "tcp", "tcp4", "tcp6":
		h, p, err := net.SplitHostPort(s.cfg.Addr)
		if err != nil {
			return binlog.BinlogSyncerConfig{}, fmt.Errorf("%s: address %q: %w", s, s.cfg.Addr, err)
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return binlog.BinlogSyncerConfig{}, fmt.Errorf("%s: address %q has no valid port", s, s.cfg.Addr)
		}
		host, port = h, uint16(n)
	case "unix":
		// go-mysql takes an address with a slash for a socket path.
		host = s.cfg.Addr
	default:
		return binlog.BinlogSyncerConfig{}, fmt.Errorf("%s: cannot read binlogs over network %q: want tcp or unix", s, s.cfg.Net)
	}
	id, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt32))
	if err != nil {
		return binlog.BinlogSyncerConfig{}, err
	}
	flavor := gomysql.MySQLFlavor
	if s.Dialect == MariaDB || strings.Contains(s.Info.Version, "MariaDB") {
		flavor = gomysql.MariaDBFlavor
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
	return binlog.BinlogSyncerConfig{
		ServerID:  uint32(1<<31) + uint32(id.Int64()),
		Flavor:    flavor,
		Host:      host,
		Port:      port,
		User:      s.cfg.User,
		Password:  s.cfg.Passwd,
		Localhost: "switchback",
		TLSConfig: tlsConfig,
		// Only the Format_description and Rotate events are decoded.
		RawModeEnabled:   true,
		DumpCommandFlag:  binlog.BINLOG_DUMP_NON_BLOCK,
		DisableRetrySync: true,
		EventCacheCount:  1,
		// The library logs at Info level on every step; errors are
		// returned, and the functions' stdout is for JSON logs only.
		Logger: slog.New(slog.DiscardHandler),
		Dialer: (&net.Dialer{Timeout: dialTimeout}).DialContext,
	}, nil
}

// readFormatDescription reads file's first Format_description event with
// a syncer of configuration cfg, bounded by ctx.
func (s *Server) readFormatDescription(ctx context.Context, cfg binlog.BinlogSyncerConfig, file string) (time.Time, error) {
	// The syncer dials under a context of its own and knows no deadline:
	// every connection it opens (the dump's, and the one that kills it on
	// Close) is dialled under ctx and carries ctx's deadline, and a
	// cancelled ctx ends its reads and writes at once.
	dial := cfg.Dialer
	cfg.Dialer = func(dialCtx context.Context, network, addr string) (net.Conn, error) {
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
	// The login succeeded once the syncer applies its options: an error
	// before that is the server's or the network's, one after it the dump's.
	loggedIn := false
	cfg.Option = func(*client.Conn) error { loggedIn = true; return nil }
	h := &formatDescriptionHandler{}
	cfg.SynchronousEventHandler = h

	syncer := binlog.NewBinlogSyncer(cfg)
	defer syncer.Close()
	stream, err := syncer.StartSync(gomysql.Position{Name: file, Pos: 4})
	if err != nil {
		if err := contextError(ctx); err != nil {
			return time.Time{}, fmt.Errorf("%s: read binlog %s: %w", s, file, err)
		}
		if !loggedIn {
			return time.Time{}, s.unreachable(driverError(err))
		}
		return time.Time{}, s.dumpError(file, err)
	}
	// The handler runs on the syncer's goroutine and ends the stream with
	// an error, errFormatDescriptionRead once it has the event.
	_, err = stream.GetEvent(ctx)
	switch {
	case errors.Is(err, errFormatDescriptionRead):
		return h.created, nil
	case contextError(ctx) != nil:
		return time.Time{}, fmt.Errorf("%s: read binlog %s: %w", s, file, contextError(ctx))
	case errors.Is(err, errNoFormatDescription):
		return time.Time{}, fmt.Errorf("%s: binlog %s: no Format_description event among the first %d events", s, file, maxEventsBeforeFormatDescription)
	}
	return time.Time{}, s.dumpError(file, err)
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

// formatDescriptionHandler takes the events of a binlog dump, on the
// syncer's goroutine, until the file's own Format_description event.
type formatDescriptionHandler struct {
	events  int
	created time.Time
}

func (h *formatDescriptionHandler) HandleEvent(e *binlog.BinlogEvent) error {
	hd := e.Header
	// The sender makes up events that are not in the file (a Rotate event
	// first, a Format_description event when a dump starts past it): they
	// carry LOG_EVENT_ARTIFICIAL_F or a zero timestamp.
	if hd.EventType == binlog.FORMAT_DESCRIPTION_EVENT && hd.Flags&binlog.LOG_EVENT_ARTIFICIAL_F == 0 && hd.Timestamp != 0 {
		h.created = time.Unix(int64(hd.Timestamp), 0)
		return errFormatDescriptionRead
	}
	h.events++
	if h.events >= maxEventsBeforeFormatDescription {
		return errNoFormatDescription
	}
	return nil
}

// dumpError turns an error of the binlog dump into one naming the server
// and the file; a file the server does not have wraps ErrBinlogGone.
func (s *Server) dumpError(file string, err error) error {
	var me *gomysql.MyError
	if !errors.As(err, &me) {
		return fmt.Errorf("%s: read binlog %s: %w", s, file, err)
	}
	if binlogGone(me) {
		return fmt.Errorf("%w: %s has no binlog %s (error %d: %s)", ErrBinlogGone, s, file, me.Code, me.Message)
	}
	if me.Code == gomysql.ER_SPECIFIC_ACCESS_DENIED_ERROR || me.Code == gomysql.ER_ACCESS_DENIED_ERROR {
		return fmt.Errorf("%s: reading binlog %s needs the REPLICATION SLAVE privilege for %q (error %d: %s)", s, file, s.User, me.Code, me.Message)
	}
	return fmt.Errorf("%s: read binlog %s: error %d: %s", s, file, me.Code, me.Message)
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
// Server.unreachable reads; other errors are returned as they are.
func driverError(err error) error {
	var me *gomysql.MyError
	if errors.As(err, &me) {
		return &mysql.MySQLError{Number: me.Code, Message: me.Message}
	}
	return err
}
