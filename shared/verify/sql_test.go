package verify

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// The statements verify sends are the same on every dialect (they use
// only what MySQL 5.7, 8.0, 8.4 and MariaDB share); the per-dialect ones
// (binlog status, replica status, position wait) come from the
// replication engine and are golden-tested there.
var (
	simpleTable = Table{Schema: "shop", Name: "orders", Engine: "InnoDB", Key: []string{"id"}, Columns: []Column{
		{Name: "id", DataType: "bigint", ColumnType: "bigint(20) unsigned"},
		{Name: "email", DataType: "varchar", ColumnType: "varchar(255)", Charset: "utf8mb4", Collation: "utf8mb4_general_ci"},
		{Name: "total", DataType: "decimal", ColumnType: "decimal(10,2)", Nullable: true},
		{Name: "photo", DataType: "blob", ColumnType: "blob", Nullable: true},
	}}
	compositeTable = Table{Schema: "shop", Name: "lines", Engine: "InnoDB", Key: []string{"order_id", "sku", "at"}, Columns: []Column{
		{Name: "order_id", DataType: "int", ColumnType: "int(11)"},
		{Name: "sku", DataType: "varbinary", ColumnType: "varbinary(16)"},
		{Name: "at", DataType: "datetime", ColumnType: "datetime(6)"},
		{Name: "qty", DataType: "decimal", ColumnType: "decimal(12,3)"},
	}}
)

// TestStatementsGolden renders every statement builder for a simple and a
// composite key; -update rewrites testdata/statements.golden.
func TestStatementsGolden(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("# regenerate with: go test ./shared/verify -run Golden -update\n")
	add := func(name string, q query, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fmt.Fprintf(&buf, "\n## %s\n%s\n", name, q.SQL)
		if len(q.Args) > 0 {
			fmt.Fprintf(&buf, "args: %#v\n", q.Args)
		}
	}
	for _, tc := range []struct {
		t              Table
		lower, through Bound
	}{
		{simpleTable, Bound{"1000"}, Bound{"2000"}},
		{compositeTable, Bound{"7", "00ff", "2026-01-02 03:04:05.000000"}, Bound{"9", "a0", "2026-01-03 00:00:00.000000"}},
	} {
		q, err := boundaryQuery(tc.t, nil, 1000)
		add(tc.t.FullName()+" first boundary", q, err)
		q, err = boundaryQuery(tc.t, tc.lower, 1000)
		add(tc.t.FullName()+" next boundary", q, err)
		q, err = checksumQuery(tc.t, tc.lower, tc.through, byBytes)
		add(tc.t.FullName()+" checksum by bytes", q, err)
		q, err = checksumQuery(tc.t, tc.lower, nil, byCollation)
		add(tc.t.FullName()+" last chunk checksum by collation", q, err)
		q, err = rowHashesQuery(tc.t, nil, tc.through)
		add(tc.t.FullName()+" first chunk row hashes", q, err)
	}
	fmt.Fprintf(&buf, "\n## lock for a sync point\n%s\n", lockStatement(compositeTable.quoted(), []string{simpleTable.quoted()}))
	for _, q := range []string{tablesQuery, columnsQuery, indexesQuery, cascadesQuery} {
		fmt.Fprintf(&buf, "\n## information_schema\n%s\n", q)
	}
	path := filepath.Join("testdata", "statements.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("%s differs from the generated statements (run with -update if the change is intended):\n%s", path, buf.String())
	}
}

