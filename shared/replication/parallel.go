package replication

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Parallel apply on the rollback target: several applier threads, always
// with commit order preserved, so that "executed exactly up to position P"
// stays true (the executed position never has gaps).
const (
	// DefaultParallelWorkers is the number of applier threads configure
	// sets on the rollback target when ConfigureRequest.ParallelWorkers is 0.
	DefaultParallelWorkers = 4
	// MaxParallelWorkers is the most ParallelApply accepts: MySQL's
	// replica_parallel_workers maximum (MariaDB allows more).
	MaxParallelWorkers = 1024
)

// ErrParameterGroup means a setting cannot be made with SQL on Aurora: it
// is a parameter of the DB cluster parameter group.
var ErrParameterGroup = errors.New("set in the DB cluster parameter group")

// oneThreadCost is what applying with one thread costs a rollback.
const oneThreadCost = "the rollback target applies with one thread: under heavy write load it falls behind and the cutover pays the lag while production is fenced"

// commitOrderCost is what applying out of commit order costs a rollback.
const commitOrderCost = "without commit order preserved the target's executed position can have gaps, so \"executed exactly up to position P\" does not hold"

// mysqlReplicaVariables is the release that renamed slave_parallel_* and
// slave_preserve_commit_order to replica_*.
var mysqlReplicaVariables = serverVersion{8, 0, 26}

// mysqlParallelDefaults is the release that made LOGICAL_CLOCK,
// 4 workers and commit order preserved the defaults (replica_parallel_type
// was deprecated in 8.0.29 and later removed, so it is not touched from
// here on).
var mysqlParallelDefaults = serverVersion{8, 0, 27}

// parallelVariables names the parallel-apply variables of d on info's
// version: workers, commit order and parallel type ("" when it is not set
// or read: MariaDB, and MySQL from 8.0.27). On MariaDB, order is
// slave_parallel_mode (commit order is always preserved there).
func (d Dialect) parallelVariables(info ServerInfo) (workers, order, typ string) {
	switch {
	case d == MariaDB:
		return "slave_parallel_threads", "slave_parallel_mode", ""
	case d == AuroraMySQL2:
		return "slave_parallel_workers", "slave_preserve_commit_order", "slave_parallel_type"
	case d == AuroraMySQL84:
		return "replica_parallel_workers", "replica_preserve_commit_order", ""
	case !info.versionAtLeast(mysqlReplicaVariables):
		return "slave_parallel_workers", "slave_preserve_commit_order", "slave_parallel_type"
	case !info.versionAtLeast(mysqlParallelDefaults):
		return "replica_parallel_workers", "replica_preserve_commit_order", "replica_parallel_type"
	default:
		return "replica_parallel_workers", "replica_preserve_commit_order", ""
	}
}

// ParallelApply returns the statements that make the server apply
// replicated transactions with workers threads, commit order preserved:
//
//   - MariaDB: SET GLOBAL slave_parallel_mode = 'optimistic', then
//     slave_parallel_threads = workers (MariaDB commits in order in every
//     parallel mode).
//   - MySQL 8.0.27 or later (or of unknown version): SET GLOBAL
//     replica_preserve_commit_order = ON, replica_parallel_workers = workers.
//   - MySQL 8.0.26: replica_parallel_type = 'LOGICAL_CLOCK' first;
//     8.0.23 to 8.0.25: the slave_* spellings of all three.
//   - Aurora: an error wrapping ErrParameterGroup. The variables are DB
//     cluster parameters there, set through the AWS API.
//
// The server refuses most of these while replication runs (MariaDB: while
// any slave connection runs): stop it first or set them before starting it.
// SET GLOBAL does not survive a restart. workers outside
// 1..MaxParallelWorkers, or a dialect that is not concrete, is an error
// wrapping ErrInvalidArgument.
func (d Dialect) ParallelApply(workers int, info ServerInfo) ([]Statement, error) {
	if !d.concrete() {
		return nil, fmt.Errorf("parallel apply: %w: dialect %q (want one of %s)", ErrInvalidArgument, string(d), strings.Join(dialectStrings(), ", "))
	}
	if workers < 1 || workers > MaxParallelWorkers {
		return nil, fmt.Errorf("parallel apply: %w: %d workers is out of range 1..%d", ErrInvalidArgument, workers, MaxParallelWorkers)
	}
	w, order, typ := d.parallelVariables(info)
	n := strconv.Itoa(workers)
	switch {
	case d.IsAurora():
		return nil, fmt.Errorf("parallel apply on %s: %w: %s, %s and %s (switchback does not change it)", d, ErrParameterGroup, w, order, orNone(typ, "binlog_transaction_dependency_tracking"))
	case d == MariaDB:
		return []Statement{plain("SET GLOBAL " + order + " = 'optimistic'"), plain("SET GLOBAL " + w + " = " + n)}, nil
	}
	var out []Statement
	if typ != "" {
		out = append(out, plain("SET GLOBAL "+typ+" = 'LOGICAL_CLOCK'"))
	}
	return append(out, plain("SET GLOBAL "+order+" = ON"), plain("SET GLOBAL "+w+" = "+n)), nil
}

