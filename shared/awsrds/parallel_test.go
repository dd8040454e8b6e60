package awsrds

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

func TestParseEngineVersion(t *testing.T) {
	for in, want := range map[string]engineVersion{
		"5.7.mysql_aurora.2.12.1": {mysql: "5.7", aurora: [3]int{2, 12, 1}},
		"5.7.mysql_aurora.2.11.5": {mysql: "5.7", aurora: [3]int{2, 11, 5}},
		"8.0.mysql_aurora.3.08.0": {mysql: "8.0", aurora: [3]int{3, 8, 0}},
		"8.0.mysql_aurora.3.02.2": {mysql: "8.0", aurora: [3]int{3, 2, 2}},
		"8.4.7":                   {mysql: "8.4"},
		"":                        {},
		"garbage":                 {},
	} {
		if got := parseEngineVersion(in); got != want {
			t.Errorf("%q → %+v; want %+v", in, got, want)
		}
	}
}

func TestAllowsAndOnWord(t *testing.T) {
	for _, tc := range []struct {
		allowed, value string
		want           bool
	}{
		{"", "4", true}, {"0-1024", "4", true}, {"0-1024", "1025", false}, {"0-1024", "x", false},
		{"0,1", "1", true}, {"0,1", "ON", false}, {"DATABASE,LOGICAL_CLOCK", "logical_clock", true},
		{"DATABASE, LOGICAL_CLOCK", "LOGICAL_CLOCK", true}, {"weird", "1", false},
	} {
		if got := allows(tc.allowed, tc.value); got != tc.want {
			t.Errorf("allows(%q, %q) = %v; want %v", tc.allowed, tc.value, got, tc.want)
		}
	}
	for _, tc := range []struct{ allowed, preferred, want string }{
		{"0,1", "ON", "1"}, {"0,1", "1", "1"}, {"OFF,ON", "1", "ON"}, {"", "ON", "ON"}, {"", "1", "1"}, {"0-1", "ON", "ON"},
	} {
		if got := onWord(tc.allowed, tc.preferred); got != tc.want {
			t.Errorf("onWord(%q, %q) = %q; want %q", tc.allowed, tc.preferred, got, tc.want)
		}
	}
}

// dyn and static build group parameters for the planner's table.
func dyn(name, value, allowed string) groupParameter {
	return groupParameter{Name: name, Value: value, ApplyType: "dynamic", AllowedValues: allowed, Modifiable: true}
}

func static(name, value, allowed string) groupParameter {
	p := dyn(name, value, allowed)
	p.ApplyType = "static"
	return p
}

