package preflight

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

func boolp(b bool) *bool { return &b }

func TestCheckParallelGroup(t *testing.T) {
	aurora2 := []orchestrate.ParallelParameter{{Name: "slave_parallel_workers", Value: "0"}, {Name: "slave_preserve_commit_order"}, {Name: "slave_parallel_type", Value: "DATABASE"}}
	dynamic := []orchestrate.ParallelParameter{
		{Name: "slave_parallel_type", Want: "LOGICAL_CLOCK", ApplyMethod: "immediate"},
		{Name: "slave_preserve_commit_order", Want: "1", ApplyMethod: "immediate"},
		{Name: "slave_parallel_workers", Value: "0", Want: "4", ApplyMethod: "immediate"},
	}
	static := []orchestrate.ParallelParameter{
		{Name: "slave_preserve_commit_order", Want: "1", ApplyMethod: "pending-reboot"},
		{Name: "slave_parallel_workers", Value: "0", Want: "4", ApplyMethod: "pending-reboot"},
	}
	held := []orchestrate.ParallelParameter{{Name: "replica_parallel_workers", Value: "4"}, {Name: "replica_preserve_commit_order", Value: "ON"}}
	base := orchestrate.ParallelApplyPlan{Cluster: "orders-prod-old1", Group: "orders-old1-params", Workers: 4, WriterDialect: replication.AuroraMySQL2}
	with := func(f func(*orchestrate.ParallelApplyPlan)) orchestrate.ParallelApplyPlan {
		p := base
		f(&p)
		return p
	}
	for _, tc := range []struct {
		name   string
		plan   orchestrate.ParallelApplyPlan
		err    error
		status Status
		want   []string // in the evidence
		fix    string
	}{
		{"held and reported", with(func(p *orchestrate.ParallelApplyPlan) {
			p.Parameters, p.Held, p.WriterDialect = held, true, replication.AuroraMySQL3
			p.Writer = &replication.ParallelSettings{Workers: 4, PreserveCommitOrder: boolp(true)}
		}), nil, Pass, []string{"orders-old1-params holds replica_parallel_workers=4, replica_preserve_commit_order=ON; the writer reports 4 workers"}, ""},
		{"held, the writer still on one thread", with(func(p *orchestrate.ParallelApplyPlan) {
			p.Parameters, p.Held, p.WriterDialect = held, true, replication.AuroraMySQL3
			p.Writer = &replication.ParallelSettings{Workers: 0, PreserveCommitOrder: boolp(true)}
		}), nil, Warn, []string{"but its writer reports 0 workers", replication.ParallelOneThreadCost}, "pending-reboot"},
		{"configure sets it, dynamic", with(func(p *orchestrate.ParallelApplyPlan) { p.Parameters, p.Changes = aurora2, dynamic }), nil, Pass,
			[]string{"orders-old1-params holds slave_parallel_workers=0, slave_preserve_commit_order=(engine default), slave_parallel_type=DATABASE: configure sets slave_parallel_type=LOGICAL_CLOCK, slave_preserve_commit_order=1, slave_parallel_workers=4 there before it starts replication (dynamic: no reboot)"}, ""},
		{"configure sets it, static", with(func(p *orchestrate.ParallelApplyPlan) { p.Parameters, p.Changes = aurora2, static }), nil, Warn,
			[]string{"slave_preserve_commit_order and slave_parallel_workers are static: it applies only at the writer's next reboot", replication.ParallelOneThreadCost}, "reboot the writer of orders-prod-old1"},
		{"blocked: Aurora 2.11", with(func(p *orchestrate.ParallelApplyPlan) {
			p.Parameters, p.Blocked = aurora2, "Aurora MySQL 2.11.5 applies binlog replication with one thread"
		}), nil, Warn, []string{"does not hold parallel apply", "switchback cannot set it: Aurora MySQL 2.11.5", replication.ParallelOneThreadCost}, "accept one applier thread"},
		{"blocked, the writer applies out of commit order", with(func(p *orchestrate.ParallelApplyPlan) {
			p.Parameters, p.Blocked = aurora2, "slave_preserve_commit_order is not modifiable"
			p.Writer = &replication.ParallelSettings{Workers: 8, Type: "LOGICAL_CLOCK", PreserveCommitOrder: boolp(false)}
		}), nil, Warn, []string{replication.ParallelCommitOrderCost}, ""},
		{"unreadable", base, errors.New("AccessDenied"), Warn, []string{"could not read", "AccessDenied", replication.ParallelOneThreadCost}, "rds:DescribeDBClusterParameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := checkParallelGroup("orders-prod-old1", tc.plan, tc.err)
			if c.ID != CheckRollbackParallel || c.Status != tc.status {
				t.Errorf("%s %s; want %s: %s", c.ID, c.Status, tc.status, c.Evidence)
			}
			for _, w := range tc.want {
				if !strings.Contains(c.Evidence, w) {
					t.Errorf("evidence lacks %q:\n%s", w, c.Evidence)
				}
			}
			if !strings.Contains(c.Fix, tc.fix) {
				t.Errorf("fix %q lacks %q", c.Fix, tc.fix)
			}
		})
	}
}

func TestCheckParallelServer(t *testing.T) {
	mysql8 := replication.ServerInfo{Version: "8.0.39"}
	for _, tc := range []struct {
		name    string
		d       replication.Dialect
		ps      replication.ParallelSettings
		err     error
		running bool
		status  Status
		want    string
		fix     string
	}{
		{"mariadb parallel", replication.MariaDB, replication.ParallelSettings{Workers: 4, Mode: "optimistic"}, nil, false, Pass, "applies with 4 workers, mode optimistic", ""},
		{"mariadb one thread, not replicating: configure sets it", replication.MariaDB, replication.ParallelSettings{Workers: 0, Mode: "optimistic"}, nil, false, Pass, "configure sets 4 workers with commit order preserved before it starts replication", ""},
		{"mysql one thread, replicating", replication.MySQL, replication.ParallelSettings{Workers: 1, PreserveCommitOrder: boolp(true)}, nil, true, Warn, replication.ParallelOneThreadCost,
			"SET GLOBAL replica_preserve_commit_order = ON"},
		{"mysql out of commit order, replicating", replication.MySQL, replication.ParallelSettings{Workers: 4, PreserveCommitOrder: boolp(false)}, nil, true, Warn, replication.ParallelCommitOrderCost, "stop replication"},
		{"aurora one thread", replication.AuroraMySQL3, replication.ParallelSettings{Workers: 0, PreserveCommitOrder: boolp(true)}, nil, false, Warn, "DB cluster parameters, which switchback sets only through the RDS API", "replica_parallel_workers"},
		{"unreadable", replication.MySQL, replication.ParallelSettings{}, errors.New("denied"), false, Skip, "denied", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := checkParallelServer(tc.d, mysql8, tc.ps, tc.err, tc.running)
			if c.Status != tc.status || !strings.Contains(c.Evidence, tc.want) || !strings.Contains(c.Fix, tc.fix) {
				t.Errorf("%s %q (fix %q); want %s with %q (fix %q)", c.Status, c.Evidence, c.Fix, tc.status, tc.want, tc.fix)
			}
		})
	}
}