func TestRangeCondition(t *testing.T) {
	for _, tc := range []struct {
		name           string
		t              Table
		lower, through Bound
		want           string
		args           []any
		err            string
	}{
		{name: "whole table", t: simpleTable, want: "1=1"},
		{name: "unsigned integer bound as a number", t: simpleTable, lower: Bound{"18446744073709551615"},
			want: "`id` > ?", args: []any{uint64(18446744073709551615)}},
		{name: "closed range", t: simpleTable, lower: Bound{"1"}, through: Bound{"2"},
			want: "`id` > ? AND `id` <= ?", args: []any{uint64(1), uint64(2)}},
		{name: "composite lower", t: compositeTable, lower: Bound{"7", "ab", "2026-01-01"},
			want: "((`order_id` > ?) OR (`order_id` = ? AND `sku` > UNHEX(?)) OR (`order_id` = ? AND `sku` = UNHEX(?) AND `at` > ?))",
			args: []any{int64(7), int64(7), "ab", int64(7), "ab", "2026-01-01"}},
		{name: "composite upper", t: compositeTable, through: Bound{"9", "cd", "2026-01-02"},
			want: "((`order_id` < ?) OR (`order_id` = ? AND `sku` < UNHEX(?)) OR (`order_id` = ? AND `sku` = UNHEX(?) AND `at` <= ?))",
			args: []any{int64(9), int64(9), "cd", int64(9), "cd", "2026-01-02"}},
		{name: "decimal bound with the column's own precision", t: Table{Key: []string{"d"}, Columns: []Column{{Name: "d", DataType: "decimal", ColumnType: "decimal(39,0)"}}},
			lower: Bound{"123456789012345678901234567890123456789"}, want: "`d` > CAST(? AS DECIMAL(39,0))", args: []any{"123456789012345678901234567890123456789"}},
		{name: "not an integer", t: simpleTable, lower: Bound{"1e3"}, err: `"1e3" is not an unsigned integer`},
		{name: "wrong arity", t: compositeTable, lower: Bound{"1"}, err: "has 1 values; the key has 3 columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, args, err := rangeCondition(tc.t, tc.lower, tc.through)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want || !reflect.DeepEqual(args, tc.args) {
				t.Fatalf("got %q %#v %v\nwant %q %#v", got, args, err, tc.want, tc.args)
			}
		})
	}
}

func TestRowExprTellsNullFromEmpty(t *testing.T) {
	got := rowExpr(simpleTable, byBytes)
	want := "CONCAT_WS('#', `id`, MD5(`email`), `total`, MD5(`photo`), CONCAT(ISNULL(`total`), ISNULL(`photo`)))"
	if got != want {
		t.Fatalf("rowExpr by bytes\n got %s\nwant %s", got, want)
	}
	if got := rowExpr(simpleTable, byCollation); !strings.Contains(got, "MD5(WEIGHT_STRING(`email`))") || strings.Contains(got, "WEIGHT_STRING(`photo`)") {
		t.Fatalf("rowExpr by collation weighs the wrong columns: %s", got)
	}
}

func TestUnverifiableReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Table
		want string
	}{
		{"verifiable", simpleTable, ""},
		{"MyISAM", Table{Engine: "MyISAM", Key: []string{"id"}}, "engine MyISAM is not transactional"},
		{"no key at all", Table{Engine: "InnoDB"}, "no primary key: rows cannot be told apart"},
		{"only a unique key", Table{Engine: "InnoDB", UniqueKeys: []string{"u_email"}}, "unique key u_email could be made the primary key"},
		{"only a non-unique key", Table{Engine: "InnoDB", NonUniqueKeys: []string{"k_at"}}, "only non-unique keys (k_at)"},
		{"float key", Table{Engine: "InnoDB", Key: []string{"f"}, Columns: []Column{{Name: "f", DataType: "double", ColumnType: "double"}}},
			"primary key column f is double"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unverifiableReason(tc.t)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q; want %q", got, tc.want)
			}
		})
	}
}