func group(ps ...groupParameter) map[string]groupParameter {
	m := map[string]groupParameter{"read_only": dyn("read_only", "1", "0,1")}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

func on() *bool  { b := true; return &b }
func off() *bool { b := false; return &b }

// The planner for every Aurora version and group shape: which parameters,
// which values, which apply method — and never more workers without
// commit order preserved.
func TestPlanParallelApply(t *testing.T) {
	const v2, v2old, v3, v3early = "5.7.mysql_aurora.2.12.1", "5.7.mysql_aurora.2.11.5", "8.0.mysql_aurora.3.08.0", "8.0.mysql_aurora.3.02.2"
	v2defaults := group(dyn("slave_parallel_workers", "0", "0-1024"), dyn("slave_parallel_type", "DATABASE", "DATABASE,LOGICAL_CLOCK"), dyn("slave_preserve_commit_order", "", "0,1"))
	v3defaults := group(dyn("replica_parallel_workers", "", "0-1024"), dyn("replica_preserve_commit_order", "", "0,1"))
	type change = [3]string // name, want, apply method
	for _, tc := range []struct {
		name    string
		version string
		params  map[string]groupParameter
		workers int
		writer  *replication.ParallelSettings
		refused error
		held    bool
		changes []change
		blocked string // substring
	}{
		{name: "aurora 2 defaults: type, commit order, then workers, all immediate", version: v2, params: v2defaults, workers: 4,
			changes: []change{{"slave_parallel_type", "LOGICAL_CLOCK", "immediate"}, {"slave_preserve_commit_order", "1", "immediate"}, {"slave_parallel_workers", "4", "immediate"}}},
		{name: "aurora 2 already set", version: v2, workers: 4, held: true,
			params: group(dyn("slave_parallel_workers", "8", "0-1024"), dyn("slave_parallel_type", "LOGICAL_CLOCK", ""), dyn("slave_preserve_commit_order", "1", "0,1"))},
		{name: "aurora 2 only workers missing", version: v2, workers: 4,
			params:  group(dyn("slave_parallel_workers", "1", "0-1024"), dyn("slave_parallel_type", "LOGICAL_CLOCK", ""), dyn("slave_preserve_commit_order", "ON", "")),
			changes: []change{{"slave_parallel_workers", "4", "immediate"}}},
		{name: "aurora 2 static commit order: workers wait for the same reboot", version: v2, workers: 4,
			params:  group(dyn("slave_parallel_workers", "0", "0-1024"), dyn("slave_parallel_type", "LOGICAL_CLOCK", ""), static("slave_preserve_commit_order", "0", "0,1")),
			changes: []change{{"slave_preserve_commit_order", "1", "pending-reboot"}, {"slave_parallel_workers", "4", "pending-reboot"}}},
		{name: "aurora 2 static workers only", version: v2, workers: 4,
			params:  group(static("slave_parallel_workers", "0", "0-1024"), dyn("slave_parallel_type", "LOGICAL_CLOCK", ""), dyn("slave_preserve_commit_order", "1", "0,1")),
			changes: []change{{"slave_parallel_workers", "4", "pending-reboot"}}},
		{name: "aurora 2 commit order in the group, writer not yet: workers wait for the reboot", version: v2, workers: 4,
			params:  group(dyn("slave_parallel_workers", "0", ""), dyn("slave_parallel_type", "LOGICAL_CLOCK", ""), dyn("slave_preserve_commit_order", "1", "")),
			writer:  &replication.ParallelSettings{Workers: 0, Type: "LOGICAL_CLOCK", PreserveCommitOrder: off()},
			changes: []change{{"slave_parallel_workers", "4", "pending-reboot"}}},
		{name: "aurora 2 group without commit order: workers not raised", version: v2, workers: 4,
			params:  group(dyn("slave_parallel_workers", "0", "0-1024"), dyn("slave_parallel_type", "DATABASE", "")),
			blocked: "has no slave_preserve_commit_order parameter, and switchback does not apply in parallel without commit order preserved"},
		{name: "aurora 2 group without parallel type", version: v2, workers: 4,
			params:  group(dyn("slave_parallel_workers", "0", "0-1024"), dyn("slave_preserve_commit_order", "", "0,1")),
			blocked: "has no slave_parallel_type parameter, which commit order needs set to LOGICAL_CLOCK"},
		{name: "aurora 2 commit order not modifiable", version: v2, workers: 4,
			params:  group(dyn("slave_parallel_workers", "0", ""), dyn("slave_parallel_type", "DATABASE", ""), groupParameter{Name: "slave_preserve_commit_order", ApplyType: "dynamic"}),
			blocked: "slave_preserve_commit_order is not modifiable"},
		{name: "aurora 2 before 2.12.1: no multithreaded binlog replication", version: v2old, params: v2defaults, workers: 4,
			blocked: "needs Aurora MySQL 2.12.1 or higher"},
		{name: "aurora 2 worker count outside the allowed range", version: v2, workers: 64,
			params:  group(dyn("slave_parallel_workers", "0", "0-32"), dyn("slave_parallel_type", "LOGICAL_CLOCK", ""), dyn("slave_preserve_commit_order", "1", "")),
			blocked: "slave_parallel_workers allows 0-32"},
		{name: "aurora 3 defaults", version: v3, params: v3defaults, workers: 4,
			changes: []change{{"replica_preserve_commit_order", "1", "immediate"}, {"replica_parallel_workers", "4", "immediate"}}},
		{name: "aurora 3 commit order allowed as ON/OFF", version: v3, workers: 4,
			params:  group(dyn("replica_parallel_workers", "4", "0-1024"), dyn("replica_preserve_commit_order", "OFF", "OFF,ON")),
			changes: []change{{"replica_preserve_commit_order", "ON", "immediate"}}},
		{name: "aurora 3 already set", version: v3, workers: 4, held: true,
			params: group(dyn("replica_parallel_workers", "16", ""), dyn("replica_preserve_commit_order", "ON", ""))},
		{name: "aurora 3 lists the parallel type: LOGICAL_CLOCK too", version: v3, workers: 4,
			params:  group(dyn("replica_parallel_workers", "4", ""), dyn("replica_preserve_commit_order", "1", ""), dyn("replica_parallel_type", "DATABASE", "")),
			changes: []change{{"replica_parallel_type", "LOGICAL_CLOCK", "immediate"}}},
		{name: "aurora 3 parallel type left to a default it cannot change", version: v3, workers: 4, held: true,
			params: group(dyn("replica_parallel_workers", "4", ""), dyn("replica_preserve_commit_order", "1", ""), groupParameter{Name: "replica_parallel_type", ApplyType: "dynamic"})},
		{name: "aurora 3.02 (MySQL 8.0.23) with slave_* names", version: v3early, workers: 4,
			params:  group(dyn("slave_parallel_workers", "0", ""), dyn("slave_preserve_commit_order", "0", ""), dyn("slave_parallel_type", "DATABASE", "")),
			changes: []change{{"slave_parallel_type", "LOGICAL_CLOCK", "immediate"}, {"slave_preserve_commit_order", "ON", "immediate"}, {"slave_parallel_workers", "4", "immediate"}}},
		{name: "aurora 3.02 without a parallel type in the group", version: v3early, workers: 4,
			params:  group(dyn("replica_parallel_workers", "0", ""), dyn("replica_preserve_commit_order", "0", "")),
			blocked: "has no replica_parallel_type parameter"},
		{name: "aurora 3 group without the worker count", version: v3, workers: 4,
			params:  group(dyn("replica_preserve_commit_order", "1", "")),
			blocked: "has no replica_parallel_workers parameter"},
		{name: "a shared group is read but not changed", version: v3, params: v3defaults, workers: 4,
			refused: fmt.Errorf("%w: group is also used by billing", ErrFenceRefused), blocked: "also used by billing"},
		{name: "a shared group that already holds it", version: v3, workers: 4, held: true,
			params:  group(dyn("replica_parallel_workers", "4", ""), dyn("replica_preserve_commit_order", "ON", "")),
			refused: fmt.Errorf("%w: group is also used by billing", ErrFenceRefused)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planParallelApply(parallelInput{Cluster: "orders-prod-old1", Group: "orders-old1-params", EngineVersion: tc.version,
				Params: tc.params, Workers: tc.workers, Writer: tc.writer, WriterDialect: replication.AuroraMySQL2, Refused: tc.refused})
			if p.Held != tc.held {
				t.Errorf("held %v; want %v (%+v)", p.Held, tc.held, p)
			}
			var got []change
			for _, c := range p.Changes {
				got = append(got, change{c.Name, c.Want, c.ApplyMethod})
			}
			if !reflect.DeepEqual(got, tc.changes) {
				t.Errorf("changes %v; want %v", got, tc.changes)
			}
			if tc.blocked == "" && p.Blocked != "" || tc.blocked != "" && !strings.Contains(p.Blocked, tc.blocked) {
				t.Errorf("blocked %q; want %q", p.Blocked, tc.blocked)
			}
			// Never: workers applied ahead of commit order.
			method := map[string]string{}
			for _, c := range p.Changes {
				method[c.Name] = c.ApplyMethod
			}
			for name, m := range method {
				if strings.HasSuffix(name, "_parallel_workers") && m == "immediate" {
					for other, om := range method {
						if other != name && om != "immediate" {
							t.Errorf("workers immediate while %s waits for a reboot", other)
						}
					}
				}
			}
			if len(p.Parameters) == 0 || !strings.HasSuffix(p.Parameters[0].Name, "_parallel_workers") && tc.blocked == "" {
				t.Errorf("parameters %+v; want the worker count first", p.Parameters)
			}
		})
	}
}

