package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// errBudget means Request.Budget is spent: the run stops, resumable.
var errBudget = errors.New(reasonBudget)

func (v *verifier) overBudget() bool {
	return v.req.Budget > 0 && time.Since(v.started) > v.req.Budget
}

// table compares one table, continuing after the chunks an earlier
// invocation of the run compared (done). A run-level problem (replication
// stopped, a server gone) leaves it StatusPending with the reason.
func (v *verifier) table(ctx context.Context, prodT, rbT *Table, done []chunkRecord) TableResult {
	switch {
	case rbT == nil:
		return TableResult{Table: prodT.FullName(), Status: StatusMissing}
	case prodT == nil:
		return TableResult{Table: rbT.FullName(), Status: StatusExtra}
	}
	res := TableResult{Table: prodT.FullName()}
	if diffs := definitionDifferences(*prodT, *rbT); len(diffs) > 0 {
		res.Status, res.Definition, res.Reason = StatusDefinition, diffs, "rows not compared: the definitions differ"
		return res
	}
	if why := unverifiableReason(*prodT); why != "" {
		res.Status, res.Reason = StatusUnverifiable, why
		return res
	}
	res.Key = prodT.Key
	var lower Bound
	finished, seq := false, 0
	for _, c := range done {
		res.add(c)
		v.chunksDone++
		v.rowsDone += c.ProductionRows
		lower, seq, finished = c.Through, c.Seq, c.Through == nil
	}
	pending := func(err error) TableResult {
		res.Status, res.Reason = StatusPending, err.Error()
		return res
	}
	for !finished {
		if err := v.waitLag(ctx, res.Table); err != nil {
			return pending(err)
		}
		sp, err := v.syncPoint(ctx, prodT)
		if errors.Is(err, errNotVerified) {
			res.Status, res.Reason = StatusNotVerified, err.Error()
			return res
		}
		if err != nil {
			return pending(err)
		}
		spanEnd := time.Now().Add(snapshotSpan)
		for !finished && time.Now().Before(spanEnd) && !v.overBudget() {
			rec, err := v.compareChunk(ctx, sp, *prodT, lower)
			if err == nil {
				seq++
				rec.Seq = seq
				err = v.writing(ctx, func() error { return v.store.saveChunk(ctx, v.runID, rec) })
			}
			if err != nil {
				sp.close()
				if errors.Is(err, errNotVerified) {
					res.Status, res.Reason = StatusNotVerified, err.Error()
					return res
				}
				return pending(err)
			}
			res.add(rec)
			v.chunksDone++
			v.rowsDone += rec.ProductionRows
			v.rowsThisRun += rec.ProductionRows
			v.progress(res.Table, "", false)
			lower, finished = rec.Through, rec.Through == nil
		}
		sp.close()
		if !finished && v.overBudget() {
			return pending(errBudget)
		}
	}
	res.Status = StatusEqual
	if len(res.Differences) > 0 {
		res.Status = StatusDiffering
	}
	return res
}

func (r *TableResult) add(c chunkRecord) {
	r.Chunks++
	r.Rows += c.ProductionRows
	r.RollbackRows += c.RollbackRows
	if c.Difference != nil {
		r.Differences = append(r.Differences, *c.Difference)
	}
}

// errNotVerified means a table's sync point failed syncAttempts times.
var errNotVerified = errors.New("no sync point")

