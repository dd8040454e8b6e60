package verify

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// readTables reads every base table outside the system schemas (and
// switchback's), with columns and keys, keyed by schema.table.
func readTables(ctx context.Context, db *sql.DB) (map[string]*Table, error) {
	tables := map[string]*Table{}
	rows, err := db.QueryContext(ctx, tablesQuery)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for rows.Next() {
		t := &Table{}
		if err := rows.Scan(&t.Schema, &t.Name, &t.Type, &t.Engine, &t.EstimatedRows); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list tables: %w", err)
		}
		tables[t.FullName()] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}

	rows, err = db.QueryContext(ctx, columnsQuery)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	for rows.Next() {
		var schema, name, nullable, extra string
		var c Column
		if err := rows.Scan(&schema, &name, &c.Name, &c.DataType, &c.ColumnType, &nullable, &c.Charset, &c.Collation, &extra); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list columns: %w", err)
		}
		c.Nullable = nullable == "YES"
		// MariaDB's system-versioning period columns hold when each
		// server changed the row, not what it holds.
		if e := strings.ToUpper(extra); strings.Contains(e, "ROW START") || strings.Contains(e, "ROW END") {
			continue
		}
		if t := tables[schema+"."+name]; t != nil {
			t.Columns = append(t.Columns, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}

	rows, err = db.QueryContext(ctx, indexesQuery)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var schema, name, index string
		var column sql.NullString // NULL for a functional key part (MySQL 8)
		var nonUnique int
		if err := rows.Scan(&schema, &name, &index, &nonUnique, &column); err != nil {
			return nil, fmt.Errorf("list indexes: %w", err)
		}
		t := tables[schema+"."+name]
		switch {
		case t == nil:
		case index == "PRIMARY":
			t.Key = append(t.Key, column.String)
		case nonUnique == 0 && !slices.Contains(t.UniqueKeys, index):
			t.UniqueKeys = append(t.UniqueKeys, index)
		case nonUnique != 0 && !slices.Contains(t.NonUniqueKeys, index):
			t.NonUniqueKeys = append(t.NonUniqueKeys, index)
		}
	}
	return tables, rows.Err()
}

// selectTables returns the names to compare, sorted: every table on
// either side, or only those named (schema.table), each of which must
// exist on production or the rollback target.
func selectTables(prod, rb map[string]*Table, only []string) ([]string, error) {
	if len(only) == 0 {
		var names []string
		for n := range prod {
			names = append(names, n)
		}
		for n := range rb {
			if prod[n] == nil {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		return names, nil
	}
	var names []string
	for _, n := range only {
		if prod[n] == nil && rb[n] == nil {
			return nil, fmt.Errorf("%w: --tables names %s, which is not a table on production or the rollback target (system schemas and switchback's own are never compared)", ErrUsage, n)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// ParseTables splits a --tables value ("db.t1,db.t2") into names, refusing
// anything that is not schema.table.
func ParseTables(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		schema, table, ok := strings.Cut(part, ".")
		if !ok || schema == "" || table == "" || strings.Contains(table, ".") {
			return nil, fmt.Errorf("%w: --tables entry %q is not schema.table", ErrUsage, part)
		}
		if slices.Contains(systemSchemas, strings.ToLower(schema)) {
			return nil, fmt.Errorf("%w: --tables entry %q is in a system schema (or switchback's own), which verify never compares", ErrUsage, part)
		}
		out = append(out, part)
	}
	return out, nil
}
