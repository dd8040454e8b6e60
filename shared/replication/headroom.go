package replication

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrBinlogGone means a binary log file is no longer on the server: it was
// purged (or never existed), and a replica that still needs it cannot go on.
var ErrBinlogGone = errors.New("binary log file is not on the server")

// BinlogFileCreated returns when the server created its binary log file
// file: the timestamp, in the server's clock, of the file's first event.
// The error wraps ErrBinlogGone when the server no longer has the file, and
// ErrUnreachable when the server cannot be reached or refuses the login.
//
// SQL cannot read it; shared/binlogtime.FileCreated reads it over the
// replication protocol. MeasureHeadroom takes it as an argument so that
// the engine does not link a binlog protocol library into every program
// that uses it: only the programs that measure headroom do.
type BinlogFileCreated func(ctx context.Context, server *Server, file string) (time.Time, error)

// ReadRetention reads a server's binary log retention: 'binlog retention
// hours' (mysql.rds_show_configuration) on Aurora,
// binlog_expire_logs_seconds elsewhere.
func ReadRetention(ctx context.Context, s *Server) (Retention, error) {
	r, _, err := readRetention(ctx, s)
	return r, err
}

// Headroom is how long production keeps the oldest binary log file the
// rollback replica still needs before it may purge it.
type Headroom struct {
	// File is the oldest production binlog file the rollback replica still
	// needs: the older of the file its IO thread reads (Source_Log_File)
	// and the file its SQL thread applies (Relay_Source_Log_File), since a
	// replica that loses its relay logs (restart with relay log recovery)
	// fetches again from where it applied.
	File string `json:"file"`
	// Created is when production created File: the timestamp of the
	// file's first event, in production's clock.
	Created time.Time `json:"created,omitzero"`
	// Age is production's clock now minus Created.
	Age time.Duration `json:"-"`
	// AgeHours is Age in hours.
	AgeHours float64 `json:"age_hours"`
	// Active: File is production's current binlog file, still written to.
	// Its age counts from its first event all the same (conservative:
	// whether a purge counts from a file's first or last write, it cannot
	// come sooner); FLUSH BINARY LOGS on production starts a new file, and
	// once the replica has applied past the old one the clock starts over.
	Active bool `json:"active,omitempty"`
	// Retention is production's binlog retention.
	Retention string `json:"retention"`
	// Unlimited: production never purges binlogs by age (Hours is nil).
	Unlimited bool `json:"unlimited,omitempty"`
	// Gone: production no longer has File (Hours is 0): the rollback
	// replica cannot go on, it must be configured again.
	Gone bool `json:"gone,omitempty"`
	// Hours is the retention minus Age, negative when the file is overdue
	// for purging; nil when it cannot be known (Unknown says why) or is
	// unlimited.
	Hours *float64 `json:"hours,omitempty"`
	// Unknown says why Hours is not known; "" when it is, or unlimited.
	Unknown string `json:"unknown,omitempty"`
}

// MeasureHeadroom computes the binlog retention headroom of a pair: the
// retention production is set to, minus the age of the oldest binlog file
// the rollback replica still needs, where the age comes from production
// itself (the timestamp of the file's first event, read by created) and is
// measured with production's clock. The result is conservative: a
// server purges a file by age only after it stops writing to it, so the
// file lasts at least Hours more.
//
// What cannot be known is said in Unknown, never guessed: a replica that
// has no source file, a retention that is not set (Aurora's NULL purges
// lazily, at no stated time). The error is for servers that cannot be read,
// and for a nil created.
func MeasureHeadroom(ctx context.Context, prod, rollback *Server, created BinlogFileCreated) (Headroom, error) {
	var h Headroom
	if created == nil {
		return h, errors.New("no way to read when a binlog file was created (MeasureHeadroom needs a BinlogFileCreated, e.g. shared/binlogtime.FileCreated)")
	}
	rs, err := rollback.ReplicaStatus(ctx)
	if err != nil {
		return h, err
	}
	h.File = rs.SourceLogFile
	if rs.RelaySourceLogFile != "" && (h.File == "" || compareBinlogFiles(rs.RelaySourceLogFile, h.File) < 0) {
		h.File = rs.RelaySourceLogFile
	}
	retention, err := ReadRetention(ctx, prod)
	if err != nil {
		return h, err
	}
	h.Retention = retention.String()
	switch {
	case !rs.Configured:
		h.Unknown = "the rollback replica has no replication source, so no binlog file it needs"
		return h, nil
	case h.File == "":
		h.Unknown = "the rollback replica reports no source binlog file"
		return h, nil
	case retention.Unlimited:
		h.Unlimited = true
		return h, nil
	case retention.Hours == nil:
		h.Unknown = "binlog retention is not set on production (" + retention.String() + "): set 'binlog retention hours' (switchback configure does)"
		return h, nil
	}
	createdAt, err := created(ctx, prod, h.File)
	switch {
	case errors.Is(err, ErrBinlogGone):
		h.Gone = true
		zero := 0.0
		h.Hours = &zero
		return h, nil
	case err != nil:
		return h, err
	}
	if cur, err := prod.BinlogPosition(ctx); err == nil {
		h.Active = cur.File == h.File
	}
	var now int64
	if err := prod.db.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP()").Scan(&now); err != nil {
		return h, fmt.Errorf("%s: read the server's clock: %w", prod, err)
	}
	h.Created = createdAt.UTC()
	h.Age = time.Unix(now, 0).Sub(createdAt)
	h.AgeHours = math.Round(h.Age.Hours()*100) / 100
	hours := *retention.Hours - h.Age.Hours()
	h.Hours = &hours
	return h, nil
}
