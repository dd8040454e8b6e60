package orchestrate

import (
	"strings"
	"testing"
)

func TestMatchesSource(t *testing.T) {
	d := Deployment{
		ID:            "bgd-1",
		Production:    Cluster{ID: "orders-prod", Instances: []string{"orders-prod-instance-1", "orders-prod-instance-2"}},
		Rollback:      Cluster{ID: "orders-prod-old1", Instances: []string{"orders-prod-instance-1-old1"}},
		TargetMembers: []string{"orders-prod", "orders-prod-instance-1", "orders-prod-instance-2"},
	}
	cases := map[string]bool{
		"orders-prod":                         true,  // cluster event, after the rename
		"orders-prod-instance-1":              true,  // instance, after the rename
		"orders-prod-instance-1-green-8kq2zt": true,  // instance, under its green name (aws-facts §2)
		"orders-prod-green-3rnukl":            true,  // cluster, under its green name
		"orders-prod-old1":                    false, // the old cluster never sends the new production's coordinates
		"orders-prod-instance-1-old1":         false,
		"billing-prod":                        false,
		"billing-prod-green-3rnukl":           false,
		"orders-prod-instance-3":              false,
	}
	for src, want := range cases {
		if got := matchesSource(d, src); got != want {
			t.Errorf("matchesSource(%q) = %v; want %v", src, got, want)
		}
	}
}

func TestMissing(t *testing.T) {
	got := missing(Record{Status: "SWITCHOVER_IN_PROGRESS"})
	for _, want := range []string{"the clusters", "a completed switchover (status SWITCHOVER_IN_PROGRESS)", "the binlog coordinates"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing = %q; want %q in it", got, want)
		}
	}
	c := Cluster{ID: "x"}
	rec := Record{Production: &c, Rollback: &c, Status: StatusSwitchoverCompleted, Coords: &Coordinates{File: "f.1", Position: 4}}
	if !ready(rec) {
		t.Errorf("a complete record is not ready: %s", missing(rec))
	}
}
