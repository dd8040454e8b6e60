package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// CheckRollbackParallel is the check of the rollback side's parallel apply.
const CheckRollbackParallel = "rollback-parallel-apply"

const titleRollbackParallel = "rollback side applies in parallel with commit order preserved"

// ParallelApplyReader reads what a cluster's DB cluster parameter group
// holds for parallel apply; *awsrds.Client implements it.
type ParallelApplyReader interface {
	// ParallelApplyPlan says whether cluster's group holds parallel apply
	// with commit order preserved and what configure would set there
	// (workers threads); writer, when not nil, is read for what it
	// reports. It changes nothing.
	ParallelApplyPlan(ctx context.Context, cluster orchestrate.Cluster, workers int, writer *replication.Server) (orchestrate.ParallelApplyPlan, error)
}

// checkParallelFrom checks the rollback side's parallel apply: with the
// RDS API, what its DB cluster parameter group holds (where configure sets
// it on AWS); without it (the CLI), what its server reports.
func checkParallelFrom(ctx context.Context, p ParallelApplyReader, side Side) Check {
	if p != nil && side.Cluster != nil {
		plan, err := p.ParallelApplyPlan(ctx, *side.Cluster, replication.DefaultParallelWorkers, side.Server)
		name := side.Cluster.ID
		if name == "" {
			name = side.name()
		}
		return checkParallelGroup(name, plan, err)
	}
	if side.Server == nil {
		return skip(CheckRollbackParallel, titleRollbackParallel, unreachableWhy("rollback", side))
	}
	s := side.Server
	ps, err := s.ParallelApply(ctx)
	running := false
	if rs, rerr := s.ReplicaStatus(ctx); rerr == nil {
		running = rs.IOThreadRunning || rs.SQLThreadRunning
	}
	return checkParallelServer(s.Dialect, s.Info, ps, err, running)
}

// checkParallelGroup judges what the rollback cluster's DB cluster
// parameter group holds: pass when it holds parallel apply with commit
// order preserved (and the writer reports it), or when configure will set
// it there with dynamic parameters before replication starts; warn when
// it cannot, or only at the writer's next reboot, with the cost.
func checkParallelGroup(cluster string, plan orchestrate.ParallelApplyPlan, err error) Check {
	c := Check{ID: CheckRollbackParallel, Title: titleRollbackParallel}
	if err != nil {
		c.Status = Warn
		c.Evidence = "could not read the rollback cluster's DB cluster parameter group for parallel apply: " + err.Error() + "; if it applies with one thread, " + replication.ParallelOneThreadCost
		c.Fix = "allow switchback rds:DescribeDBClusters and rds:DescribeDBClusterParameters, and check that cluster " + cluster + " exists"
		return c
	}
	writer := ""
	if plan.Writer != nil {
		writer = "; the writer reports " + plan.Writer.String()
	}
	switch {
	case plan.Held:
		if w := plan.Warning(); w != "" {
			c.Status, c.Evidence = Warn, w
			c.Fix = "if a static parameter waits for it (the instances' parameter group status says pending-reboot), reboot the writer of " + cluster + " in a quiet moment; otherwise remove the value set in the writer's DB parameter group, which takes precedence over the cluster group"
			return c
		}
		c.Status, c.Evidence = Pass, plan.Group+" holds "+plan.Holding()+writer
	case plan.Blocked != "":
		c.Status, c.Evidence = Warn, plan.Warning()
		c.Fix = "let the rollback cluster apply in parallel with commit order preserved (Aurora MySQL 2.12.1 or higher, or version 3, with a custom DB cluster parameter group of its own that offers the parameters), or accept one applier thread: a rollback then waits longer for the catch-up while production is fenced"
	case len(plan.Static()) > 0:
		var names []string
		for _, s := range plan.Static() {
			names = append(names, s.Name)
		}
		c.Status = Warn
		c.Evidence = fmt.Sprintf("%s holds %s%s: configure sets %s there, but %s static: it applies only at the writer's next reboot, which switchback never does; until then %s",
			plan.Group, plan.Holding(), writer, describe(plan.Changes), strings.Join(names, " and ")+isAre(len(names)), plan.Cost())
		c.Fix = fmt.Sprintf("set %s in %s and reboot the writer of %s in a quiet moment (a reboot interrupts its replication until it is up again)", describe(plan.Changes), plan.Group, cluster)
	default:
		c.Status = Pass
		c.Evidence = fmt.Sprintf("%s holds %s%s: configure sets %s there before it starts replication (dynamic: no reboot)", plan.Group, plan.Holding(), writer, describe(plan.Changes))
	}
	return c
}

func describe(cs []orchestrate.ParallelParameter) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Name+"="+c.Want)
	}
	return strings.Join(parts, ", ")
}

func isAre(n int) string {
	if n == 1 {
		return " is"
	}
	return " are"
}

// checkParallelServer judges what the rollback server reports, without
// the RDS API: pass when it applies in parallel with commit order
// preserved, or when configure will set it (a server that is not Aurora
// and does not replicate yet); warn otherwise, with the cost.
func checkParallelServer(d replication.Dialect, info replication.ServerInfo, ps replication.ParallelSettings, err error, running bool) Check {
	c := Check{ID: CheckRollbackParallel, Title: titleRollbackParallel}
	if err != nil {
		c.Status, c.Evidence = Skip, "not checked: cannot read the rollback server's parallel apply settings: "+err.Error()
		return c
	}
	probs, cost := replication.ParallelApplyProblems(d, ps)
	switch {
	case len(probs) == 0:
		c.Status, c.Evidence = Pass, "the rollback server applies with "+ps.String()
	case d.IsAurora():
		c.Status = Warn
		c.Evidence = fmt.Sprintf("%s (%s): %s; on Aurora these are DB cluster parameters, which switchback sets only through the RDS API (configure on AWS)", strings.Join(probs, "; "), ps, cost)
		c.Fix = "set the worker count (≥ 2) and commit order in the rollback cluster's DB cluster parameter group — Aurora MySQL 2: slave_parallel_workers, slave_preserve_commit_order=1, slave_parallel_type=LOGICAL_CLOCK; version 3: replica_parallel_workers, replica_preserve_commit_order=ON — then restart replication (CALL mysql.rds_stop_replication; CALL mysql.rds_start_replication)"
	case running:
		c.Status = Warn
		c.Evidence = fmt.Sprintf("%s (%s), and replication already runs, so configure leaves it as is: %s", strings.Join(probs, "; "), ps, cost)
		if sts, serr := d.ParallelApply(replication.DefaultParallelWorkers, info); serr == nil {
			var sql []string
			for _, st := range sts {
				sql = append(sql, st.Display)
			}
			c.Fix = "stop replication on the rollback server, run " + strings.Join(sql, "; ") + ", and start it again"
		}
	default:
		c.Status = Pass
		c.Evidence = fmt.Sprintf("%s now; switchback configure sets %d workers with commit order preserved before it starts replication (SET GLOBAL, not kept across a restart)", ps, replication.DefaultParallelWorkers)
	}
	return c
}

// The RDS adapter reads parallel apply for preflight.
var _ ParallelApplyReader = (*awsrds.Client)(nil)
