package replication

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	at := BinlogPosition{File: "mysql-bin-changelog.000002", Position: 1200}
	running := ReplicaStatus{Configured: true, IORunning: "Yes", SQLRunning: "Yes", IOThreadRunning: true, SQLThreadRunning: true,
		RelaySourceLogFile: at.File, ExecSourceLogPos: 900}
	stoppedAtTarget := ReplicaStatus{Configured: true, IORunning: "No", SQLRunning: "No", RelaySourceLogFile: at.File, ExecSourceLogPos: at.Position}
	stoppedShort := stoppedAtTarget
	stoppedShort.ExecSourceLogPos = 1100
	cases := []struct {
		name       string
		st         cutoverState
		want       phase
		wantReason string
	}{
		{"normal start", cutoverState{RollbackReadOnly: true, Replica: running, ProductionPosition: at}, phaseStart, ""},
		// A killed run fenced production; the same command resumes it.
		{"killed after fence", cutoverState{ProductionReadOnly: true, RollbackReadOnly: true, Replica: running, ProductionPosition: at}, phaseFenced, ""},
		{"killed after stop", cutoverState{ProductionReadOnly: true, RollbackReadOnly: true, Replica: stoppedAtTarget, ProductionPosition: at}, phaseFenced, ""},
		{"killed after unfence", cutoverState{ProductionReadOnly: true, Replica: stoppedAtTarget, ProductionPosition: at}, phasePromoted, ""},
		{"completed", cutoverState{ProductionReadOnly: true, ProductionPosition: at}, phaseDone, ""},
		// States switchback never creates: refuse rather than guess.
		{"both writable", cutoverState{Replica: running, ProductionPosition: at}, phaseInvalid, "writable while production is too"},
		{"not replicating", cutoverState{RollbackReadOnly: true, ProductionPosition: at}, phaseInvalid, "nothing to roll back to"},
		{"both fenced, no source", cutoverState{ProductionReadOnly: true, RollbackReadOnly: true, ProductionPosition: at}, phaseInvalid, "cannot tell"},
		{"writable while replicating", cutoverState{ProductionReadOnly: true, Replica: running, ProductionPosition: at}, phaseInvalid, "still replicates"},
		{"writable, stopped short", cutoverState{ProductionReadOnly: true, Replica: stoppedShort, ProductionPosition: at}, phaseInvalid, "not at production's final"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := classify(tc.st)
			if got != tc.want || !strings.Contains(reason, tc.wantReason) || (tc.wantReason == "") != (reason == "") {
				t.Errorf("classify = %d, %q; want %d with reason containing %q", got, reason, tc.want, tc.wantReason)
			}
		})
	}
}