// The plan's wording: what the group holds, what it costs, what to do.
func TestParallelPlanWording(t *testing.T) {
	p := planParallelApply(parallelInput{Cluster: "orders-prod-old1", Group: "orders-old1-params", EngineVersion: "5.7.mysql_aurora.2.12.1",
		Params: group(dyn("slave_parallel_workers", "0", ""), dyn("slave_parallel_type", "DATABASE", ""), dyn("slave_preserve_commit_order", "", "")), Workers: 4,
		Writer: &replication.ParallelSettings{Workers: 0, Type: "DATABASE", PreserveCommitOrder: off()}, WriterDialect: replication.AuroraMySQL2})
	w := p.Warning()
	for _, want := range []string{
		"rollback cluster orders-prod-old1's DB cluster parameter group orders-old1-params does not hold parallel apply with commit order preserved",
		"slave_parallel_workers=0, slave_preserve_commit_order=(engine default), slave_parallel_type=DATABASE",
		"the writer reports 0 workers, type DATABASE, commit order preserved OFF",
		replication.ParallelOneThreadCost,
		"set slave_parallel_type=LOGICAL_CLOCK (was DATABASE, immediate), slave_preserve_commit_order=1 (was (engine default), immediate), slave_parallel_workers=4 (was 0, immediate) in orders-old1-params (dynamic: no reboot), then restart replication",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warning lacks %q:\n%s", want, w)
		}
	}
	// The writer applies in parallel out of commit order: that cost.
	p.Writer = &replication.ParallelSettings{Workers: 4, Type: "LOGICAL_CLOCK", PreserveCommitOrder: off()}
	if w := p.Warning(); !strings.Contains(w, replication.ParallelCommitOrderCost) {
		t.Errorf("warning does not give the commit-order cost:\n%s", w)
	}
	held := planParallelApply(parallelInput{Cluster: "c", Group: "g", EngineVersion: "8.0.mysql_aurora.3.08.0", Workers: 4,
		Params: group(dyn("replica_parallel_workers", "4", ""), dyn("replica_preserve_commit_order", "ON", "")),
		Writer: &replication.ParallelSettings{Workers: 4, PreserveCommitOrder: on()}, WriterDialect: replication.AuroraMySQL3})
	if w := held.Warning(); w != "" {
		t.Errorf("held and reported: warning %q", w)
	}
	held.Writer = &replication.ParallelSettings{Workers: 1, PreserveCommitOrder: on()}
	if w := held.Warning(); !strings.Contains(w, "holds parallel apply with commit order preserved") || !strings.Contains(w, "takes precedence over the cluster group") {
		t.Errorf("held but not reported: warning %q", w)
	}
}

