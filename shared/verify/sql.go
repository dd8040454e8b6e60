package verify

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// marker ends every statement verify sends, like the engine's, so DBAs can
// tell them apart in the process list and slow log.
const marker = " /* switchback verify */"

// Column is one column of a table, as information_schema describes it.
type Column struct {
	Name       string
	DataType   string // DATA_TYPE, lower case: int, varchar, blob, …
	ColumnType string // COLUMN_TYPE: int(11) unsigned, varchar(64), …
	Nullable   bool
	Charset    string // CHARACTER_SET_NAME, "" for non-string types
	Collation  string // COLLATION_NAME, "" for non-string types
}

// Table is a base table with its columns in ordinal order and its primary
// key's columns in key order (none when it has no primary key).
type Table struct {
	Schema, Name string
	// Type is information_schema's TABLE_TYPE: BASE TABLE, SYSTEM
	// VERSIONED (MariaDB), SEQUENCE (MariaDB), …
	Type   string
	Engine string
	// EstimatedRows is information_schema's estimate, for progress only.
	EstimatedRows int64
	Columns       []Column
	Key           []string
	// UniqueKeys names the table's other unique indexes and NonUniqueKeys
	// its non-unique ones: they only say why a table without a primary
	// key is not verifiable.
	UniqueKeys, NonUniqueKeys []string
}

// FullName is schema.table, as --tables takes it.
func (t Table) FullName() string { return t.Schema + "." + t.Name }

func (t Table) quoted() string { return quoteIdent(t.Schema) + "." + quoteIdent(t.Name) }

func (t Table) column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// keyKind is how a primary-key column's values are read back as text and
// bound again, so that a chunk boundary compares exactly as the index
// orders it.
type keyKind int

const (
	keyUnsupported keyKind = iota
	keyInteger             // bound as a Go integer: no float comparison
	keyDecimal             // bound as text through CAST(? AS DECIMAL(p,s)), the column's own
	keyTemporal            // bound as text: the server converts to the column's type
	keyString              // bound as text: the column's collation compares
	keyBinary              // read as HEX(col), bound as UNHEX(?)
)

func kindOf(c Column) keyKind {
	switch c.DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year":
		return keyInteger
	case "decimal", "numeric":
		return keyDecimal
	case "date", "datetime", "timestamp", "time":
		return keyTemporal
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return keyString
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return keyBinary
	}
	return keyUnsupported
}

// digested lists the types whose values enter a row's hash as MD5(col):
// their bytes, whatever the connection's character set, in 32 characters
// whatever their size (HEX or the value itself would make the row's text
// exceed max_allowed_packet for values of a few MB, and the server then
// silently turns it into NULL).
func digested(c Column) bool {
	switch c.DataType {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext",
		"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
		"enum", "set", "bit", "json", "geometry", "point", "linestring", "polygon",
		"multipoint", "multilinestring", "multipolygon", "geometrycollection", "geomcollection":
		return true
	}
	return false
}