func TestDefinitionDifferences(t *testing.T) {
	base := Table{Key: []string{"id"}, Columns: []Column{
		{Name: "id", DataType: "int", ColumnType: "int(11)"},
		{Name: "name", DataType: "varchar", ColumnType: "varchar(64)", Charset: "utf8mb3", Collation: "utf8mb3_general_ci"},
	}}
	same := Table{Key: []string{"id"}, Columns: []Column{
		{Name: "id", DataType: "int", ColumnType: "int"},
		{Name: "name", DataType: "varchar", ColumnType: "varchar(64)", Charset: "utf8", Collation: "utf8_general_ci"},
	}}
	if got := normalType("INT(10) UNSIGNED ZEROFILL"); got != "int(10) UNSIGNED ZEROFILL" {
		t.Errorf("normalType drops a ZEROFILL width: %q", got)
	}
	if got := normalType("ENUM('A','b')"); got != "enum('A','b')" {
		t.Errorf("normalType changes ENUM labels: %q", got)
	}
	if d := definitionDifferences(base, same); len(d) != 0 {
		t.Errorf("display width and utf8mb3 spelling reported as differences: %q", d)
	}
	other := Table{Key: []string{"name"}, Columns: []Column{
		{Name: "id", DataType: "bigint", ColumnType: "bigint", Nullable: true},
		{Name: "name", DataType: "varchar", ColumnType: "varchar(64)", Charset: "utf8mb4", Collation: "utf8mb4_bin"},
		{Name: "extra", DataType: "int", ColumnType: "int"},
	}}
	got := strings.Join(definitionDifferences(base, other), "\n")
	for _, want := range []string{
		"column id is int on production, bigint on the rollback target",
		"column id is NOT NULL on production, NULL on the rollback target",
		"column name has collation utf8mb3_general_ci on production, utf8mb4_bin on the rollback target",
		"column extra exists only on the rollback target",
		"primary key is (id) on production, (name) on the rollback target",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("differences %q lack %q", got, want)
		}
	}
}

func TestDiffRows(t *testing.T) {
	prod := []rowHash{{Bound{"1"}, "a", "x"}, {Bound{"2"}, "b", "y"}, {Bound{"3"}, "c", "z"}, {Bound{"4"}, "d", "w"}}
	rb := []rowHash{{Bound{"1"}, "a", "x"}, {Bound{"2"}, "B", "y"}, {Bound{"4"}, "D", "W"}, {Bound{"5"}, "e", "v"}}
	got := diffRows(prod, rb)
	want := []RowDifference{
		{Bound{"2"}, RowChangedCollation}, {Bound{"3"}, RowMissing}, {Bound{"4"}, RowChanged}, {Bound{"5"}, RowExtra},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestCloseParents(t *testing.T) {
	got := closeParents(map[string][]string{"s.c": {"s.p"}, "s.p": {"s.g"}, "s.g": {"s.c"}})
	if want := []string{"s.g", "s.p"}; !reflect.DeepEqual(got["s.c"], want) {
		t.Fatalf("parents of s.c %v; want %v (transitive, cycle-safe, without itself)", got["s.c"], want)
	}
}

func TestParseTables(t *testing.T) {
	got, err := ParseTables(" shop.orders, shop.lines ")
	if err != nil || !reflect.DeepEqual(got, []string{"shop.orders", "shop.lines"}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"orders", "shop.", ".orders", "a.b.c", "mysql.user", "switchback.heartbeat"} {
		if _, err := ParseTables(bad); err == nil {
			t.Errorf("ParseTables(%q) accepted it", bad)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for outcome, want := range map[string]int{OutcomeEqual: 0, OutcomeDiffering: 1, OutcomeUnverified: 3, OutcomeRefused: 3, OutcomeIncomplete: 3} {
		if got := (&Report{Outcome: outcome}).ExitCode(); got != want {
			t.Errorf("%s: exit %d; want %d", outcome, got, want)
		}
	}
}

func TestVerdict(t *testing.T) {
	out, _ := verdict([]TableResult{{Status: StatusEqual}, {Status: StatusUnverifiable, Table: "a.b"}})
	if out != OutcomeUnverified {
		t.Errorf("equal + unverifiable: %s", out)
	}
	out, reason := verdict([]TableResult{{Status: StatusUnverifiable}, {Status: StatusDefinition, Table: "a.c"}})
	if out != OutcomeDiffering || !strings.Contains(reason, "a.c (definition differs)") {
		t.Errorf("definition difference: %s %s", out, reason)
	}
	if out, _ := verdict([]TableResult{{Status: StatusEqual}}); out != OutcomeEqual {
		t.Errorf("all equal: %s", out)
	}
}