// parallelFixture is cluster orders-prod-old1 (Aurora 2.12.1) with its
// own group listing the Aurora 2 parallel-apply parameters, paged two at
// a time; the writer is not read (nil).
func parallelFixture(t *testing.T, version string, params ...awsfake.RDSGroupParameter) (*awsfake.RDS, *ParameterGroupFencer) {
	t.Helper()
	f, c, _ := newTest(t)
	f.PageSize = 2
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod-old1", EngineVersion: version, ParameterGroup: "orders-old1-params",
		Members: []awsfake.RDSClusterMember{{Instance: "orders-prod-instance-1-old1", Writer: true}}})
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod", ParameterGroup: "orders-prod-80"})
	f.AddParameterGroup("orders-old1-params", map[string]string{"read_only": "1", "binlog_format": "ROW"})
	f.DefineParameters("orders-old1-params", params...)
	return f, &ParameterGroupFencer{client: c, cluster: orchestrate.Cluster{ID: "orders-prod-old1"}}
}

var aurora2Params = []awsfake.RDSGroupParameter{
	{Name: "slave_parallel_workers", Value: "0", AllowedValues: "0-1024"},
	{Name: "slave_parallel_type", Value: "DATABASE", AllowedValues: "DATABASE,LOGICAL_CLOCK"},
	{Name: "slave_preserve_commit_order", AllowedValues: "0,1"},
}

