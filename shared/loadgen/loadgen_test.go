package loadgen

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestTableDDL(t *testing.T) {
	got, err := TableDDL("shop.load_events")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(DDL, "shop.load_events", "`shop`.`load_events`", 1); got != want {
		t.Errorf("TableDDL = %q\nwant %q", got, want)
	}
	for _, bad := range []string{"", "a.b.c", "shop.load events", "shop.`x`", "x;DROP TABLE y", "shop."} {
		if _, err := TableDDL(bad); err == nil {
			t.Errorf("TableDDL(%q) = nil error; want a refusal", bad)
		}
	}
}

func TestIsReadOnly(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1290, Message: "The MariaDB server is running with the --read-only option"}, true},
		{fmt.Errorf("wrapped: %w", &mysql.MySQLError{Number: 1836}), true},
		{&mysql.MySQLError{Number: 1062}, false},
		{errors.New("invalid connection"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := IsReadOnly(c.err); got != c.want {
			t.Errorf("IsReadOnly(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	present := map[int64]struct{}{1: {}, 2: {}, 4: {}, 6: {}, 99: {}}
	r := Result{
		Acknowledged: []int64{1, 2, 3, 4},
		Rejected:     []int64{5, 6},
		Failed:       []WriteError{{ID: 7, Message: "invalid connection"}, {ID: 99, Message: "timeout"}},
	}
	v := Compare(present, r)
	want := Verification{
		Rows: 5, Acknowledged: 4, Present: 3, Missing: []int64{3},
		Rejected: 2, Unexpected: []int64{6}, Failed: 2, FailedPresent: 1, Other: 0,
	}
	if fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("Compare = %+v\nwant %+v", v, want)
	}
	if v.OK() {
		t.Error("OK() = true with a missing and an unexpected id")
	}
	err := v.Err()
	if err == nil || !strings.Contains(err.Error(), "1 of 4 acknowledged writes are missing") || !strings.Contains(err.Error(), "ids 3") ||
		!strings.Contains(err.Error(), "1 of 2 writes rejected as read-only are present") {
		t.Errorf("Err() = %v", err)
	}

	clean := Compare(map[int64]struct{}{1: {}, 2: {}, 50: {}}, Result{Acknowledged: []int64{2, 1}, Rejected: []int64{3}})
	if !clean.OK() || clean.Err() != nil || clean.Present != 2 || clean.Other != 1 {
		t.Errorf("clean Compare = %+v, err %v", clean, clean.Err())
	}
}

func TestListIDsCaps(t *testing.T) {
	ids := make([]int64, 25)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	got := listIDs(ids)
	if !strings.HasPrefix(got, "1, 2, 3") || !strings.HasSuffix(got, "10 … and 15 more") {
		t.Errorf("listIDs = %q", got)
	}
}

func TestCompareChecksums(t *testing.T) {
	a := []TableChecksum{{"shop.orders", 10, 111}, {"shop.customers", 5, 222}, {"shop.only_a", 1, 1}}
	if err := CompareChecksums(a, slices.Clone(a)); err != nil {
		t.Fatalf("equal sets: %v", err)
	}
	b := []TableChecksum{{"shop.orders", 9, 110}, {"shop.customers", 5, 223}, {"shop.only_b", 1, 1}}
	err := CompareChecksums(a, b)
	if err == nil {
		t.Fatal("different sets: nil error")
	}
	for _, want := range []string{
		"shop.orders: 10 rows vs 9 rows",
		"shop.customers: same row count (5) but checksum 222 vs 223",
		"shop.only_a: only on the first server",
		"shop.only_b: only on the second server",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestResultRateAndString(t *testing.T) {
	r := Result{Acknowledged: make([]int64, 500), Rejected: make([]int64, 3), Duration: 2 * time.Second}
	if r.Rate() != 250 {
		t.Errorf("Rate = %v; want 250", r.Rate())
	}
	if r.Attempted() != 503 {
		t.Errorf("Attempted = %d", r.Attempted())
	}
	if got := r.String(); got != "500 acknowledged, 3 rejected (read-only), 0 failed in 2s (250/s)" {
		t.Errorf("String = %q", got)
	}
	if (Result{}).Rate() != 0 {
		t.Error("zero Result has a rate")
	}
}

func TestStartRefusesBadTable(t *testing.T) {
	w := Start(t.Context(), func() *sql.DB { return nil }, Options{Table: "bad name"})
	r := w.Stop()
	if len(r.Failed) != 1 || !strings.Contains(r.Failed[0].Message, "not a plain identifier") || len(r.Acknowledged) != 0 {
		t.Errorf("result = %+v", r)
	}
}

// TestWriterClassifiesAndRepoints runs the workers against a fake driver:
// server "a" acknowledges, then turns read-only; the target moves to "b",
// which fails every third write ambiguously. Every id must be accounted for
// exactly once, ids must be unique, and each worker must have used its own
// connection per server.
func TestWriterClassifiesAndRepoints(t *testing.T) {
	a := newFakeServer("a")
	b := newFakeServer("b")
	b.exec = func(id int64) error {
		if id%3 == 0 {
			return &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}
		}
		return nil
	}
	var cur atomic.Pointer[sql.DB]
	cur.Store(a.db)
	w := Start(t.Context(), cur.Load, Options{Workers: 3, Table: "t"})

	waitFor(t, func() bool { return len(w.Snapshot().Acknowledged) >= 50 })
	a.setExec(func(int64) error { return &mysql.MySQLError{Number: 1290, Message: "read-only"} })
	waitFor(t, func() bool { return len(w.Snapshot().Rejected) >= 20 })
	cur.Store(b.db)
	n := len(w.Snapshot().Acknowledged)
	waitFor(t, func() bool { return len(w.Snapshot().Acknowledged) >= n+50 && len(w.Snapshot().Failed) > 0 })
	r := w.Stop()

	seen := map[int64]bool{}
	for _, id := range slices.Concat(r.Acknowledged, r.Rejected) {
		if seen[id] {
			t.Fatalf("id %d recorded twice", id)
		}
		seen[id] = true
	}
	for _, f := range r.Failed {
		if seen[f.ID] || f.Errno != 1205 {
			t.Fatalf("failed write %+v: duplicate or wrong errno", f)
		}
		seen[f.ID] = true
	}
	if len(seen) != r.Attempted() || int64(len(seen)) != a.execs.Load()+b.execs.Load() {
		t.Errorf("%d distinct ids, %d attempted, %d executed", len(seen), r.Attempted(), a.execs.Load()+b.execs.Load())
	}
	// Each write is one INSERT on the server it was sent to: a's
	// acknowledged plus rejected, b's the rest.
	if got := a.committed.Load() + b.committed.Load(); got != int64(len(r.Acknowledged)) {
		t.Errorf("servers committed %d rows; acknowledged %d", got, len(r.Acknowledged))
	}
	if a.conns.Load() != 3 {
		t.Errorf("server a opened %d connections; want 3 (one per worker)", a.conns.Load())
	}
	if r.Rate() <= 0 || r.Duration <= 0 {
		t.Errorf("rate %v over %v", r.Rate(), r.Duration)
	}
	if again := w.Stop(); again.Attempted() != r.Attempted() {
		t.Error("a second Stop returned another result")
	}
}

// TestWriterTimeline checks Options.Timeline: every attempted write is in
// Result.Writes once, with its outcome, the pool it went to and Sent ≤
// Done; WritesSince returns the tail; without Timeline nothing is kept.
func TestWriterTimeline(t *testing.T) {
	a := newFakeServer("a")
	b := newFakeServer("b")
	var cur atomic.Pointer[sql.DB]
	cur.Store(a.db)
	w := Start(t.Context(), cur.Load, Options{Workers: 2, Table: "t", Timeline: true})
	waitFor(t, func() bool { return w.Counts().Acknowledged >= 20 })
	a.setExec(func(int64) error { return &mysql.MySQLError{Number: 1290, Message: "read-only"} })
	waitFor(t, func() bool { return w.Counts().Rejected >= 5 })
	cur.Store(b.db)
	n := w.Counts().Acknowledged
	waitFor(t, func() bool { return w.Counts().Acknowledged >= n+20 })
	r := w.Stop()

	if len(r.Writes) != r.Attempted() {
		t.Fatalf("%d writes in the timeline; %d attempted", len(r.Writes), r.Attempted())
	}
	byOutcome := map[Outcome]int{}
	seen := map[int64]bool{}
	for _, wr := range r.Writes {
		if seen[wr.ID] {
			t.Fatalf("id %d twice in the timeline", wr.ID)
		}
		seen[wr.ID] = true
		byOutcome[wr.Outcome]++
		if wr.Done.Before(wr.Sent) || wr.Sent.IsZero() {
			t.Errorf("write %d: sent %v, done %v", wr.ID, wr.Sent, wr.Done)
		}
		if wr.Outcome == OutcomeRejected && wr.Target != a.db {
			t.Errorf("rejected write %d went to another pool than a's", wr.ID)
		}
		if wr.Worker < 1 || wr.Worker > 2 {
			t.Errorf("write %d: worker %d", wr.ID, wr.Worker)
		}
	}
	if byOutcome[OutcomeAcknowledged] != len(r.Acknowledged) || byOutcome[OutcomeRejected] != len(r.Rejected) {
		t.Errorf("timeline outcomes %v; result %d acknowledged, %d rejected", byOutcome, len(r.Acknowledged), len(r.Rejected))
	}
	last := r.Writes[len(r.Writes)-1]
	if last.Target != b.db || last.Outcome != OutcomeAcknowledged {
		t.Errorf("last write %+v; want acknowledged by b", last)
	}
	if tail := w.WritesSince(len(r.Writes) - 3); len(tail) != 3 || tail[2].ID != last.ID {
		t.Errorf("WritesSince(len-3) = %d writes", len(tail))
	}
	if w.WritesSince(len(r.Writes)) != nil {
		t.Error("WritesSince(len) is not empty")
	}

	plain := Start(t.Context(), func() *sql.DB { return a.db }, Options{Workers: 1, Table: "t"})
	waitFor(t, func() bool { return plain.Counts().Rejected >= 3 })
	if r := plain.Stop(); len(r.Writes) != 0 {
		t.Errorf("without Timeline %d writes were kept", len(r.Writes))
	}
}

func TestWriterRate(t *testing.T) {
	s := newFakeServer("paced")
	w := Start(t.Context(), func() *sql.DB { return s.db }, Options{Workers: 4, Rate: 200, Table: "t"})
	waitFor(t, func() bool { return len(w.Snapshot().Acknowledged) >= 40 })
	r := w.Stop()
	// 40 writes at 200/s take at least 195 ms: the pacing holds the load
	// back, rather than running flat out.
	if r.Duration < 150*time.Millisecond {
		t.Errorf("%d writes took %v at Rate 200", len(r.Acknowledged), r.Duration)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeServer is a database/sql driver whose statements succeed or fail as
// exec says.
type fakeServer struct {
	name      string
	db        *sql.DB
	mu        sync.Mutex
	exec      func(id int64) error
	execs     atomic.Int64
	committed atomic.Int64
	conns     atomic.Int64
}

func newFakeServer(name string) *fakeServer {
	s := &fakeServer{name: name, exec: func(int64) error { return nil }}
	s.db = sql.OpenDB(s)
	return s
}

func (s *fakeServer) setExec(f func(int64) error) {
	s.mu.Lock()
	s.exec = f
	s.mu.Unlock()
}

func (s *fakeServer) Connect(context.Context) (driver.Conn, error) {
	s.conns.Add(1)
	return &fakeConn{s: s}, nil
}

func (s *fakeServer) Driver() driver.Driver { return nil }

type fakeConn struct{ s *fakeServer }

func (c *fakeConn) Prepare(string) (driver.Stmt, error) { return &fakeStmt{s: c.s}, nil }
func (c *fakeConn) Close() error                        { return nil }
func (c *fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("no transactions") }

type fakeStmt struct{ s *fakeServer }

func (st *fakeStmt) Close() error  { return nil }
func (st *fakeStmt) NumInput() int { return 3 }
func (st *fakeStmt) Exec(args []driver.Value) (driver.Result, error) {
	st.s.execs.Add(1)
	st.s.mu.Lock()
	exec := st.s.exec
	st.s.mu.Unlock()
	if err := exec(args[0].(int64)); err != nil {
		return nil, err
	}
	st.s.committed.Add(1)
	return driver.RowsAffected(1), nil
}
func (st *fakeStmt) Query([]driver.Value) (driver.Rows, error) { return nil, errors.New("no queries") }
