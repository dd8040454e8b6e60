//go:build integration && soak

package functions_test

import (
	"testing"
	"time"

	"github.com/switchback/switchback/shared/lambdatest"
)

// TestSoakKillFunctions kills the rollback function's bootstrap at every
// kill point of a cutover that completes, and the configure function's at
// every kill point of configure, each on a fresh deployment, and checks
// each re-run as the fast subset does (killpoints_integration_test.go).
// It logs one line per run and a "soak-kill functions figures" line.
func TestSoakKillFunctions(t *testing.T) {
	rollbackPoints := []string{
		"rollback/lock:before", "rollback/lock:held", "rollback/preconditions:before", "rollback/predict:wait",
		"rollback/close-in:wait", "rollback/preconditions:after", "rollback/fence:before", "rollback/fence:marked",
		"rollback/fence:after", "rollback/settle:before", "rollback/settle:after", "rollback/catch-up:before",
		"rollback/catch-up:wait", "rollback/catch-up:after", "rollback/stop-replication:before",
		"rollback/stop-replication:after", "rollback/unfence-target:before", "rollback/unfence-target:unfenced",
		"rollback/unfence-target:after", "rollback/reset-source:before", "rollback/reset-source:after",
	}
	configurePoints := []string{
		"configure/lock:before", "configure/lock:held", "configure/check-target:before", "configure/check-target:after",
		"configure/fence-target:before", "configure/fence-target:after", "configure/ensure-user:before",
		"configure/ensure-user:after", "configure/ensure-retention:before", "configure/ensure-retention:after",
		"configure/ensure-schema:before", "configure/ensure-schema:after", "configure/record-baseline:before",
		"configure/record-baseline:after", "configure/ensure-parallel:before", "configure/ensure-parallel:after",
		"configure/set-source:before", "configure/set-source:after", "configure/wait-threads:before",
		"configure/wait-threads:wait", "configure/wait-threads:probe", "configure/wait-threads:after",
	}
	start := time.Now()
	rollbackBin, configureBin := lambdatest.Build(t, "./rollback"), lambdatest.Build(t, "./configure")
	runs, kills, passed := 0, 0, 0
	var notReached []string
	for _, fn := range []struct {
		bin    string
		points []string
		run    func(*testing.T, string, string) bool
	}{{rollbackBin, rollbackPoints, killRollbackFunction}, {configureBin, configurePoints, killConfigureFunction}} {
		for _, p := range fn.points {
			killed := false
			ok := t.Run(p, func(t *testing.T) { killed = fn.run(t, fn.bin, p) })
			runs++
			if ok {
				passed++
			}
			if killed {
				kills++
			} else {
				notReached = append(notReached, p)
			}
			t.Logf("soak-kill functions run %2d  %-40s  killed %v  passed %v  (%s)", runs, p, killed, ok, time.Since(start).Round(time.Second))
		}
	}
	if len(notReached) > 0 {
		t.Errorf("kill points never reached by the bootstraps: %v", notReached)
	}
	t.Logf("soak-kill functions figures: %d runs on fresh deployments, %d bootstraps killed (rollback %d points, configure %d points), %d runs passed (re-run converged, nothing applied twice, no write lost); %s",
		runs, kills, len(rollbackPoints), len(configurePoints), passed, time.Since(start).Round(time.Second))
}