// auroraParallelNames names the parameters that make an Aurora server
// apply in parallel with commit order preserved, with their values.
func auroraParallelNames(d Dialect, info ServerInfo) string {
	w, order, typ := d.parallelVariables(info)
	names := w + " ≥ 2, " + order + "=ON"
	if typ != "" {
		names += ", " + typ + "=LOGICAL_CLOCK"
	}
	return names
}

func orNone(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// ParallelApplyQuery returns the query for the server's parallel-apply
// settings: columns workers, then parallel_mode (MariaDB) or
// preserve_commit_order (the others), then parallel_type where the version
// has and needs it (Aurora v2, MySQL before 8.0.27). Parse its row with
// ParseParallelApply. It panics if d is not a concrete dialect.
func (d Dialect) ParallelApplyQuery(info ServerInfo) Statement {
	d.mustBeConcrete("ParallelApplyQuery")
	w, order, typ := d.parallelVariables(info)
	col := "preserve_commit_order"
	if d == MariaDB {
		col = "parallel_mode"
	}
	sql := "SELECT @@global." + w + " AS workers, @@global." + order + " AS " + col
	if typ != "" {
		sql += ", @@global." + typ + " AS parallel_type"
	}
	return plain(sql)
}

// ParallelSettings is a server's parallel-apply configuration.
type ParallelSettings struct {
	// Workers is the number of applier threads (0 or 1: one at a time).
	Workers int `json:"workers"`
	// Mode is MariaDB's slave_parallel_mode (optimistic, conservative,
	// aggressive, minimal, none); empty elsewhere.
	Mode string `json:"mode,omitempty"`
	// Type is MySQL's parallel type (LOGICAL_CLOCK, DATABASE) where it was
	// read; empty otherwise.
	Type string `json:"type,omitempty"`
	// PreserveCommitOrder is MySQL's replica_preserve_commit_order; nil on
	// MariaDB, which always commits in order.
	PreserveCommitOrder *bool `json:"preserve_commit_order,omitempty"`
}

// ParseParallelApply parses the row of ParallelApplyQuery.
func ParseParallelApply(d Dialect, cols []string, rows [][]string) (ParallelSettings, error) {
	var s ParallelSettings
	if len(rows) != 1 || len(rows[0]) != len(cols) {
		return s, fmt.Errorf("parallel apply settings: want one row of %d columns, got %d rows", len(cols), len(rows))
	}
	for i, c := range cols {
		v := strings.TrimSpace(rows[0][i])
		switch strings.ToLower(c) {
		case "workers":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return s, fmt.Errorf("parallel apply settings: workers %q is not a count", v)
			}
			s.Workers = n
		case "parallel_mode":
			s.Mode = strings.ToLower(v)
		case "parallel_type":
			s.Type = strings.ToUpper(v)
		case "preserve_commit_order":
			switch strings.ToUpper(v) {
			case "1", "ON":
				on := true
				s.PreserveCommitOrder = &on
			case "0", "OFF":
				off := false
				s.PreserveCommitOrder = &off
			default:
				return s, fmt.Errorf("parallel apply settings: preserve_commit_order %q is not a boolean", v)
			}
		}
	}
	if d != MariaDB && s.PreserveCommitOrder == nil {
		return s, errors.New("parallel apply settings: preserve_commit_order missing")
	}
	return s, nil
}

