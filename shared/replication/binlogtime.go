package replication

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/go-sql-driver/mysql"
)

// ErrBinlogGone means a binary log file is no longer on the server: it was
// purged (or never existed), and a replica that still needs it cannot go on.
var ErrBinlogGone = errors.New("binary log file is not on the server")

// SQL has no way to read a binary log event's timestamp: SHOW BINLOG EVENTS
// and SHOW BINARY LOGS list names, sizes, positions and event types, never
// times, on MySQL, MariaDB and Aurora alike. A replica reads the timestamps
// over the replication protocol (every event header starts with one), so
// BinlogFileCreated does what a replica does: it asks for the file with
// COM_BINLOG_DUMP and reads the header of the file's first event.

const (
	comBinlogDump        = 0x12
	binlogDumpNonBlock   = 0x01 // BINLOG_DUMP_NON_BLOCK: end with EOF, do not wait for new events
	formatDescriptionEvt = 15   // FORMAT_DESCRIPTION_EVENT: the first event of every binlog file
	binlogHeaderSize     = 4    // the magic number before the first event
	eventHeaderSize      = 19
	artificialEventFlag  = 0x20 // LOG_EVENT_ARTIFICIAL_F: made up by the sender, not in the file
	// maxDumpPackets bounds the events read before the file's
	// Format_description event (the sender's fake Rotate event comes
	// first; MariaDB may add a fake Gtid_list).
	maxDumpPackets = 8
)

