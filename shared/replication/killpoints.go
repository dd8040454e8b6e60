package replication

import "fmt"

// KillPoint is a named point in Rollback or Configure at which a test may
// kill the process (RollbackRequest.Hook, ConfigureRequest.Hook; the
// binaries' SWITCHBACK_KILL_AT, shared/killpoint): every step boundary and
// every pass of every wait loop. A run killed at any of them must be
// finished, or cleanly undone, by the same command run again.
type KillPoint struct {
	// Name is "<operation>/<step>:<where>": where is "before" or "after"
	// a step, "wait" for each pass of a wait loop, or a named moment
	// inside a step.
	Name string
	// Meaning says what has happened on the servers when the point is
	// reached.
	Meaning string
	// Reached says when a run reaches it: "always" on the path of a
	// cutover (or configure) that completes, else the condition.
	Reached string
}

// KillPoints lists every point at which Rollback and Configure call their
// Hook, in the order a run reaches them. Configure's points are also
// reached inside a rollback with Reverse (its last step), except its lock
// points: that Configure runs under the rollback's lock.
var KillPoints = []KillPoint{
	{"rollback/lock:before", "nothing taken yet; about to take switchback's lock on both servers", "always"},
	{"rollback/lock:held", "the lock is held on both servers; nothing read or changed", "always"},
	{"rollback/preconditions:before", "state read and classified: a cutover may start (production writable)", "a cutover that starts"},
	{"rollback/predict:wait", "each pass of the wait, before the fence, for the predicted write downtime to be within --max-write-downtime", "a cutover that starts"},
	{"rollback/close-in:wait", "each pass of a close-in: the target executing production's current position, before the fence", "a cutover that starts"},
	{"rollback/preconditions:after", "every precondition passed; nothing changed", "a cutover that starts"},
	{"rollback/stop-events:before", "about to turn production's event scheduler off", "--kill-privileged-sessions with an enabled event whose definer bypasses read_only"},
	{"rollback/stop-events:after", "production's event scheduler is off; production writable", "as stop-events:before"},
	{"rollback/fence:before", "about to write the cutover marker on production and fence it", "a cutover that starts"},
	{"rollback/fence:marked", "the cutover marker is written on production (state started); production still writable", "a cutover that starts"},
	{"rollback/fence:after", "production is read-only: application writes are rejected", "a cutover that starts"},
	{"rollback/kill-sessions:before", "production fenced; privileged sessions still connected", "--kill-privileged-sessions with a privileged session on production"},
	{"rollback/kill-sessions:after", "production fenced; privileged sessions ended", "as kill-sessions:before"},
	{"rollback/settle:before", "production fenced (or found fenced by a re-run); about to read its final position", "a cutover that starts or resumes before the promotion"},
	{"rollback/settle:after", "production's final position read", "as settle:before"},
	{"rollback/catch-up:before", "about to wait for the target to execute exactly up to production's final position", "as settle:before"},
	{"rollback/catch-up:wait", "each pass of the fenced catch-up wait", "as settle:before"},
	{"rollback/catch-up:after", "the target executed exactly up to production's final position", "as settle:before"},
	{"rollback/stop-replication:before", "about to stop replication on the target", "as settle:before"},
	{"rollback/stop-replication:after", "replication on the target stopped at production's final position; both sides read-only", "as settle:before"},
	{"rollback/unfence-target:before", "about to check production once more and unfence the target", "as settle:before"},
	{"rollback/unfence-target:unfenced", "the target is writable (the promotion) but the completed cutover is not recorded on it yet", "as settle:before"},
	{"rollback/unfence-target:after", "the target is writable and records the completed cutover", "as settle:before"},
	{"rollback/reset-source:before", "promoted; about to clear the target's stale replication configuration", "a cutover that promotes or resumes a promotion"},
	{"rollback/reset-source:after", "the target has no replication source: the cutover is complete", "as reset-source:before"},
	{"rollback/refence-old:before", "promoted; the old production was found writable (restarted after the fence?): about to fence it again", "a restart of production after the promotion"},
	{"rollback/refence-old:after", "promoted; the old production is read-only again", "as refence-old:before"},
	{"rollback/reverse:before", "about to configure the old production to replicate from the new one", "--reverse"},
	{"rollback/reverse:after", "the reverse path runs", "--reverse"},
	{"rollback/abort-refence:before", "aborting after the target's unfence was tried: about to fence it again", "an unfence of the target that failed"},
	{"rollback/abort-refence:after", "aborting: the target is read-only again", "as abort-refence:before"},
	{"rollback/abort-confirm:before", "aborting: about to prove the target fenced and still a replica", "an abort after the fence"},
	{"rollback/abort-confirm:after", "aborting: the target is proven fenced and still a replica; production still fenced", "an abort after the fence"},
	{"rollback/abort-unfence:before", "aborting: about to unfence production", "an abort after the fence"},
	{"rollback/abort-unfence:after", "aborting: production is writable again (the abort not recorded yet)", "an abort after the fence"},
	{"rollback/restart-events:before", "aborted: about to turn production's event scheduler back on", "an abort of a run that turned it off"},
	{"rollback/restart-events:after", "aborted: production's event scheduler is on again", "as restart-events:before"},
	{"rollback/abort-restart:before", "aborted: about to restart replication the cutover stopped", "an abort after replication was stopped"},
	{"rollback/abort-restart:after", "aborted: replication restarted", "as abort-restart:before"},

	{"configure/lock:before", "nothing taken yet; about to take switchback's lock on both servers", "configure on its own"},
	{"configure/lock:held", "the lock is held on both servers; nothing read or changed", "configure on its own"},
	{"configure/check-target:before", "about to check the coordinates and the target", "always"},
	{"configure/check-target:after", "checked; nothing changed", "always"},
	{"configure/fence-target:before", "about to fence the target", "always"},
	{"configure/fence-target:after", "the target is read-only", "always"},
	{"configure/ensure-user:before", "about to create (or check) the replication user on production", "always"},
	{"configure/ensure-user:after", "the replication user exists with its grants and password", "always"},
	{"configure/ensure-retention:before", "about to check (or raise) production's binlog retention", "always"},
	{"configure/ensure-retention:after", "production's binlog retention covers the window", "always"},
	{"configure/ensure-schema:before", "about to create switchback's schema on production", "always"},
	{"configure/ensure-schema:after", "switchback's schema exists on production", "always"},
	{"configure/record-baseline:before", "about to record the target's own transactions on production", "always"},
	{"configure/record-baseline:after", "the target's baseline is recorded (or kept)", "always"},
	{"configure/ensure-parallel:before", "about to set parallel apply on the target", "always"},
	{"configure/ensure-parallel:after", "parallel apply set (or reported as not settable)", "always"},
	{"configure/set-source:before", "about to record the start coordinates and point the target at production", "always"},
	{"configure/set-source:after", "the target replicates from production (threads started)", "always"},
	{"configure/wait-threads:before", "about to wait for both replication threads", "always"},
	{"configure/wait-threads:wait", "each pass of the wait for both threads to run", "always"},
	{"configure/wait-threads:probe", "both threads run; about to write the heartbeat probe and wait for it on the target", "a fresh set-up (not a re-run that found replication running)"},
	{"configure/wait-threads:after", "replication is proven end to end", "always"},
}

var killPointIndex = func() map[string]bool {
	m := make(map[string]bool, len(KillPoints))
	for _, p := range KillPoints {
		m[p.Name] = true
	}
	return m
}()

// IsKillPoint reports whether name is in KillPoints.
func IsKillPoint(name string) bool { return killPointIndex[name] }

// callHook calls hook at point, when hook is set. A point missing from
// KillPoints is a bug in the engine: it panics, in tests (the only
// callers that set a hook).
func callHook(hook func(string), point string) {
	if hook == nil {
		return
	}
	if !killPointIndex[point] {
		panic(fmt.Sprintf("replication: kill point %q is not in KillPoints", point))
	}
	hook(point)
}