// Through the real SDK and the fake's wire format: the plan reads every
// page, one ModifyDBClusterParameterGroup sets the three parameters, the
// group reads back, and a second plan finds it held and changes nothing.
func TestParallelApplyOverTheWire(t *testing.T) {
	f, fe := parallelFixture(t, "5.7.mysql_aurora.2.12.1", aurora2Params...)
	plan, err := fe.PlanParallelApply(t.Context(), 4)
	if err != nil || plan.Held || plan.Blocked != "" || len(plan.Changes) != 3 || plan.Group != "orders-old1-params" || plan.EngineVersion != "5.7.mysql_aurora.2.12.1" {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	if n := len(f.Calls("DescribeDBClusterParameters")); n != 3 { // 5 parameters, 2 a page
		t.Errorf("%d DescribeDBClusterParameters pages; want 3", n)
	}
	if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Fatalf("planning modified the group %d times", n)
	}
	after, err := fe.ApplyParallelApply(t.Context(), plan)
	if err != nil || !after.Held {
		t.Fatalf("apply: %+v, %v", after, err)
	}
	calls := f.Calls("ModifyDBClusterParameterGroup")
	if len(calls) != 1 {
		t.Fatalf("%d ModifyDBClusterParameterGroup calls; want 1", len(calls))
	}
	form := calls[0].Params
	want := map[string]string{
		"DBClusterParameterGroupName":           "orders-old1-params",
		"Parameters.Parameter.1.ParameterName":  "slave_parallel_type",
		"Parameters.Parameter.1.ParameterValue": "LOGICAL_CLOCK",
		"Parameters.Parameter.1.ApplyMethod":    "immediate",
		"Parameters.Parameter.2.ParameterName":  "slave_preserve_commit_order",
		"Parameters.Parameter.2.ParameterValue": "1",
		"Parameters.Parameter.3.ParameterName":  "slave_parallel_workers",
		"Parameters.Parameter.3.ParameterValue": "4",
		"Parameters.Parameter.3.ApplyMethod":    "immediate",
	}
	for k, v := range want {
		if form.Get(k) != v {
			t.Errorf("%s = %q; want %q", k, form.Get(k), v)
		}
	}
	if g := f.ParameterGroup("orders-old1-params"); g["slave_parallel_workers"] != "4" || g["slave_preserve_commit_order"] != "1" || g["slave_parallel_type"] != "LOGICAL_CLOCK" || g["read_only"] != "1" {
		t.Errorf("group holds %v", g)
	}
	again, err := fe.PlanParallelApply(t.Context(), 4)
	if err != nil || !again.Held || len(again.Changes) != 0 || again.Holding() != "slave_parallel_workers=4, slave_preserve_commit_order=1, slave_parallel_type=LOGICAL_CLOCK" {
		t.Fatalf("second plan %+v (%s), %v", again, again.Holding(), err)
	}
	if _, err := fe.ApplyParallelApply(t.Context(), again); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 1 {
		t.Errorf("idempotence: %d ModifyDBClusterParameterGroup calls; want still 1", n)
	}
	if f.PendingReboot("orders-old1-params") {
		t.Error("dynamic changes left the group pending a reboot")
	}
}