// unverifiableReason says why t cannot be compared chunk by chunk, or ""
// when it can.
func unverifiableReason(t Table) string {
	if t.Type != "" && t.Type != "BASE TABLE" && t.Type != "SYSTEM VERSIONED" {
		return fmt.Sprintf("a %s is not a table whose rows can be compared", t.Type)
	}
	if !strings.EqualFold(t.Engine, "InnoDB") {
		return fmt.Sprintf("engine %s is not transactional: it has no consistent snapshot to compare at", orUnknown(t.Engine))
	}
	if len(t.Key) == 0 {
		switch {
		case len(t.UniqueKeys) > 0:
			return fmt.Sprintf("no primary key (unique key %s could be made the primary key)", strings.Join(t.UniqueKeys, ", "))
		case len(t.NonUniqueKeys) > 0:
			return fmt.Sprintf("no primary key, only non-unique keys (%s): rows cannot be told apart", strings.Join(t.NonUniqueKeys, ", "))
		}
		return "no primary key: rows cannot be told apart, so chunks cannot be bounded"
	}
	for _, k := range t.Key {
		c, ok := t.column(k)
		if !ok {
			return fmt.Sprintf("primary key column %s is not among its columns", k)
		}
		if kindOf(c) == keyUnsupported {
			return fmt.Sprintf("primary key column %s is %s, whose values do not round-trip exactly as chunk boundaries", k, c.ColumnType)
		}
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// hashMode selects how string values enter a row's hash.
type hashMode int

const (
	// byBytes hashes every value's exact bytes: 'abc' and 'ABC' differ.
	byBytes hashMode = iota
	// byCollation hashes strings by their collation weights
	// (WEIGHT_STRING), so values the column's collation calls equal
	// ('abc' and 'ABC' under a _ci collation) hash the same.
	byCollation
)

// columnExpr is how column c enters a row's hash.
func columnExpr(c Column, mode hashMode) string {
	q := quoteIdent(c.Name)
	switch {
	case mode == byCollation && c.Collation != "":
		return "MD5(WEIGHT_STRING(" + q + "))"
	case digested(c):
		return "MD5(" + q + ")"
	}
	return q
}

// rowExpr is one row's values as a single string: each column's value
// (strings and other long types as the MD5 of their bytes),
// '#'-separated, then a NULL bitmap so that NULL and ” differ and ('a',
// NULL) differs from (NULL, 'a').
func rowExpr(t Table, mode hashMode) string {
	parts := make([]string, 0, len(t.Columns)+1)
	nulls := make([]string, 0, len(t.Columns))
	for _, c := range t.Columns {
		parts = append(parts, columnExpr(c, mode))
		if c.Nullable {
			nulls = append(nulls, "ISNULL("+quoteIdent(c.Name)+")")
		}
	}
	if len(nulls) > 0 {
		parts = append(parts, "CONCAT("+strings.Join(nulls, ", ")+")")
	}
	return "CONCAT_WS('#', " + strings.Join(parts, ", ") + ")"
}

// unhashedExpr is true for a row some of whose non-NULL values the
// server could not digest (MD5 is NULL under FIPS mode; WEIGHT_STRING is
// NULL past max_allowed_packet): such a row cannot be compared, and a
// chunk holding one is never called equal.
func unhashedExpr(t Table, mode hashMode) string {
	var conds []string
	for _, c := range t.Columns {
		if e := columnExpr(c, mode); e != quoteIdent(c.Name) {
			conds = append(conds, "("+quoteIdent(c.Name)+" IS NOT NULL AND "+e+" IS NULL)")
		}
	}
	if len(conds) == 0 {
		return "0"
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

// Bound is a primary-key value: one string per key column (binary columns
// in hex). A nil Bound is open: no lower or no upper limit.
type Bound []string

// keySelect reads the key columns as text that binds back exactly.
func keySelect(t Table) string {
	out := make([]string, len(t.Key))
	for i, k := range t.Key {
		c, _ := t.column(k)
		q := quoteIdent(k)
		switch kindOf(c) {
		case keyBinary:
			out[i] = "HEX(" + q + ")"
		default:
			out[i] = "CAST(" + q + " AS CHAR)"
		}
	}
	return strings.Join(out, ", ")
}

// keyPlaceholder is the placeholder for a value of key column c, and the
// value to bind.
func keyPlaceholder(c Column, v string) (string, any, error) {
	switch kindOf(c) {
	case keyInteger:
		if strings.Contains(strings.ToLower(c.ColumnType), "unsigned") {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return "", nil, fmt.Errorf("key %s: %q is not an unsigned integer", c.Name, v)
			}
			return "?", n, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", nil, fmt.Errorf("key %s: %q is not an integer", c.Name, v)
		}
		return "?", n, nil
	case keyDecimal:
		// The column's own precision: DECIMAL(65,30) would clamp a key
		// with more than 35 integer digits (and MariaDB's scale above 30).
		return "CAST(? AS " + decimalType(c.ColumnType) + ")", v, nil
	case keyBinary:
		return "UNHEX(?)", v, nil
	}
	return "?", v, nil
}

// rangeCondition is the WHERE condition of the keys after lower (exclusive)
// and up to upper (inclusive); nil bounds are open. A composite key is
// expanded into ORs of equalities on its prefix, which every server's range
// optimizer reads as index ranges (row constructors are not, everywhere).
func rangeCondition(t Table, lower, upper Bound) (string, []any, error) {
	var conds []string
	var args []any
	for _, side := range []struct {
		b        Bound
		op, last string
	}{{lower, ">", ">"}, {upper, "<", "<="}} {
		if side.b == nil {
			continue
		}
		if len(side.b) != len(t.Key) {
			return "", nil, fmt.Errorf("bound %v has %d values; the key has %d columns", side.b, len(side.b), len(t.Key))
		}
		var ors []string
		for i := range t.Key {
			var ands []string
			for j := 0; j <= i; j++ {
				c, _ := t.column(t.Key[j])
				ph, v, err := keyPlaceholder(c, side.b[j])
				if err != nil {
					return "", nil, err
				}
				op := "="
				if j == i {
					op = side.op
					if i == len(t.Key)-1 {
						op = side.last
					}
				}
				ands = append(ands, quoteIdent(c.Name)+" "+op+" "+ph)
				args = append(args, v)
			}
			ors = append(ors, strings.Join(ands, " AND "))
		}
		if len(ors) == 1 {
			conds = append(conds, ors[0])
		} else {
			conds = append(conds, "("+strings.Join(parenthesize(ors), " OR ")+")")
		}
	}
	if len(conds) == 0 {
		return "1=1", nil, nil
	}
	return strings.Join(conds, " AND "), args, nil
}

func parenthesize(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "(" + s + ")"
	}
	return out
}

func orderByKey(t Table) string {
	q := make([]string, len(t.Key))
	for i, k := range t.Key {
		q[i] = quoteIdent(k)
	}
	return strings.Join(q, ", ")
}

// query is a statement with its arguments.
type query struct {
	SQL  string
	Args []any
}

// boundaryQuery finds the last key of the chunk that starts after lower
// and holds rows rows: no row means the chunk runs to the end of the table.
func boundaryQuery(t Table, lower Bound, rows int) (query, error) {
	cond, args, err := rangeCondition(t, lower, nil)
	if err != nil {
		return query{}, err
	}
	return query{
		SQL: "SELECT " + keySelect(t) + " FROM " + t.quoted() + " FORCE INDEX (`PRIMARY`) WHERE " + cond +
			" ORDER BY " + orderByKey(t) + " LIMIT 1 OFFSET " + strconv.Itoa(rows-1) + marker,
		Args: args,
	}, nil
}

// checksumQuery counts the chunk's rows and folds their MD5s into one
// 128-bit XOR, as hex (empty for no rows), and counts the rows it could
// not hash (see unhashedExpr). XOR is order-free, so both sides may read
// the chunk in any order; with a primary key no two rows are alike, so
// none cancel out.
func checksumQuery(t Table, lower, upper Bound, mode hashMode) (query, error) {
	cond, args, err := rangeCondition(t, lower, upper)
	if err != nil {
		return query{}, err
	}
	half := func(from int) string {
		return "LPAD(CONV(BIT_XOR(CAST(CONV(SUBSTRING(h, " + strconv.Itoa(from) + ", 16), 16, 10) AS UNSIGNED)), 10, 16), 16, '0')"
	}
	return query{
		SQL: "SELECT COUNT(*), IF(COUNT(*) = 0, '', LOWER(CONCAT(" + half(1) + ", " + half(17) + "))), COALESCE(SUM(h IS NULL OR unhashed), 0) FROM (SELECT MD5(" +
			rowExpr(t, mode) + ") AS h, " + unhashedExpr(t, mode) + " AS unhashed FROM " + t.quoted() + " FORCE INDEX (`PRIMARY`) WHERE " + cond + ") AS chunk" + marker,
		Args: args,
	}, nil
}

// rowHashesQuery lists the chunk's keys with each row's hash by bytes and
// by collation, in key order: what --rows compares.
func rowHashesQuery(t Table, lower, upper Bound) (query, error) {
	cond, args, err := rangeCondition(t, lower, upper)
	if err != nil {
		return query{}, err
	}
	return query{
		SQL: "SELECT " + keySelect(t) + ", IF(" + unhashedExpr(t, byBytes) + ", NULL, MD5(" + rowExpr(t, byBytes) + ")), IF(" +
			unhashedExpr(t, byCollation) + ", NULL, MD5(" + rowExpr(t, byCollation) + ")) FROM " +
			t.quoted() + " FORCE INDEX (`PRIMARY`) WHERE " + cond + " ORDER BY " + orderByKey(t) + marker,
		Args: args,
	}, nil
}

// systemSchemas are never compared: the servers' own, and switchback's.
var systemSchemas = []string{"information_schema", "mysql", "performance_schema", "sys", "switchback"}

func notSystemSchema(col string) string {
	q := make([]string, len(systemSchemas))
	for i, s := range systemSchemas {
		q[i] = "'" + s + "'"
	}
	return col + " NOT IN (" + strings.Join(q, ", ") + ")"
}

var (
	// Every table but views: MariaDB lists system-versioned tables and
	// sequences under their own TABLE_TYPE.
	tablesQuery = "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE, ''), COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES" +
		" WHERE TABLE_TYPE NOT IN ('VIEW', 'SYSTEM VIEW') AND " + notSystemSchema("TABLE_SCHEMA") + " ORDER BY TABLE_SCHEMA, TABLE_NAME" + marker
	columnsQuery = "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, IS_NULLABLE, COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, ''), COALESCE(EXTRA, '')" +
		" FROM information_schema.COLUMNS WHERE " + notSystemSchema("TABLE_SCHEMA") + " ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION" + marker
	indexesQuery = "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS" +
		" WHERE " + notSystemSchema("TABLE_SCHEMA") + " ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX" + marker
)

// reIntWidth is an integer type's display width, which MySQL 8.0.19+ no
// longer shows and which never changes what a column holds (unless
// ZEROFILL pads values with it).
var reIntWidth = regexp.MustCompile(`(?i)^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)`)

// normalType is a COLUMN_TYPE with what differs between versions without
// changing the data removed: integer display widths (kept with
// ZEROFILL), and the case of the type's name (not of ENUM or SET labels).
func normalType(columnType string) string {
	t := strings.TrimSpace(columnType)
	if !strings.Contains(strings.ToLower(t), "zerofill") {
		t = reIntWidth.ReplaceAllString(t, "$1")
	}
	name, rest, _ := strings.Cut(t, "(")
	if rest != "" {
		return strings.ToLower(name) + "(" + rest
	}
	return strings.ToLower(t)
}

// reDecimal is DECIMAL(p,s) in a COLUMN_TYPE.
var reDecimal = regexp.MustCompile(`(?i)^(?:decimal|numeric)\((\d+),(\d+)\)`)

// decimalType is the CAST target for a DECIMAL column's values: its own
// precision and scale.
func decimalType(columnType string) string {
	if m := reDecimal.FindStringSubmatch(strings.TrimSpace(columnType)); m != nil {
		return "DECIMAL(" + m[1] + "," + m[2] + ")"
	}
	return "DECIMAL(65,30)"
}

func normalCharset(s string) string {
	return strings.Replace(strings.ToLower(s), "utf8mb3", "utf8", 1)
}

// definitionDifferences lists how the rollback target's definition of a
// table differs from production's in what it holds: columns (names, order,
// types), nullability, character sets, collations, primary key.
func definitionDifferences(prod, rb Table) []string {
	var out []string
	rbCols := map[string]Column{}
	for _, c := range rb.Columns {
		rbCols[c.Name] = c
	}
	prodCols := map[string]bool{}
	for i, pc := range prod.Columns {
		prodCols[pc.Name] = true
		rc, ok := rbCols[pc.Name]
		if !ok {
			out = append(out, fmt.Sprintf("column %s is missing on the rollback target", pc.Name))
			continue
		}
		if i >= len(rb.Columns) || rb.Columns[i].Name != pc.Name {
			out = append(out, fmt.Sprintf("column %s is at another position on the rollback target", pc.Name))
		}
		if a, b := normalType(pc.ColumnType), normalType(rc.ColumnType); a != b {
			out = append(out, fmt.Sprintf("column %s is %s on production, %s on the rollback target", pc.Name, a, b))
		}
		if pc.Nullable != rc.Nullable {
			out = append(out, fmt.Sprintf("column %s is %s on production, %s on the rollback target", pc.Name, nullability(pc), nullability(rc)))
		}
		if a, b := normalCharset(pc.Collation), normalCharset(rc.Collation); a != b {
			out = append(out, fmt.Sprintf("column %s has collation %s on production, %s on the rollback target", pc.Name, orNone(pc.Collation), orNone(rc.Collation)))
		} else if a, b := normalCharset(pc.Charset), normalCharset(rc.Charset); a != b {
			out = append(out, fmt.Sprintf("column %s has character set %s on production, %s on the rollback target", pc.Name, orNone(pc.Charset), orNone(rc.Charset)))
		}
	}
	for _, rc := range rb.Columns {
		if !prodCols[rc.Name] {
			out = append(out, fmt.Sprintf("column %s exists only on the rollback target", rc.Name))
		}
	}
	if !strings.EqualFold(prod.Engine, rb.Engine) {
		out = append(out, fmt.Sprintf("engine is %s on production, %s on the rollback target", orNone(prod.Engine), orNone(rb.Engine)))
	}
	if a, b := strings.Join(prod.Key, ", "), strings.Join(rb.Key, ", "); a != b {
		out = append(out, fmt.Sprintf("primary key is (%s) on production, (%s) on the rollback target", a, b))
	}
	return out
}

func nullability(c Column) string {
	if c.Nullable {
		return "NULL"
	}
	return "NOT NULL"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
