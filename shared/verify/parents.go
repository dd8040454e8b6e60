package verify

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
)

// cascadesQuery lists the foreign keys whose parent writes its child
// through a cascade (CASCADE or SET NULL on delete or update).
const cascadesQuery = "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS" +
	" WHERE DELETE_RULE IN ('CASCADE', 'SET NULL') OR UPDATE_RULE IN ('CASCADE', 'SET NULL')" + marker

// cascadingParents maps each table (schema.table) to the tables whose
// foreign-key cascades write it, transitively, quoted for LOCK TABLES. A
// sync point locks them with the table:
// InnoDB applies a cascade to the child rows without a metadata lock on
// the child table (MySQL 5.7, MariaDB), so a lock on the table alone would
// not stop a parent's delete from changing it.
func cascadingParents(ctx context.Context, db *sql.DB) (map[string][]string, error) {
	rows, err := db.QueryContext(ctx, cascadesQuery)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	defer rows.Close()
	// Keyed and valued by quoted names, which a dot in a schema name
	// cannot confuse; names maps them back to schema.table.
	direct, names := map[string][]string{}, map[string]string{}
	for rows.Next() {
		var cs, ct, ps, pt string
		if err := rows.Scan(&cs, &ct, &ps, &pt); err != nil {
			return nil, fmt.Errorf("list foreign keys: %w", err)
		}
		child, parent := quoteIdent(cs)+"."+quoteIdent(ct), quoteIdent(ps)+"."+quoteIdent(pt)
		names[child] = cs + "." + ct
		if child != parent && !slices.Contains(direct[child], parent) {
			direct[child] = append(direct[child], parent)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	out := map[string][]string{}
	for child, parents := range closeParents(direct) {
		out[names[child]] = parents
	}
	return out, nil
}

// closeParents is the transitive closure of direct (child → parents),
// each list sorted, without the child itself.
func closeParents(direct map[string][]string) map[string][]string {
	out := map[string][]string{}
	for child := range direct {
		seen := map[string]bool{child: true}
		queue := append([]string(nil), direct[child]...)
		var all []string
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if seen[p] {
				continue
			}
			seen[p] = true
			all = append(all, p)
			queue = append(queue, direct[p]...)
		}
		sort.Strings(all)
		out[child] = all
	}
	return out
}
