//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestIntegrationConcurrentRollbackProcesses starts two real switchback
// processes on the same pair at the same moment. Exactly one cutover
// happens: one run completes and the other either is refused because the
// first holds the lock (exit 3, naming the holder) or finds the cutover
// already complete. The outcomes never contradict each other and the pair
// ends with exactly the old rollback target writable.
func TestIntegrationConcurrentRollbackProcesses(t *testing.T) {
	bin := buildCLI(t)
	blue, green, coords := switchedOver(t)
	env := append(os.Environ(),
		"SWITCHBACK_PRODUCTION_DSN="+green.RootDSN(),
		"SWITCHBACK_ROLLBACK_DSN="+blue.RootDSN())
	configure := exec.Command(bin, "configure", "--binlog-file", coords.File, "--binlog-position", strconv.FormatUint(coords.Position, 10))
	configure.Env = env
	if out, err := configure.CombinedOutput(); err != nil {
		t.Fatalf("configure: %v\n%s", err, out)
	}
	type run struct {
		code           int
		stdout, stderr string
	}
	runs := make([]run, 2)
	cmds := make([]*exec.Cmd, 2)
	var outs, errs [2]bytes.Buffer
	for i := range cmds {
		cmds[i] = exec.Command(bin, "rollback", "--execute", "--allow-privileged-writers", "--output", "json")
		cmds[i].Env = env
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &errs[i]
	}
	var wg sync.WaitGroup
	for i, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				runs[i].code = ee.ExitCode()
			} else if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	completed, locked := 0, 0
	for i := range runs {
		runs[i].stdout, runs[i].stderr = outs[i].String(), errs[i].String()
		var rep struct {
			Outcome string `json:"outcome"`
			Reason  string `json:"reason"`
		}
		if err := json.Unmarshal(outs[i].Bytes(), &rep); err != nil {
			t.Fatalf("run %d: %v\n%s\n%s", i, err, runs[i].stdout, runs[i].stderr)
		}
		switch {
		case runs[i].code == 0 && rep.Outcome == "completed":
			completed++
		case runs[i].code == 3 && rep.Outcome == "refused" && strings.Contains(rep.Reason, "holds the lock") && strings.Contains(rep.Reason, "held by connection"):
			locked++
		default:
			t.Fatalf("run %d: exit %d, outcome %q, reason %q; want completed (0) or refused by the lock (3)\n%s", i, runs[i].code, rep.Outcome, rep.Reason, runs[i].stderr)
		}
	}
	if completed < 1 || completed+locked != 2 {
		t.Fatalf("%d completed, %d refused by the lock", completed, locked)
	}
	waitReadOnly(t, green.DBT(t), 1)
	waitReadOnly(t, blue.DBT(t), 0)
}
