// Package killtest holds what the kill-point tests (cmd/switchback and
// functions, RELIABILITY.md) check around a killed switchback run: a
// watcher that polls both servers' read_only the whole time (never both
// writable; no write acknowledged by a server seen fenced from before it
// was sent to after it was answered), and where read_only must stand right
// after a kill at each point.
package killtest

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
)

// Watcher polls two servers' read_only (a read of the first, of the
// second, of the first again, every few milliseconds) and keeps, per
// server, runs of consecutive reads with the same value. Three reads in a
// row that all say writable are a violation: both sides writable.
type Watcher struct {
	mu   sync.Mutex
	segs [2][]segment
	viol []string
	stop chan struct{}
	done chan struct{}
}

// segment is a run of consecutive reads of one server with the same
// value: it held from first to last (see observe).
type segment struct {
	first, last time.Time
	ro          bool
}

// Watch starts a Watcher over the servers behind dsns (a user without
// privileges will do: SELECT @@global.read_only needs none, and such a
// session is no privileged writer on production). It stops with t.
func Watch(t testing.TB, dsns [2]string) *Watcher {
	t.Helper()
	w := &Watcher{stop: make(chan struct{}), done: make(chan struct{})}
	var conns [2]*sql.DB
	for i, dsn := range dsns {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		conns[i] = db
	}
	read := func(i int) (bool, time.Time, bool) {
		var v int
		sent := time.Now()
		if err := conns[i].QueryRow("SELECT @@global.read_only").Scan(&v); err != nil {
			return false, sent, false
		}
		w.observe(i, sent, time.Now(), v == 1)
		return v == 1, sent, true
	}
	go func() {
		defer close(w.done)
		defer conns[0].Close()
		defer conns[1].Close()
		tick := time.NewTicker(3 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			a1, _, ok1 := read(0)
			b, at, ok2 := read(1)
			a2, _, ok3 := read(0)
			if ok1 && ok2 && ok3 && !a1 && !b && !a2 {
				w.mu.Lock()
				w.viol = append(w.viol, "at "+at.Format("15:04:05.000000"))
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(w.Stop)
	return w
}

// Stop ends the polling; it may be called more than once.
func (w *Watcher) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// observe records one read of server i's read_only, sent and answered at
// those times: the value held at some instant between them. A run's first
// is the answer of its first read (the value held before it), its last
// the sending of its last read (the value held after it).
func (w *Watcher) observe(i int, sent, answered time.Time, ro bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.segs[i]
	if n := len(s); n > 0 && s[n-1].ro == ro {
		s[n-1].last = sent
		return
	}
	w.segs[i] = append(s, segment{first: answered, last: sent, ro: ro})
}

// FencedThrough reports whether server i was seen read-only in one run of
// reads from before sent to after done, and that run's bounds.
func (w *Watcher) FencedThrough(i int, sent, done time.Time) (from, to time.Time, fenced bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.segs[i] {
		if s.ro && !s.first.After(sent) && !s.last.Before(done) {
			return s.first, s.last, true
		}
	}
	return time.Time{}, time.Time{}, false
}

// Violations lists the moments both servers were seen writable.
func (w *Watcher) Violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.viol)
}

// Fences counts the runs of read-only reads seen on either server.
func (w *Watcher) Fences() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, segs := range w.segs {
		for _, s := range segs {
			if s.ro {
				n++
			}
		}
	}
	return n
}

// CheckWrites returns an error naming the first acknowledged write (of a
// load run with loadgen.Options.Timeline) that went to the server of
// pools[i] while the watcher saw server i fenced from before it was sent
// to after it was answered — a write after the fence — or naming the
// moments both servers were seen writable.
func (w *Watcher) CheckWrites(writes []loadgen.Write, pools [2]*sql.DB) error {
	for _, wr := range writes {
		if wr.Outcome != loadgen.OutcomeAcknowledged {
			continue
		}
		i := slices.Index(pools[:], wr.Target)
		if i < 0 {
			return fmt.Errorf("write %d went to a pool that is neither server's", wr.ID)
		}
		if from, to, fenced := w.FencedThrough(i, wr.Sent, wr.Done); fenced {
			const f = "15:04:05.000000"
			return fmt.Errorf("write %d was acknowledged by server %d, seen fenced from %s to %s, all the while it was in flight (%s → %s): a write after the fence",
				wr.ID, i, from.Format(f), to.Format(f), wr.Sent.Format(f), wr.Done.Format(f))
		}
	}
	if v := w.Violations(); len(v) > 0 {
		return fmt.Errorf("both servers were seen writable at once: %s", strings.Join(v, "; "))
	}
	return nil
}

// ExpectAfterKill says where read_only must stand on production and on
// the rollback target right after a run is killed at point ("<point>" or
// "<point>#<n>"): a cutover killed before the fence leaves production
// writable; killed once production is fenced and before the target is
// writable, both fenced (the re-run must finish it); once the target was
// unfenced, only the target writable; an abort killed after production's
// unfence, production writable. Configure leaves production writable and
// its target fenced at every point.
func ExpectAfterKill(point string) (prodRO, rbRO bool) {
	name, _, _ := strings.Cut(point, "#")
	switch name {
	case "rollback/fence:after", "rollback/kill-sessions:before", "rollback/kill-sessions:after",
		"rollback/settle:before", "rollback/settle:after", "rollback/catch-up:before", "rollback/catch-up:wait",
		"rollback/catch-up:after", "rollback/stop-replication:before", "rollback/stop-replication:after",
		"rollback/unfence-target:before", "rollback/abort-refence:before", "rollback/abort-refence:after",
		"rollback/abort-confirm:before", "rollback/abort-confirm:after", "rollback/abort-unfence:before":
		return true, true
	case "rollback/unfence-target:unfenced", "rollback/unfence-target:after", "rollback/reset-source:before",
		"rollback/reset-source:after", "rollback/reverse:before", "rollback/reverse:after":
		return true, false
	}
	return false, true
}
