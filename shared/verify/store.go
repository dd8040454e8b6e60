package verify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A run's progress lives on production, in switchback's schema, so that a
// killed run (or a Lambda invocation that ran out of time) continues where
// it stopped from any host, and so that the rollback dry run and preflight
// can show the latest result. The tables replicate to the rollback target
// like the rest of switchback's schema; verify never compares that schema.
var storeDDL = []string{
	"CREATE DATABASE IF NOT EXISTS switchback" + marker + " CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
	`CREATE TABLE IF NOT EXISTS switchback.verify_run` + marker + ` (
  id CHAR(32) NOT NULL PRIMARY KEY,
  rollback_target VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
  options VARCHAR(4096) COLLATE utf8mb4_bin NOT NULL,
  state VARCHAR(16) NOT NULL,
  started_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  report MEDIUMTEXT NULL,
  KEY by_target (rollback_target, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
	`CREATE TABLE IF NOT EXISTS switchback.verify_chunk` + marker + ` (
  run_id CHAR(32) NOT NULL,
  table_name VARCHAR(200) COLLATE utf8mb4_bin NOT NULL,
  seq INT NOT NULL,
  after_key TEXT NULL,
  through_key TEXT NULL,
  production_rows BIGINT NOT NULL,
  rollback_rows BIGINT NOT NULL,
  result VARCHAR(16) NOT NULL,
  detail MEDIUMTEXT NULL,
  PRIMARY KEY (run_id, table_name, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
	tokenDDL("verify_fence"),
	tokenDDL("verify_marker"),
}

// tokenDDL creates one of the tables whose row a sync point rewrites on
// production while the compared table is locked (see syncpoint.go): the
// fence, then the marker, at which the rollback target's replication
// stops behind a lock verify holds there.
func tokenDDL(table string) string {
	return `CREATE TABLE IF NOT EXISTS switchback.` + table + marker + ` (
  run_id CHAR(32) NOT NULL PRIMARY KEY,
  token CHAR(32) NOT NULL,
  written_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`
}

// Run states in switchback.verify_run: a run is running until it ends
// with its outcome, or is abandoned by --restart.
const (
	stateRunning   = "running"
	stateAbandoned = "abandoned"
)

// keepRuns is how many finished runs per rollback target are kept.
const keepRuns = 20

// runOptions are what make two runs the same run: a re-run with the same
// options continues an unfinished one.
type runOptions struct {
	Tables    []string `json:"tables"`
	ChunkRows int      `json:"chunk_rows"`
	Rows      bool     `json:"rows"`
	// Definitions fingerprints the compared tables' definitions on
	// production: after a change (a column added, another key) stored
	// chunk bounds no longer mean the same rows, so a new run starts.
	Definitions string `json:"definitions"`
}

func (o runOptions) key() string {
	b, _ := json.Marshal(o)
	return string(b)
}

// chunkRecord is one compared chunk, as stored.
type chunkRecord struct {
	Table          string
	Seq            int
	After, Through Bound
	ProductionRows int64
	RollbackRows   int64
	Result         string // resultEqual or resultDiffering
	Difference     *ChunkDifference
}

const (
	resultEqual     = "equal"
	resultDiffering = "differing"
)

type store struct{ db *sql.DB }

func (s store) ensure(ctx context.Context) error {
	for _, q := range storeDDL {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create switchback's verify tables on production: %w", err)
		}
	}
	return nil
}

// begin returns the unfinished run with the same options for target, or
// starts one (restart abandons an unfinished one first).
func (s store) begin(ctx context.Context, target string, opts runOptions, restart bool, now time.Time) (id string, resumed bool, started time.Time, err error) {
	if restart {
		if _, err := s.db.ExecContext(ctx, "UPDATE switchback.verify_run SET state = ?, updated_at = ? WHERE rollback_target = ? AND state = ?"+marker,
			stateAbandoned, now, target, stateRunning); err != nil {
			return "", false, time.Time{}, fmt.Errorf("abandon the unfinished verify run: %w", err)
		}
	}
	err = s.db.QueryRowContext(ctx, "SELECT id, started_at FROM switchback.verify_run WHERE rollback_target = ? AND options = ? AND state = ? ORDER BY started_at DESC LIMIT 1"+marker,
		target, opts.key(), stateRunning).Scan(&id, &started)
	switch {
	case err == nil:
		return id, true, started, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", false, time.Time{}, fmt.Errorf("look for an unfinished verify run: %w", err)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, time.Time{}, err
	}
	id = hex.EncodeToString(b[:])
	if _, err := s.db.ExecContext(ctx, "INSERT INTO switchback.verify_run (id, rollback_target, options, state, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"+marker,
		id, target, opts.key(), stateRunning, now, now); err != nil {
		return "", false, time.Time{}, fmt.Errorf("record the verify run: %w", err)
	}
	if err := s.prune(ctx, target); err != nil {
		return "", false, time.Time{}, err
	}
	return id, false, now, nil
}

// prune deletes all but the newest keepRuns runs of target, with their
// chunks.
func (s store) prune(ctx context.Context, target string) error {
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM switchback.verify_run WHERE rollback_target = ? ORDER BY started_at DESC LIMIT 1000 OFFSET ?"+marker, target, keepRuns)
	if err != nil {
		return fmt.Errorf("list old verify runs: %w", err)
	}
	var old []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		old = append(old, id)
	}
	rows.Close()
	for _, id := range old {
		for _, q := range []string{"DELETE FROM switchback.verify_chunk WHERE run_id = ?", "DELETE FROM switchback.verify_run WHERE id = ?"} {
			if _, err := s.db.ExecContext(ctx, q+marker, id); err != nil {
				return fmt.Errorf("delete old verify run %s: %w", id, err)
			}
		}
	}
	return nil
}

