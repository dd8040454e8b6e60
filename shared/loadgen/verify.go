package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxListed is how many ids an error lists before "… and N more".
const maxListed = 10

// Verification is what Verify found on the server.
type Verification struct {
	Table string `json:"table"`
	// Rows is the number of rows in the table.
	Rows int `json:"rows"`
	// Acknowledged ids expected, and how many of them are present.
	Acknowledged int `json:"acknowledged"`
	Present      int `json:"present"`
	// Missing are acknowledged ids that are not in the table: lost writes.
	Missing []int64 `json:"missing"`
	// Rejected ids expected absent, and those found anyway.
	Rejected   int     `json:"rejected"`
	Unexpected []int64 `json:"unexpected"`
	// Failed writes (ambiguous outcome) and how many of them did land.
	Failed        int `json:"failed"`
	FailedPresent int `json:"failed_present"`
	// Other counts rows whose id the load never attempted.
	Other int `json:"other"`
}

// OK reports zero loss: nothing missing and nothing unexpected.
func (v Verification) OK() bool { return len(v.Missing) == 0 && len(v.Unexpected) == 0 }

// Verify checks zero loss for the load r on db: every acknowledged id must
// be in table and no rejected id may be. Ids of Failed writes may be either
// (their outcome was unknown); how many landed is reported. The error lists
// the first missing and unexpected ids.
func Verify(ctx context.Context, db *sql.DB, table string, r Result) (Verification, error) {
	q, err := quoteTable(table)
	if err != nil {
		return Verification{Table: table}, err
	}
	ids, err := readIDs(ctx, db, q)
	if err != nil {
		return Verification{Table: table}, fmt.Errorf("loadgen: verify %s: %w", table, err)
	}
	v := Compare(ids, r)
	v.Table = table
	return v, v.Err()
}

func readIDs(ctx context.Context, db *sql.DB, quoted string) (map[int64]struct{}, error) {
	rows, err := db.QueryContext(ctx, "SELECT id FROM "+quoted)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := make(map[int64]struct{})
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = struct{}{}
	}
	return ids, rows.Err()
}

// Compare checks the load r against the set of ids found in the table. It
// is Verify without the query.
func Compare(present map[int64]struct{}, r Result) Verification {
	v := Verification{
		Rows:         len(present),
		Acknowledged: len(r.Acknowledged),
		Rejected:     len(r.Rejected),
		Failed:       len(r.Failed),
		Missing:      []int64{},
		Unexpected:   []int64{},
	}
	known := 0
	for _, id := range r.Acknowledged {
		if _, ok := present[id]; ok {
			v.Present++
			known++
		} else {
			v.Missing = append(v.Missing, id)
		}
	}
	for _, id := range r.Rejected {
		if _, ok := present[id]; ok {
			v.Unexpected = append(v.Unexpected, id)
			known++
		}
	}
	for _, f := range r.Failed {
		if _, ok := present[f.ID]; ok && f.ID != 0 {
			v.FailedPresent++
			known++
		}
	}
	v.Other = len(present) - known
	slices.Sort(v.Missing)
	slices.Sort(v.Unexpected)
	return v
}

// Err is nil when v is OK, else an error naming the first missing and
// unexpected ids.
func (v Verification) Err() error {
	var errs []error
	if n := len(v.Missing); n > 0 {
		errs = append(errs, fmt.Errorf("%d of %d acknowledged writes are missing from %s: ids %s",
			n, v.Acknowledged, v.Table, listIDs(v.Missing)))
	}
	if n := len(v.Unexpected); n > 0 {
		errs = append(errs, fmt.Errorf("%d of %d writes rejected as read-only are present in %s: ids %s",
			n, v.Rejected, v.Table, listIDs(v.Unexpected)))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("loadgen: zero-loss check failed: %w", errors.Join(errs...))
}

func listIDs(ids []int64) string {
	n := min(len(ids), maxListed)
	s := make([]string, n)
	for i, id := range ids[:n] {
		s[i] = strconv.FormatInt(id, 10)
	}
	out := strings.Join(s, ", ")
	if len(ids) > n {
		out += fmt.Sprintf(" … and %d more", len(ids)-n)
	}
	return out
}

// TableChecksum is one table's CHECKSUM TABLE value and row count.
type TableChecksum struct {
	Table    string `json:"table"`
	Rows     int64  `json:"rows"`
	Checksum uint64 `json:"checksum"`
}

// Checksum returns CHECKSUM TABLE and COUNT(*) of each table on db, in the
// order given. A table that does not exist is an error.
func Checksum(ctx context.Context, db *sql.DB, tables []string) ([]TableChecksum, error) {
	out := make([]TableChecksum, 0, len(tables))
	for _, t := range tables {
		q, err := quoteTable(t)
		if err != nil {
			return nil, err
		}
		c := TableChecksum{Table: t}
		var name string
		var sum sql.NullString
		if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+q).Scan(&name, &sum); err != nil {
			return nil, fmt.Errorf("loadgen: CHECKSUM TABLE %s: %w", t, err)
		}
		if !sum.Valid {
			return nil, fmt.Errorf("loadgen: CHECKSUM TABLE %s: NULL (the table does not exist)", t)
		}
		if c.Checksum, err = strconv.ParseUint(sum.String, 10, 64); err != nil {
			return nil, fmt.Errorf("loadgen: CHECKSUM TABLE %s: %q is not a number", t, sum.String)
		}
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q).Scan(&c.Rows); err != nil {
			return nil, fmt.Errorf("loadgen: count %s: %w", t, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// CompareChecksums returns nil when a and b hold the same tables with the
// same row counts and checksums, else an error naming each table that
// differs and how.
func CompareChecksums(a, b []TableChecksum) error {
	bt := make(map[string]TableChecksum, len(b))
	for _, c := range b {
		bt[c.Table] = c
	}
	var diffs []string
	for _, ca := range a {
		cb, ok := bt[ca.Table]
		delete(bt, ca.Table)
		switch {
		case !ok:
			diffs = append(diffs, ca.Table+": only on the first server")
		case ca.Rows != cb.Rows:
			diffs = append(diffs, fmt.Sprintf("%s: %d rows vs %d rows (checksum %d vs %d)", ca.Table, ca.Rows, cb.Rows, ca.Checksum, cb.Checksum))
		case ca.Checksum != cb.Checksum:
			diffs = append(diffs, fmt.Sprintf("%s: same row count (%d) but checksum %d vs %d: row contents differ", ca.Table, ca.Rows, ca.Checksum, cb.Checksum))
		}
	}
	for _, c := range b {
		if _, ok := bt[c.Table]; ok {
			diffs = append(diffs, c.Table+": only on the second server")
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("loadgen: tables differ: %s", strings.Join(diffs, "; "))
}

// CompareTables checksums tables on a and b (see Checksum) and says which
// tables differ and how (CompareChecksums).
func CompareTables(ctx context.Context, a, b *sql.DB, tables []string) error {
	ca, err := Checksum(ctx, a, tables)
	if err != nil {
		return fmt.Errorf("first server: %w", err)
	}
	cb, err := Checksum(ctx, b, tables)
	if err != nil {
		return fmt.Errorf("second server: %w", err)
	}
	return CompareChecksums(ca, cb)
}
