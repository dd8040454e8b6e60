package main

import (
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/sandbox"
)

func TestMonitorVerdict(t *testing.T) {
	if got := monitorVerdict([]float64{430, 805, 420}); !strings.Contains(got, "**met**") || !strings.Contains(got, "median 430 ms") {
		t.Errorf("monitorVerdict(fast) = %q", got)
	}
	if got := monitorVerdict([]float64{6000, 7000, 5200}); !strings.Contains(got, "**not met**") {
		t.Errorf("monitorVerdict(slow) = %q", got)
	}
	if got := monitorVerdict(nil); !strings.Contains(got, "not measured") {
		t.Errorf("monitorVerdict(quick) = %q", got)
	}
}

func TestDescribeReady(t *testing.T) {
	if got := describeReady(map[int]int{16: 5}, 16); got != "16/16" {
		t.Errorf("describeReady(all) = %q", got)
	}
	if got := describeReady(map[int]int{16: 4, 15: 1}, 16); got != "15/16 in 1 passes, 16/16 in 4 passes" {
		t.Errorf("describeReady(mixed) = %q", got)
	}
}

func TestMonitorPairClusters(t *testing.T) {
	p := &monitorPair{index: 2,
		blue:  &sandbox.Server{Host: "127.0.0.1", Port: 4001},
		green: &sandbox.Server{Host: "127.0.0.1", Port: 4002}}
	prod, rb := p.clusters()
	if prod.ID != "bench-prod-03" || rb.ID != "bench-prod-03-old1" {
		t.Errorf("cluster ids %q, %q; want bench-prod-03 and bench-prod-03-old1", prod.ID, rb.ID)
	}
	// Green is production after the switchover; blue is the rollback cluster.
	if prod.Port != 4002 || rb.Port != 4001 {
		t.Errorf("production port %d, rollback port %d; want green's 4002, blue's 4001", prod.Port, rb.Port)
	}
	if prod.ParameterGroup == rb.ParameterGroup || strings.HasPrefix(prod.ParameterGroup, "default.") {
		t.Errorf("parameter groups %q, %q: each cluster needs its own custom group, or the fence check refuses", prod.ParameterGroup, rb.ParameterGroup)
	}
	if d := p.deployment(); d != "bgd-benchpair03" {
		t.Errorf("deployment() = %q", d)
	}
}
