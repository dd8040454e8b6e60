package orchestrate

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/emf"
	"github.com/switchback/switchback/shared/replication"
)

// A pair whose values are unknown publishes only what is known: never a
// made-up lag or headroom, always RollbackReady and ReplicationRunning.
func TestPublishLeavesOutUnknownValues(t *testing.T) {
	var buf bytes.Buffer
	o := &Orchestrator{Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	o.publish(t.Context(), PairStatus{Deployment: "bgd-1", Production: "p", Rollback: "r",
		Reachable: true, Running: true, Headroom: &replication.Headroom{Unknown: "binlog retention is not set"},
		Reasons: []string{"binlog retention headroom unknown: binlog retention is not set"}})
	line, _, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
	doc, err := emf.Validate(line)
	if err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if len(doc.Metrics) != 2 {
		t.Fatalf("metrics %v; want RollbackReady and ReplicationRunning only", doc.Metrics)
	}
	if v, _ := doc.Value(MetricRollbackReady); v != 0 {
		t.Errorf("RollbackReady %v", v)
	}
	if !strings.Contains(buf.String(), "binlog retention is not set") || !strings.Contains(buf.String(), `"rollback not ready"`) {
		t.Errorf("reason not logged: %s", buf.String())
	}
}

// Notifications fit a pager: deployment, phase, what happened, what next.
func TestReadinessMessages(t *testing.T) {
	lag, h := int64(2), 30.0
	_, subject, msg := readinessMessage(PairStatus{Deployment: "bgd-1", Production: "orders-prod", Rollback: "orders-prod-old1", Ready: true, LagSeconds: &lag, HeadroomHours: &h})
	if !strings.Contains(subject, "ready again") || !strings.Contains(msg, "phase configured") || !strings.Contains(msg, "Next:") {
		t.Errorf("ready: %q %q", subject, msg)
	}
	many := []string{"IO thread is not running", "SQL thread error 1062: duplicate", "seconds behind is NULL", "probe timed out"}
	outcome, subject, msg := readinessMessage(PairStatus{Deployment: "bgd-1", Production: "orders-prod", Rollback: "orders-prod-old1", Reachable: true, Reasons: many})
	if outcome != "not-ready" || !strings.Contains(subject, "NOT ready") || !strings.Contains(msg, "and 2 more") || !strings.Contains(msg, "SHOW REPLICA STATUS") || len(msg) > 500 {
		t.Errorf("not ready: %q %q (%d chars)", subject, msg, len(msg))
	}
	_, _, msg = readinessMessage(PairStatus{Deployment: "bgd-1", Rollback: "orders-prod-old1", Reasons: []string{"rollback cluster unreachable"}})
	if !strings.Contains(msg, "reachable from the monitor") {
		t.Errorf("unreachable: %q", msg)
	}
}

// The rollback window ends RollbackWindow after ConfiguredAt; 0 never.
func TestDue(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	rec := Record{Phase: PhaseConfigured, ConfiguredAt: now.Add(-48 * time.Hour)}
	o := &Orchestrator{}
	if o.due(rec, now) {
		t.Error("due with a window of 0")
	}
	o.Settings.RollbackWindow = 72 * time.Hour
	if o.due(rec, now) {
		t.Error("due before the window ended")
	}
	o.Settings.RollbackWindow = 48 * time.Hour
	if !o.due(rec, now) {
		t.Error("not due when the window ended")
	}
	rec.Phase = PhaseRolledBack
	if o.due(rec, now) {
		t.Error("a rolled-back pair is due")
	}
}