func (s store) chunks(ctx context.Context, runID string) ([]chunkRecord, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT table_name, seq, after_key, through_key, production_rows, rollback_rows, result, detail FROM switchback.verify_chunk WHERE run_id = ? ORDER BY table_name, seq"+marker, runID)
	if err != nil {
		return nil, fmt.Errorf("read the run's compared chunks: %w", err)
	}
	defer rows.Close()
	var out []chunkRecord
	for rows.Next() {
		var c chunkRecord
		var after, through, detail sql.NullString
		if err := rows.Scan(&c.Table, &c.Seq, &after, &through, &c.ProductionRows, &c.RollbackRows, &c.Result, &detail); err != nil {
			return nil, err
		}
		if c.After, err = decodeBound(after); err != nil {
			return nil, err
		}
		if c.Through, err = decodeBound(through); err != nil {
			return nil, err
		}
		if detail.Valid {
			c.Difference = &ChunkDifference{}
			if err := json.Unmarshal([]byte(detail.String), c.Difference); err != nil {
				return nil, fmt.Errorf("chunk %d of %s: %w", c.Seq, c.Table, err)
			}
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s store) saveChunk(ctx context.Context, runID string, c chunkRecord) error {
	var detail sql.NullString
	if c.Difference != nil {
		b, err := json.Marshal(c.Difference)
		if err != nil {
			return err
		}
		detail = sql.NullString{String: string(b), Valid: true}
	}
	if _, err := s.db.ExecContext(ctx, "REPLACE INTO switchback.verify_chunk (run_id, table_name, seq, after_key, through_key, production_rows, rollback_rows, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"+marker,
		runID, c.Table, c.Seq, encodeBound(c.After), encodeBound(c.Through), c.ProductionRows, c.RollbackRows, c.Result, detail); err != nil {
		return fmt.Errorf("record chunk %d of %s: %w", c.Seq, c.Table, err)
	}
	return nil
}

func (s store) finish(ctx context.Context, runID string, rep *Report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE switchback.verify_run SET state = ?, updated_at = ?, finished_at = ?, report = ? WHERE id = ?"+marker,
		rep.Outcome, rep.FinishedAt, rep.FinishedAt, string(b), runID); err != nil {
		return fmt.Errorf("record the verify result: %w", err)
	}
	return nil
}

func encodeBound(b Bound) sql.NullString {
	if b == nil {
		return sql.NullString{}
	}
	j, _ := json.Marshal([]string(b))
	return sql.NullString{String: string(j), Valid: true}
}

func decodeBound(s sql.NullString) (Bound, error) {
	if !s.Valid {
		return nil, nil
	}
	var b []string
	if err := json.Unmarshal([]byte(s.String), &b); err != nil {
		return nil, fmt.Errorf("stored chunk bound %q: %w", s.String, err)
	}
	return Bound(b), nil
}

// Latest returns the report of the newest finished verify run, read from
// production's switchback schema: against the rollback target at
// rollbackAddr, or against any target when rollbackAddr is "" (the CLI and
// the functions may name the same server by different host names; the
// report says which it was). It returns nil when there is none, or when
// switchback's verify tables do not exist there yet.
func Latest(ctx context.Context, production *sql.DB, rollbackAddr string) (*Report, error) {
	q := "SELECT report FROM switchback.verify_run WHERE finished_at IS NOT NULL AND report IS NOT NULL"
	var args []any
	if rollbackAddr != "" {
		q += " AND rollback_target = ?"
		args = append(args, rollbackAddr)
	}
	var report string
	err := production.QueryRowContext(ctx, q+" ORDER BY finished_at DESC LIMIT 1"+marker, args...).Scan(&report)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil && isNoSuchTable(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the latest verify result: %w", err)
	}
	rep := &Report{}
	if err := json.Unmarshal([]byte(report), rep); err != nil {
		return nil, fmt.Errorf("the latest verify result is not readable: %w", err)
	}
	return rep, nil
}
