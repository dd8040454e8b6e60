package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/lambdatest"
)

func TestParentPID(t *testing.T) {
	tests := []struct {
		stat string
		want int
		ok   bool
	}{
		{"4242 (bootstrap) S 4100 4242 4100 0 -1", 4100, true},
		// The command name may hold spaces and parentheses.
		{"77 (a (b) c) R 12 77 12 0", 12, true},
		{"garbage", 0, false},
		{"1 (init)", 0, false},
	}
	for _, tt := range tests {
		got, ok := parentPID(tt.stat)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parentPID(%q) = %d, %t; want %d, %t", tt.stat, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tbootstrap\nVmPeak:\t  1236000 kB\nVmHWM:\t    18596 kB\nVmRSS:\t    17000 kB\n"
	if got, err := parseStatusKB(strings.NewReader(status), "VmHWM"); err != nil || got != 18596*1024 {
		t.Errorf("VmHWM = %d, %v; want %d", got, err, 18596*1024)
	}
	if got, err := parseStatusKB(strings.NewReader(status), "VmRSS"); err != nil || got != 17000*1024 {
		t.Errorf("VmRSS = %d, %v; want %d", got, err, 17000*1024)
	}
	if _, err := parseStatusKB(strings.NewReader("Name:\tx\n"), "VmHWM"); err == nil {
		t.Error("a status without VmHWM parsed")
	}
	if _, err := parseStatusKB(strings.NewReader("VmHWM:\t12 MB\n"), "VmHWM"); err == nil {
		t.Error("a VmHWM not in kB parsed")
	}
}

// TestPeakRSSOfThisProcess reads a real /proc entry: this test's own.
func TestPeakRSSOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	got, err := peakRSS(os.Getpid())
	if err != nil || got < 1<<20 {
		t.Errorf("peakRSS(self) = %d, %v; want at least 1 MiB", got, err)
	}
}

func TestFootprintTarget(t *testing.T) {
	if got := footprintTarget(7, nil, 14_155_938); !strings.Contains(got, "**met**") || !strings.Contains(got, "13.50 MiB") {
		t.Errorf("footprintTarget(all under) = %q", got)
	}
	// 15 MB is read as 15 × 10⁶ bytes: 14.5 MiB (15.2 × 10⁶) is over.
	if got := footprintTarget(7, []string{"monitor 14.50 MiB"}, 15_204_352); !strings.Contains(got, "**not met**") || !strings.Contains(got, "1 of 7 over: monitor 14.50 MiB") {
		t.Errorf("footprintTarget(one over) = %q", got)
	}
}

func TestDescribeKinds(t *testing.T) {
	if got := describeKinds(map[string]int{"response": 10}); got != "response" {
		t.Errorf("describeKinds(all responses) = %q", got)
	}
	if got := describeKinds(map[string]int{"response": 2, "error Timeout": 8}); got != "error Timeout ×8, response ×2" {
		t.Errorf("describeKinds(mixed) = %q", got)
	}
}

func TestAnswerKind(t *testing.T) {
	if got := answerKind(lambdatest.Result{Response: []byte("{}")}); got != "response" {
		t.Errorf("answerKind(response) = %q", got)
	}
	if got := answerKind(lambdatest.Result{Error: &lambdatest.FunctionError{Type: "InvalidRollbackRequest"}}); got != "error InvalidRollbackRequest" {
		t.Errorf("answerKind(error) = %q", got)
	}
}

func TestFunctionNames(t *testing.T) {
	names, err := functionNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"capture", "configure", "monitor", "rollback", "verify"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("functionNames() = %v; want %s among them", names, want)
		}
	}
	for _, n := range names {
		if n == "internal" {
			t.Errorf("functionNames() lists functions/internal, which is no function")
		}
	}
}

func TestHarnessFatalEndsTheStep(t *testing.T) {
	h := newHarness(context.Background(), "test", t.TempDir())
	reached := false
	err := h.do(func() {
		h.Fatalf("broken: %d", 42)
		reached = true
	})
	if err == nil || err.Error() != "broken: 42" || reached {
		t.Errorf("do(Fatalf) = %v, went on after Fatal: %t; want the failure and no more", err, reached)
	}
	if !h.Failed() {
		t.Error("Failed() = false after Fatalf")
	}
	// A later step that does not fail succeeds.
	if err := h.do(func() {}); err != nil {
		t.Errorf("do(nothing) after a failure = %v; want nil", err)
	}
	if err := h.close(); err != nil {
		t.Errorf("close() = %v", err)
	}
}

func TestHarnessCleanupsRunLastFirst(t *testing.T) {
	h := newHarness(context.Background(), "test", t.TempDir())
	var order []int
	var dir string
	if err := h.do(func() {
		h.Cleanup(func() { order = append(order, 1) })
		h.Cleanup(func() { order = append(order, 2) })
		dir = h.TempDir()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("TempDir %s: %v", dir, err)
	}
	ctx := h.Context()
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Errorf("cleanups ran in order %v; want [2 1]", order)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("TempDir %s still exists after close (%v)", dir, err)
	}
	if ctx.Err() == nil {
		t.Error("Context() not done after close")
	}
}

func TestHarnessSkipFailsTheStep(t *testing.T) {
	h := newHarness(context.Background(), "test", t.TempDir())
	defer h.close()
	err := h.do(func() { h.Skip("dynalite is not installed") })
	if err == nil || !strings.Contains(err.Error(), "dynalite is not installed") {
		t.Errorf("do(Skip) = %v; want an error with the reason", err)
	}
}
