//go:build integration

package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The teardown tests re-run this test binary as a child that starts a server
// and then dies in one of three ways; the parent checks that the child's
// mariadbd is gone afterwards.
const (
	envTeardownMode = "SANDBOX_TEARDOWN_MODE"
	envTeardownOut  = "SANDBOX_TEARDOWN_OUT"
)

type childServer struct {
	PID int
	Dir string
}

// TestTeardownChild is the child half; it does nothing in a normal run.
func TestTeardownChild(t *testing.T) {
	mode := os.Getenv(envTeardownMode)
	if mode == "" {
		t.Skip("child of TestTeardown; runs only when re-executed")
	}
	var s *Server
	if mode == "test-panic" {
		s = StartT(t, 1, Options{})[0] // Close registered with t.Cleanup
	} else {
		var err error
		if s, err = Start(t.Context(), "orphan", Options{}); err != nil { // no Close at all
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(childServer{PID: s.PID(), Dir: s.Dir})
	if err := os.WriteFile(os.Getenv(envTeardownOut), b, 0o600); err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "test-panic": // testing runs cleanups, then re-panics
		panic("child test panics with a running server")
	case "goroutine-panic": // the process dies without running any cleanup
		go func() { panic("child goroutine panics with a running server") }()
		select {}
	case "sigkill": // the parent kills us
		select {}
	}
	t.Fatalf("unknown mode %q", mode)
}

func TestTeardown(t *testing.T) {
	Require(t)
	for _, tc := range []struct {
		mode       string
		dirRemoved bool // only the cleanup path can remove the directory
	}{
		{"test-panic", true},
		{"goroutine-panic", false},
		{"sigkill", false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "child.json")
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTeardownChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envTeardownMode+"="+tc.mode, envTeardownOut+"="+out)
			output, err := os.Create(filepath.Join(t.TempDir(), "child.log"))
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout, cmd.Stderr = output, output
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}

			var child childServer
			waitFor(t, 30*time.Second, "child reports its server", func() (bool, string) {
				b, err := os.ReadFile(out)
				if err != nil || json.Unmarshal(b, &child) != nil || child.PID == 0 {
					return false, string(b)
				}
				return true, ""
			})
			t.Cleanup(func() { os.RemoveAll(child.Dir) })
			if tc.mode == "sigkill" {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			err = cmd.Wait()
			if err == nil {
				t.Fatalf("child exited successfully; want a crash")
			}
			waitFor(t, 10*time.Second, "child's mariadbd is gone", func() (bool, string) {
				return processGone(child.PID), "pid still running"
			})
			_, statErr := os.Stat(child.Dir)
			if removed := errors.Is(statErr, os.ErrNotExist); removed != tc.dirRemoved {
				log, _ := os.ReadFile(output.Name())
				t.Errorf("dir %s removed = %v; want %v\nchild output:\n%s", child.Dir, removed, tc.dirRemoved, log)
			}
		})
	}
}