// syncPoint takes a sync point for table, retrying with a growing pause
// when the lock could not be had within MaxLock or the target was slow.
func (v *verifier) syncPoint(ctx context.Context, t *Table) (*syncPoint, error) {
	table := t.FullName()
	var last error
	for attempt := 1; attempt <= syncAttempts; attempt++ {
		sp, err := v.takeSyncPoint(ctx, t)
		if err == nil {
			v.report.SyncPoints++
			return sp, nil
		}
		if !errors.Is(err, errLockTimeout) && !errors.Is(err, errSyncTimeout) {
			return nil, err
		}
		last = err
		v.progress(table, fmt.Sprintf("sync point attempt %d of %d failed: %v", attempt, syncAttempts, err), true)
		if err := sleep(ctx, min(100*time.Millisecond<<attempt, 2*time.Second)); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: %d sync points failed, the last: %v (a long transaction on the table, or a rollback target too far behind)", errNotVerified, syncAttempts, last)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitLag waits while the rollback target is more than MaxLag behind,
// reporting the pause.
func (v *verifier) waitLag(ctx context.Context, table string) error {
	rb := v.req.Rollback
	for {
		if v.overBudget() {
			return errBudget
		}
		rs, err := rb.ReplicaStatus(ctx)
		if err != nil {
			return err
		}
		if !rs.Configured || !rs.SQLThreadRunning {
			return fmt.Errorf("%w: %s: its replication applier (SQL thread) stopped (last error %d)", ErrRefused, rb, rs.LastSQLErrno)
		}
		var why string
		switch {
		case rs.SecondsBehind == nil:
			why = fmt.Sprintf("the rollback target's lag is unknown (IO thread %s)", rs.IORunning)
		case time.Duration(*rs.SecondsBehind)*time.Second > v.req.MaxLag:
			why = fmt.Sprintf("the rollback target is %ds behind (--max-lag %s)", *rs.SecondsBehind, v.req.MaxLag)
		default:
			return nil
		}
		v.progress(table, "paused: "+why, false)
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// checksum is a chunk's row count and folded hash on one server, and how
// many of its rows could not be hashed.
type checksum struct {
	rows     int64
	hash     string
	unhashed int64
}

// compareChunk compares the chunk after lower in sp's snapshots.
func (v *verifier) compareChunk(ctx context.Context, sp *syncPoint, t Table, lower Bound) (chunkRecord, error) {
	rec := chunkRecord{Table: t.FullName(), After: lower, Result: resultEqual}
	bq, err := boundaryQuery(t, lower, v.req.ChunkRows)
	if err != nil {
		return rec, err
	}
	vals := make([]sql.NullString, len(t.Key))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	switch err := sp.prod.QueryRowContext(ctx, bq.SQL, bq.Args...).Scan(ptrs...); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return rec, fmt.Errorf("%s: chunk boundary of %s: %w", v.req.Production, t.FullName(), err)
	default:
		rec.Through = make(Bound, len(vals))
		for i, s := range vals {
			rec.Through[i] = s.String
		}
	}
	p, r, err := v.checksums(ctx, sp, t, lower, rec.Through, byBytes)
	if err != nil {
		return rec, err
	}
	rec.ProductionRows, rec.RollbackRows = p.rows, r.rows
	// A bounded chunk holds exactly ChunkRows rows on production (its
	// bound is the ChunkRows-th key): anything else means the bound did
	// not round-trip, and going on could loop or skip rows.
	if rec.Through != nil && (p.rows != int64(v.req.ChunkRows) || slices.Equal(rec.Through, lower)) {
		return rec, fmt.Errorf("%s: the chunk after %v through %v holds %d rows on production, not %d: its key does not round-trip as a chunk bound", t.FullName(), lower, rec.Through, p.rows, v.req.ChunkRows)
	}
	if p.unhashed > 0 || r.unhashed > 0 {
		return rec, fmt.Errorf("%w: %s: %d rows on production and %d on the rollback target after %v could not be hashed (a value the server's MD5 or WEIGHT_STRING returns NULL for)", errNotVerified, t.FullName(), p.unhashed, r.unhashed, lower)
	}
	if p == r {
		return rec, nil
	}
	rec.Result = resultDiffering
	d := &ChunkDifference{After: lower, Through: rec.Through, ProductionRows: p.rows, RollbackRows: r.rows}
	pc, rc, err := v.checksums(ctx, sp, t, lower, rec.Through, byCollation)
	if err != nil {
		return rec, err
	}
	d.EqualUnderCollation = pc == rc && pc.unhashed == 0
	if v.req.Rows {
		if d.Rows, d.RowsTruncated, err = v.rowDifferences(ctx, sp, t, lower, rec.Through); err != nil {
			return rec, err
		}
	}
	rec.Difference = d
	return rec, nil
}

// both runs read on production's snapshot and on the target's at once.
func both[T any](sp *syncPoint, read func(c *sql.Conn) (T, error)) (prod, rb T, err error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := read(sp.rb)
		ch <- result{v, err}
	}()
	prod, perr := read(sp.prod)
	r := <-ch
	return prod, r.v, errors.Join(perr, r.err)
}

func (v *verifier) checksums(ctx context.Context, sp *syncPoint, t Table, lower, upper Bound, mode hashMode) (checksum, checksum, error) {
	q, err := checksumQuery(t, lower, upper, mode)
	if err != nil {
		return checksum{}, checksum{}, err
	}
	p, r, err := both(sp, func(c *sql.Conn) (checksum, error) {
		var cs checksum
		err := c.QueryRowContext(ctx, q.SQL, q.Args...).Scan(&cs.rows, &cs.hash, &cs.unhashed)
		return cs, err
	})
	if err != nil {
		return p, r, fmt.Errorf("checksum a chunk of %s: %w", t.FullName(), err)
	}
	return p, r, nil
}

// rowHash is one row's key and hashes (by bytes, by collation).
type rowHash struct {
	key         Bound
	bytes, coll string
}

// rowDifferences lists the differing rows' keys of a chunk: production's
// order first, then the rows only the target has.
func (v *verifier) rowDifferences(ctx context.Context, sp *syncPoint, t Table, lower, upper Bound) ([]RowDifference, bool, error) {
	q, err := rowHashesQuery(t, lower, upper)
	if err != nil {
		return nil, false, err
	}
	p, r, err := both(sp, func(c *sql.Conn) ([]rowHash, error) { return readRowHashes(ctx, c, q, len(t.Key)) })
	if err != nil {
		return nil, false, fmt.Errorf("list the rows of a differing chunk of %s: %w", t.FullName(), err)
	}
	out := diffRows(p, r)
	if len(out) > maxRowsPerChunk {
		return out[:maxRowsPerChunk], true, nil
	}
	return out, false, nil
}

func readRowHashes(ctx context.Context, c *sql.Conn, q query, keys int) ([]rowHash, error) {
	rows, err := c.QueryContext(ctx, q.SQL, q.Args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rowHash
	for rows.Next() {
		vals := make([]sql.NullString, keys+2)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		// A hash the server could not compute is "": never equal to
		// anything (see diffRows).
		h := rowHash{key: make(Bound, keys), bytes: vals[keys].String, coll: vals[keys+1].String}
		for i := range keys {
			h.key[i] = vals[i].String
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// diffRows compares two chunks' row hashes by key.
func diffRows(prod, rb []rowHash) []RowDifference {
	rbByKey := make(map[string]rowHash, len(rb))
	for _, h := range rb {
		rbByKey[strings.Join(h.key, "\x00")] = h
	}
	var out []RowDifference
	seen := make(map[string]bool, len(prod))
	for _, p := range prod {
		k := strings.Join(p.key, "\x00")
		seen[k] = true
		r, ok := rbByKey[k]
		switch {
		case !ok:
			out = append(out, RowDifference{Key: p.key, Difference: RowMissing})
		case r.bytes == p.bytes && p.bytes != "":
		case r.coll == p.coll && p.coll != "":
			out = append(out, RowDifference{Key: p.key, Difference: RowChangedCollation})
		default:
			out = append(out, RowDifference{Key: p.key, Difference: RowChanged})
		}
	}
	for _, r := range rb {
		if !seen[strings.Join(r.key, "\x00")] {
			out = append(out, RowDifference{Key: r.key, Difference: RowExtra})
		}
	}
	return out
}

// progress reports where the run is, at most every progressEvery unless
// force.
func (v *verifier) progress(table, paused string, force bool) {
	if v.req.OnProgress == nil || (!force && time.Since(v.lastProgress) < progressEvery) {
		return
	}
	v.lastProgress = time.Now()
	p := Progress{Table: table, TablesDone: v.tablesDone, Tables: v.tablesTotal, Chunks: v.chunksDone, Rows: v.rowsDone, Paused: paused}
	if secs := time.Since(v.started).Seconds(); secs > 0 {
		p.RowsPerSecond = float64(v.rowsThisRun) / secs
	}
	if p.RowsPerSecond > 0 && v.estimatedRows > v.rowsDone {
		p.ETA = time.Duration(float64(v.estimatedRows-v.rowsDone) / p.RowsPerSecond * float64(time.Second))
	}
	v.req.OnProgress(p)
}