// BinlogFileCreated returns when the server created its binary log file
// file: the timestamp, in the server's clock, of the file's first event
// (its Format_description event), read over the replication protocol the
// way a replica reads it. It needs the REPLICATION SLAVE privilege (the
// Aurora master user has it). The error wraps ErrBinlogGone when the server
// no longer has the file.
//
// It opens a connection of its own, announces the checksum the server
// logs with (as a replica does), requests the file from its start without
// blocking, under a random server id in the upper half of the 32-bit range
// so that it cannot replace a real replica's dump thread, and closes the
// connection as soon as the event is read.
func (s *Server) BinlogFileCreated(ctx context.Context, file string) (time.Time, error) {
	if s.cfg == nil {
		return time.Time{}, fmt.Errorf("%s: no connection settings to read binlog %s with", s, file)
	}
	if file == "" || strings.ContainsRune(file, 0) {
		return time.Time{}, fmt.Errorf("%s: invalid binlog file name %q", s, file)
	}
	cfg := s.cfg.Clone()
	// The packets are read here, off the driver: they must be plain.
	if err := cfg.Apply(mysql.EnableCompression(false)); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", s, err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", s, err)
	}
	conn, err := connector.Connect(ctx)
	if err != nil {
		return time.Time{}, s.unreachable(err)
	}
	defer conn.Close()
	exec, ok := conn.(driver.ExecerContext)
	if !ok {
		return time.Time{}, fmt.Errorf("%s: the MySQL driver's connection cannot execute statements", s)
	}
	// A source that logs checksums refuses a replica that does not say it
	// reads them (MySQL 8.0.26+ reads the new name, older servers and
	// MariaDB the old one; setting both is harmless).
	if _, err := exec.ExecContext(ctx, "SET @master_binlog_checksum = @@global.binlog_checksum, @source_binlog_checksum = @@global.binlog_checksum", nil); err != nil {
		return time.Time{}, fmt.Errorf("%s: announce binlog checksum: %w", s, err)
	}
	nc, err := driverNetConn(conn)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: read binlog %s: %w", s, file, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > 30*time.Second {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := nc.SetDeadline(deadline); err != nil {
		return time.Time{}, err
	}
	// A cancelled ctx ends the read at once.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	id, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt32))
	if err != nil {
		return time.Time{}, err
	}
	serverID := uint32(1<<31) + uint32(id.Int64())
	payload := make([]byte, 0, 11+len(file))
	payload = append(payload, comBinlogDump)
	payload = binary.LittleEndian.AppendUint32(payload, binlogHeaderSize)
	payload = binary.LittleEndian.AppendUint16(payload, binlogDumpNonBlock)
	payload = binary.LittleEndian.AppendUint32(payload, serverID)
	payload = append(payload, file...)
	if err := writePacket(nc, 0, payload); err != nil {
		return time.Time{}, fmt.Errorf("%s: request binlog %s: %w", s, file, err)
	}
	for range maxDumpPackets {
		p, err := readPacket(nc)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: read binlog %s: %w", s, file, err)
		}
		switch {
		case len(p) == 0:
			return time.Time{}, fmt.Errorf("%s: read binlog %s: empty packet", s, file)
		case p[0] == 0xFF:
			return time.Time{}, s.dumpError(file, p)
		case p[0] == 0xFE && len(p) < 9:
			return time.Time{}, fmt.Errorf("%s: binlog %s ended before its first event", s, file)
		case p[0] != 0x00 || len(p) < 1+eventHeaderSize:
			return time.Time{}, fmt.Errorf("%s: read binlog %s: unexpected packet 0x%02x of %d bytes", s, file, p[0], len(p))
		}
		ev := p[1:]
		ts := binary.LittleEndian.Uint32(ev[0:4])
		typ := ev[4]
		flags := binary.LittleEndian.Uint16(ev[17:19])
		if typ == formatDescriptionEvt && flags&artificialEventFlag == 0 && ts != 0 {
			return time.Unix(int64(ts), 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: binlog %s: no Format_description event among the first %d events", s, file, maxDumpPackets)
}

// dumpError turns the server's error packet into an error; "could not find
// the log file" wraps ErrBinlogGone.
func (s *Server) dumpError(file string, p []byte) error {
	errno, msg := uint16(0), ""
	if len(p) >= 3 {
		errno = binary.LittleEndian.Uint16(p[1:3])
		rest := p[3:]
		if len(rest) >= 6 && rest[0] == '#' {
			rest = rest[6:]
		}
		msg = string(rest)
	}
	if errno == 1236 && strings.Contains(strings.ToLower(msg), "could not find") {
		return fmt.Errorf("%w: %s has no binlog %s (error %d: %s)", ErrBinlogGone, s, file, errno, msg)
	}
	if errno == 1227 || errno == 1045 {
		return fmt.Errorf("%s: reading binlog %s needs the REPLICATION SLAVE privilege for %q (error %d: %s)", s, file, s.User, errno, msg)
	}
	return fmt.Errorf("%s: read binlog %s: error %d: %s", s, file, errno, msg)
}

// driverNetConn returns the network connection under a go-sql-driver
// connection (TLS included), after its handshake: the driver has no API to
// send a command of the replication protocol, so the command is written on
// the connection directly. The connection must be closed afterwards.
func driverNetConn(c driver.Conn) (net.Conn, error) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("unexpected MySQL driver connection type %T", c)
	}
	f := v.Elem().FieldByName("netConn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[net.Conn]() {
		return nil, fmt.Errorf("the MySQL driver's connection (%T) has no netConn field: the driver changed", c)
	}
	nc, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(net.Conn)
	if nc == nil {
		return nil, errors.New("the MySQL driver's connection is closed")
	}
	return nc, nil
}

// writePacket writes one MySQL protocol packet (payload under 16 MiB).
func writePacket(w io.Writer, seq byte, payload []byte) error {
	if len(payload) >= 1<<24-1 {
		return errors.New("packet too large")
	}
	buf := make([]byte, 4, 4+len(payload))
	buf[0], buf[1], buf[2], buf[3] = byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), seq
	_, err := w.Write(append(buf, payload...))
	return err
}

// readPacket reads one MySQL protocol packet, joining a payload split over
// several packets.
func readPacket(r io.Reader) ([]byte, error) {
	var out []byte
	for {
		var h [4]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, err
		}
		n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		if len(out)+n > 64<<20 {
			return nil, errors.New("binlog event larger than 64 MiB")
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, err
		}
		out = append(out, p...)
		if n < 1<<24-1 {
			return out, nil
		}
	}
}
