//go:build integration

package replication

import (
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/loadgen"
	"github.com/switchback/switchback/shared/sandbox"
)

// progressLines collects a rollback's progress lines.
type progressLines struct {
	mu    sync.Mutex
	lines []string
}

func (p *progressLines) add(line string) { p.mu.Lock(); p.lines = append(p.lines, line); p.mu.Unlock() }

func (p *progressLines) containing(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// A write load the rollback target cannot follow: status predicts a write
// downtime above the maximum and warns; rollback --execute waits with
// progress for the prediction to come within --max-write-downtime, then
// refuses with the figures. Production is never fenced: the application
// sees no rejection.
func TestIntegrationPredictedDowntimeTooLongRefuses(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	prod, rb, app := appPair(t, p)
	slowTrigger(t, p.blue, "shop.load_events", 100*time.Millisecond) // at most 40 rows/s with 4 applier threads; the load writes 200
	var progress progressLines
	rep := refusedUntouched(t, p, prod, rb, app, RollbackRequest{
		CatchupTimeout: 2 * time.Second, MaxWriteDowntime: 100 * time.Millisecond, OnProgress: progress.add,
	}, "nothing was fenced", "")
	if !strings.Contains(rep.Reason, "predicted write downtime") || !strings.Contains(rep.Reason, "behind") {
		t.Errorf("refusal %q does not give the prediction's figures", rep.Reason)
	}
	if rep.Prediction == nil {
		t.Error("the report carries no prediction")
	} else if d, ok := rep.Prediction.Predicted(); ok && d <= 100*time.Millisecond {
		t.Errorf("refused with a prediction of %s, within the maximum", d)
	}
	if n := progress.containing("waiting for it to be within --max-write-downtime 100ms"); n < 2 {
		t.Errorf("%d progress lines while waiting 2 s; want at least 2: %q", n, progress.lines)
	}

	// status, under the same load, says so.
	w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 2, Rate: 200, FirstID: 100_000})
	defer w.Stop()
	obs, err := Observe(t.Context(), ObserveRequest{Production: prod, Rollback: rb, SkipProbe: true,
		PredictionWindow: 500 * time.Millisecond, MaxWriteDowntime: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if obs.Prediction == nil || obs.Prediction.BytesBehind == 0 || obs.Prediction.WriteBytesPerSecond == 0 {
		t.Fatalf("status prediction %+v; want bytes behind and production's write rate", obs.Prediction)
	}
	if !strings.Contains(strings.Join(obs.Warnings, "\n"), "not within --max-write-downtime 100ms") {
		t.Errorf("status warnings %q do not say the cutover would wait", obs.Warnings)
	}
}

// A backlog that drains: the cutover waits, with progress, until the
// predicted write downtime is within the maximum, then fences and
// completes with every acknowledged write on the new production.
func TestIntegrationPredictedDowntimeWaitsThenCutsOver(t *testing.T) {
	p := newSwitchedOverPair(t, sandbox.Options{}, appSeed...)
	prod, rb, app := appPair(t, p)
	slowTrigger(t, p.blue, "shop.load_events", 20*time.Millisecond)
	w := loadgen.Start(t.Context(), func() *sql.DB { return app }, loadgen.Options{Workers: 2, FirstID: 1})
	sandbox.WaitFor(t, 30*time.Second, "a backlog on the rollback target", func() (bool, error) {
		rs, err := rb.ReplicaStatus(t.Context())
		if err != nil {
			return false, err
		}
		pos, err := prod.BinlogPosition(t.Context())
		behind, ok := binlogBytesBetween(rs.ExecutedPosition(), pos, nil)
		return err == nil && ok && behind > 60_000, err
	})
	res := w.Stop()

	var progress progressLines
	rep, err := Rollback(t.Context(), RollbackRequest{Production: prod, Rollback: rb, Execute: true, PrivilegedWriters: PrivilegedAllow,
		CatchupTimeout: time.Minute, MaxWriteDowntime: 50 * time.Millisecond, OnProgress: progress.add})
	if err != nil || rep.Outcome != OutcomeCompleted {
		t.Fatalf("rollback: %v %+v", err, rep)
	}
	if progress.containing("waiting for it to be within --max-write-downtime 50ms") == 0 {
		t.Errorf("the cutover did not wait for the backlog to drain: progress %q", progress.lines)
	}
	if rep.Prediction == nil {
		t.Fatal("the report carries no prediction")
	}
	if d, ok := rep.Prediction.Predicted(); !ok || d > 50*time.Millisecond {
		t.Errorf("fenced with a prediction of %s (%v); want within 50ms", d, ok)
	}
	if v, err := loadgen.Verify(t.Context(), p.blue.DBT(t), loadgen.DefaultTable, res); err != nil || !v.OK() {
		t.Fatalf("acknowledged writes missing on the new production: %v %v", v, err)
	}
}