// String renders the settings with the dialect-neutral names.
func (s ParallelSettings) String() string {
	parts := []string{strconv.Itoa(s.Workers) + " workers"}
	if s.Mode != "" {
		parts = append(parts, "mode "+s.Mode)
	}
	if s.Type != "" {
		parts = append(parts, "type "+s.Type)
	}
	if s.PreserveCommitOrder != nil {
		parts = append(parts, "commit order preserved "+onOff(*s.PreserveCommitOrder))
	}
	return strings.Join(parts, ", ")
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// parallelApplyProblems lists what keeps s from applying in parallel with
// commit order preserved; none means it does.
func parallelApplyProblems(d Dialect, s ParallelSettings) []string {
	var out []string
	if s.Workers < 2 {
		out = append(out, fmt.Sprintf("parallel apply is off (%d workers)", s.Workers))
	}
	if d == MariaDB {
		switch s.Mode {
		case "none":
			out = append(out, "slave_parallel_mode is none: transactions are applied one at a time")
		case "minimal":
			out = append(out, "slave_parallel_mode is minimal: only commits overlap")
		}
		return out
	}
	if s.Workers >= 2 && s.Type != "" && s.Type != "LOGICAL_CLOCK" {
		out = append(out, "parallel type is "+s.Type+": only transactions on different databases apply in parallel")
	}
	if s.PreserveCommitOrder != nil && !*s.PreserveCommitOrder && s.Workers >= 2 {
		out = append(out, "commit order is not preserved")
	}
	return out
}

// ParallelOneThreadCost and ParallelCommitOrderCost are what applying
// with one thread, or out of commit order, costs a rollback: the wording
// configure, status and preflight use (also for Aurora's DB cluster
// parameter group, shared/awsrds and shared/orchestrate).
const (
	ParallelOneThreadCost   = oneThreadCost
	ParallelCommitOrderCost = commitOrderCost
)

// ParallelApplyProblems lists what keeps s (read from a server of dialect
// d) from applying in parallel with commit order preserved, and what that
// costs a rollback; no problems (and "") when it does.
func ParallelApplyProblems(d Dialect, s ParallelSettings) (problems []string, cost string) {
	problems = parallelApplyProblems(d, s)
	if len(problems) == 0 {
		return nil, ""
	}
	return problems, parallelApplyCost(problems)
}

// parallelApplyCost says what the problems cost a rollback.
func parallelApplyCost(problems []string) string {
	for _, p := range problems {
		if p == "commit order is not preserved" {
			return commitOrderCost
		}
	}
	return oneThreadCost
}

// matches reports whether s is exactly what ParallelApply(workers) sets.
func (s ParallelSettings) matches(d Dialect, workers int) bool {
	if s.Workers != workers {
		return false
	}
	if d == MariaDB {
		return s.Mode == "optimistic"
	}
	return (s.Type == "" || s.Type == "LOGICAL_CLOCK") && s.PreserveCommitOrder != nil && *s.PreserveCommitOrder
}

// ParallelApply reads the server's parallel-apply settings.
func (s *Server) ParallelApply(ctx context.Context) (ParallelSettings, error) {
	st := s.Dialect.ParallelApplyQuery(s.Info)
	cols, rows, err := s.queryRows(ctx, st)
	if err != nil {
		return ParallelSettings{}, err
	}
	vals := make([][]string, len(rows))
	for i, r := range rows {
		vals[i] = make([]string, len(r))
		for j, v := range r {
			vals[i][j] = v.String
		}
	}
	ps, err := ParseParallelApply(s.Dialect, cols, vals)
	if err != nil {
		return ps, fmt.Errorf("%s: %w", s, err)
	}
	return ps, nil
}

// parallelApplyWarning reads the rollback target's parallel-apply settings
// and returns a warning when it applies with one thread or out of commit
// order, or "" when it does neither.
func parallelApplyWarning(ctx context.Context, s *Server) string {
	ps, err := s.ParallelApply(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return "cannot read the rollback target's parallel apply settings (" + err.Error() + "): if it applies with one thread, " + oneThreadCost
	}
	problems := parallelApplyProblems(s.Dialect, ps)
	if len(problems) == 0 {
		return ""
	}
	w := "rollback target: " + strings.Join(problems, "; ") + " (" + ps.String() + "): " + parallelApplyCost(problems)
	if s.Dialect.IsAurora() {
		w += "; set " + auroraParallelNames(s.Dialect, s.Info) + " in its DB cluster parameter group (switchback configure does so on AWS), then restart replication"
	} else {
		w += "; switchback configure sets it on a fresh setup"
	}
	return w
}

// ensureParallel sets parallel apply with commit order preserved on the
// rollback target where it can do so safely: before replication starts.
// It never fails configure: what it cannot set it reports as skipped, with
// the reason and the cost.
func (c *configurer) ensureParallel(ctx context.Context) (StepOutcome, string, error) {
	tgt := c.req.Rollback
	d := tgt.Dialect
	workers := c.req.ParallelWorkers
	cur, rerr := tgt.ParallelApply(ctx)
	if rerr != nil && ctx.Err() != nil {
		return "", "", ctx.Err()
	}
	found := "settings unreadable"
	if rerr == nil {
		found = "found " + cur.String()
	}
	if workers < 0 {
		return StepSkipped, "parallel apply left as is by request (" + found + ")", nil
	}
	if d.IsAurora() {
		detail := "on Aurora parallel apply is set in the rollback target's DB cluster parameter group (" + auroraParallelNames(d, tgt.Info) + "), not with SQL: switchback configure on AWS sets it there before replication starts"
		if rerr == nil {
			if p := parallelApplyProblems(d, cur); len(p) > 0 {
				return StepSkipped, detail + "; " + found + ": " + strings.Join(p, "; ") + ": " + parallelApplyCost(p), nil
			}
			return StepSkipped, detail + "; " + found, nil
		}
		return StepSkipped, detail + "; " + found + " (" + rerr.Error() + "); if it applies with one thread, " + oneThreadCost, nil
	}
	if rerr != nil {
		return StepSkipped, "cannot read the rollback target's parallel apply settings (" + rerr.Error() + "); if it applies with one thread, " + oneThreadCost, nil
	}
	if cur.matches(d, workers) {
		return StepAlreadyDone, found, nil
	}
	rs, err := tgt.ReplicaStatus(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		return StepSkipped, found + "; cannot read replica status (" + err.Error() + "), left as is", nil
	}
	if rs.IOThreadRunning || rs.SQLThreadRunning {
		// Changing it would mean stopping a running replica: left to the
		// operator.
		if p := parallelApplyProblems(d, cur); len(p) > 0 {
			return StepSkipped, found + ": " + strings.Join(p, "; ") + "; left as is because replication already runs (changing it needs replication stopped): " + parallelApplyCost(p), nil
		}
		return StepAlreadyDone, found + "; left as is because replication already runs", nil
	}
	sts, err := d.ParallelApply(workers, tgt.Info)
	if err != nil {
		return StepSkipped, found + "; " + err.Error(), nil
	}
	for _, st := range sts {
		if err := tgt.exec(ctx, st); err != nil {
			if ctx.Err() != nil {
				return "", "", ctx.Err()
			}
			reason := err.Error()
			if n := mysqlErrno(err); n == 1227 || n == 1044 || n == 1045 || n == 1142 {
				reason = "missing privilege: " + reason
			}
			return StepSkipped, found + "; cannot set parallel apply (" + reason + "): " + oneThreadCost, nil
		}
	}
	after, err := tgt.ParallelApply(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		return StepDone, "set " + strconv.Itoa(workers) + " workers with commit order preserved (was " + cur.String() + "); re-reading failed: " + err.Error(), nil
	}
	if !after.matches(d, workers) {
		return StepSkipped, "set " + strconv.Itoa(workers) + " workers but the server reports " + after.String() + ": " + parallelApplyCost(parallelApplyProblems(d, after)), nil
	}
	return StepDone, "set " + after.String() + " (was " + cur.String() + "; SET GLOBAL, not kept across a restart)", nil
}