// A static commit-order parameter: both it and the worker count are set
// pending-reboot, nothing is rebooted, and the instances report
// pending-reboot — which the fence still counts as applied.
func TestParallelApplyStaticWaitsForReboot(t *testing.T) {
	params := append([]awsfake.RDSGroupParameter(nil), aurora2Params...)
	params[2].ApplyType = "static"
	f, fe := parallelFixture(t, "5.7.mysql_aurora.2.12.1", params...)
	plan, err := fe.PlanParallelApply(t.Context(), 4)
	if err != nil {
		t.Fatal(err)
	}
	after, err := fe.ApplyParallelApply(t.Context(), plan)
	if err != nil || len(after.Static()) != 2 || after.Static()[1].Name != "slave_parallel_workers" {
		t.Fatalf("apply: %+v, %v; want the commit order and the worker count pending a reboot", after, err)
	}
	form := f.Calls("ModifyDBClusterParameterGroup")[0].Params
	if form.Get("Parameters.Parameter.2.ApplyMethod") != "pending-reboot" || form.Get("Parameters.Parameter.3.ApplyMethod") != "pending-reboot" || form.Get("Parameters.Parameter.1.ApplyMethod") != "immediate" {
		t.Errorf("apply methods %v", form)
	}
	if !f.PendingReboot("orders-old1-params") {
		t.Error("the fake does not report the pending reboot")
	}
	list, err := fe.client.describeClusters(t.Context(), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("orders-prod-old1")})
	if err != nil || len(list) != 1 || len(list[0].DBClusterMembers) != 1 || aws.ToString(list[0].DBClusterMembers[0].DBClusterParameterGroupStatus) != "pending-reboot" {
		t.Errorf("instances after a pending-reboot change: %+v, %v", list, err)
	}
	if n := len(f.Calls("RebootDBCluster")) + len(f.Calls("RebootDBInstance")); n != 0 {
		t.Errorf("%d reboots", n)
	}
}

// What the adapter refuses to plan or change.
func TestParallelApplyRefusals(t *testing.T) {
	t.Run("shared group: read, blocked, never modified", func(t *testing.T) {
		f, fe := parallelFixture(t, "5.7.mysql_aurora.2.12.1", aurora2Params...)
		f.AddCluster(awsfake.RDSCluster{ID: "billing", ParameterGroup: "orders-old1-params"})
		plan, err := fe.PlanParallelApply(t.Context(), 4)
		if err != nil || !strings.Contains(plan.Blocked, "also used by billing") || len(plan.Changes) != 0 {
			t.Fatalf("plan %+v, %v", plan, err)
		}
		if _, err := fe.ApplyParallelApply(t.Context(), plan); err == nil {
			t.Error("a blocked plan was applied")
		}
		if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 0 {
			t.Errorf("%d modifications of a shared group", n)
		}
	})
	t.Run("group changed since the plan", func(t *testing.T) {
		f, fe := parallelFixture(t, "5.7.mysql_aurora.2.12.1", aurora2Params...)
		plan, err := fe.PlanParallelApply(t.Context(), 4)
		if err != nil {
			t.Fatal(err)
		}
		f.AddCluster(awsfake.RDSCluster{ID: "orders-prod-old1", ParameterGroup: "orders-old1-params-v2"})
		f.AddParameterGroup("orders-old1-params-v2", map[string]string{"read_only": "1"})
		if _, err := fe.ApplyParallelApply(t.Context(), plan); err == nil || !strings.Contains(err.Error(), "orders-old1-params-v2") {
			t.Errorf("apply after the group changed: %v", err)
		}
		if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 0 {
			t.Errorf("%d modifications", n)
		}
	})
	t.Run("cluster gone", func(t *testing.T) {
		f, fe := parallelFixture(t, "5.7.mysql_aurora.2.12.1", aurora2Params...)
		f.RemoveCluster("orders-prod-old1")
		if _, err := fe.PlanParallelApply(t.Context(), 4); !errors.Is(err, orchestrate.ErrNotFound) {
			t.Errorf("plan of a missing cluster: %v", err)
		}
	})
	t.Run("worker count out of range", func(t *testing.T) {
		_, fe := parallelFixture(t, "5.7.mysql_aurora.2.12.1", aurora2Params...)
		if _, err := fe.PlanParallelApply(t.Context(), 1); err == nil {
			t.Error("1 worker accepted")
		}
	})
	t.Run("RDS refuses the change: an error, the group unchanged", func(t *testing.T) {
		f, fe := parallelFixture(t, "5.7.mysql_aurora.2.12.1", aurora2Params...)
		plan, err := fe.PlanParallelApply(t.Context(), 4)
		if err != nil {
			t.Fatal(err)
		}
		f.FailNext("ModifyDBClusterParameterGroup", 1, awsfake.RDSAccessDenied("ModifyDBClusterParameterGroup"))
		if _, err := fe.ApplyParallelApply(t.Context(), plan); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("apply: %v", err)
		}
		if g := f.ParameterGroup("orders-old1-params"); g["slave_parallel_workers"] != "0" {
			t.Errorf("group %v", g)
		}
	})
}

