package main

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/replication"
)

func TestCutoverGap(t *testing.T) {
	old, nw := &sql.DB{}, &sql.DB{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := func(id int64, target *sql.DB, o loadgen.Outcome, done int) loadgen.Write {
		return loadgen.Write{ID: id, Target: target, Outcome: o, Sent: at(done - 1), Done: at(done)}
	}
	from := at(100)
	writes := []loadgen.Write{
		w(1, old, loadgen.OutcomeAcknowledged, 10),
		w(2, old, loadgen.OutcomeAcknowledged, 120), // last on old, after the cutover began
		w(3, old, loadgen.OutcomeAcknowledged, 90),
		w(4, old, loadgen.OutcomeRejected, 125),
		w(5, old, loadgen.OutcomeRejected, 130),
		w(6, old, loadgen.OutcomeFailed, 131),
		w(7, nw, loadgen.OutcomeAcknowledged, 160), // recorded before an earlier answer
		w(8, nw, loadgen.OutcomeAcknowledged, 150), // the first on nw
		w(9, old, loadgen.OutcomeRejected, 170),    // after the first on nw: not counted
	}
	g, ok := cutoverGap(writes, old, nw, from)
	if !ok {
		t.Fatal("no gap found")
	}
	if !g.LastOld.Equal(at(120)) || !g.FirstNew.Equal(at(150)) || g.FirstNewIndex != 7 {
		t.Errorf("gap %v → %v at index %d", g.LastOld.Sub(t0), g.FirstNew.Sub(t0), g.FirstNewIndex)
	}
	if g.Rejected != 2 || g.Failed != 1 {
		t.Errorf("rejected %d, failed %d; want 2, 1", g.Rejected, g.Failed)
	}

	// An acknowledgement by nw before the cutover began (its previous
	// reign) does not count; without a later one there is no gap yet.
	stale := []loadgen.Write{w(1, nw, loadgen.OutcomeAcknowledged, 50), w(2, old, loadgen.OutcomeAcknowledged, 90)}
	if _, ok := cutoverGap(stale, old, nw, from); ok {
		t.Error("a gap from an acknowledgement before the cutover")
	}
	if _, ok := cutoverGap([]loadgen.Write{w(1, nw, loadgen.OutcomeAcknowledged, 150)}, old, nw, from); ok {
		t.Error("a gap without any acknowledgement by the old production")
	}
}

func TestDowntimeTarget(t *testing.T) {
	s := func(p95 float64) stats { return stats{N: 20, Median: p95 / 2, P95: p95} }
	met := downtimeTarget(s(150), s(120), s(140), s(110))
	if !strings.Contains(met, "**met**") || !strings.Contains(met, "150 ms vs floor 120 ms: 1.2×") {
		t.Errorf("met: %s", met)
	}
	slow := downtimeTarget(s(250), s(240), s(240), s(230))
	if !strings.Contains(slow, "**not met**") || !strings.Contains(slow, "p95 250 ms > 200 ms") || strings.Contains(slow, "floor;") {
		t.Errorf("over 200 ms: %s", slow)
	}
	far := downtimeTarget(s(90), s(30), s(80), s(20))
	if !strings.Contains(far, "**not met**") || !strings.Contains(far, "3.0× > 1.5× floor") {
		t.Errorf("far from the floor: %s", far)
	}
}

func TestRedaction(t *testing.T) {
	q := changeMaster("127.0.0.1", 3306, "SECRETPW", replication.BinlogPosition{File: "mysql-bin-changelog.000001", Position: 4})
	if !strings.Contains(q, "SECRETPW") {
		t.Fatal("changeMaster lost the password")
	}
	for _, r := range []string{redactPassword(q), redactIdentified("CREATE USER 'x'@'%' IDENTIFIED BY 'SECRETPW'")} {
		if strings.Contains(r, "SECRETPW") || !strings.Contains(r, "<redacted>") {
			t.Errorf("not redacted: %s", r)
		}
	}
	if r := redactPassword(q); !strings.Contains(r, "MASTER_LOG_FILE = 'mysql-bin-changelog.000001'") {
		t.Errorf("redaction dropped the rest: %s", r)
	}
}

func TestCPUMask(t *testing.T) {
	m := maskOf([]int{0, 3, 64, 65})
	if got := m.cpus(); len(got) != 4 || got[0] != 0 || got[1] != 3 || got[2] != 64 || got[3] != 65 {
		t.Errorf("cpus = %v", got)
	}
	if m[0] != 0b1001 || m[1] != 0b11 {
		t.Errorf("mask words %b %b", m[0], m[1])
	}
}