// Client.ParallelApplyPlan is the fencer's plan without a fencer
// (preflight's reader).
func TestClientParallelApplyPlan(t *testing.T) {
	f, fe := parallelFixture(t, "8.0.mysql_aurora.3.08.0",
		awsfake.RDSGroupParameter{Name: "replica_parallel_workers", Value: "4", AllowedValues: "0-1024"},
		awsfake.RDSGroupParameter{Name: "replica_preserve_commit_order", Value: "ON", AllowedValues: "OFF,ON"})
	_ = f
	plan, err := fe.client.ParallelApplyPlan(t.Context(), orchestrate.Cluster{ID: "orders-prod-old1"}, 4, nil)
	if err != nil || !plan.Held || plan.Writer != nil {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	if _, err := fe.client.ParallelApplyPlan(t.Context(), orchestrate.Cluster{}, 4, nil); err == nil {
		t.Error("a cluster with no identifier accepted")
	}
}

// What the writer must report before an immediate change counts as applied;
// a change pending a reboot is not waited for.
func TestReportsImmediate(t *testing.T) {
	changes := []orchestrate.ParallelParameter{
		{Name: "slave_parallel_type", Want: "LOGICAL_CLOCK", ApplyMethod: "immediate"},
		{Name: "slave_preserve_commit_order", Want: "1", ApplyMethod: "immediate"},
		{Name: "slave_parallel_workers", Want: "4", ApplyMethod: "immediate"},
	}
	pending := append([]orchestrate.ParallelParameter(nil), changes...)
	pending[2].ApplyMethod = "pending-reboot"
	for _, tc := range []struct {
		name    string
		ps      replication.ParallelSettings
		changes []orchestrate.ParallelParameter
		want    bool
	}{
		{"all applied", replication.ParallelSettings{Workers: 4, Type: "LOGICAL_CLOCK", PreserveCommitOrder: on()}, changes, true},
		{"mariadb: no type or commit order read", replication.ParallelSettings{Workers: 4, Mode: "optimistic"}, changes, true},
		{"workers not yet", replication.ParallelSettings{Workers: 0, Type: "LOGICAL_CLOCK", PreserveCommitOrder: on()}, changes, false},
		{"commit order not yet", replication.ParallelSettings{Workers: 4, Type: "LOGICAL_CLOCK", PreserveCommitOrder: off()}, changes, false},
		{"type not yet", replication.ParallelSettings{Workers: 4, Type: "DATABASE", PreserveCommitOrder: on()}, changes, false},
		{"workers pending a reboot", replication.ParallelSettings{Workers: 0, Type: "LOGICAL_CLOCK", PreserveCommitOrder: on()}, pending, true},
	} {
		if got := reportsImmediate(tc.ps, tc.changes); got != tc.want {
			t.Errorf("%s: %v; want %v", tc.name, got, tc.want)
		}
	}
}
