package awsrds

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// Defaults of ParameterGroupFencer's tunables.
const (
	DefaultFencePollInterval = 2 * time.Second
	DefaultFenceTimeout      = 5 * time.Minute
	// fenceProgressEvery is how often a wait logs that it is still waiting.
	fenceProgressEvery = 15 * time.Second
)

// ErrFenceRefused: the parameter-group fencer will not act on the cluster
// (default or shared DB cluster parameter group). Nothing was changed.
// It wraps replication.ErrRefused: callers that branch on a refusal (as
// opposed to a failure worth retrying) need no AWS import.
var ErrFenceRefused = fmt.Errorf("%w: parameter-group fence", replication.ErrRefused)

// readOnlyParameter is the DB cluster parameter behind the fence: "for a
// permanent change use the read_only DB cluster parameter" (aws-facts §3,
// mysql.rds_set_read_only); it is applied with ApplyMethod immediate
// (aws-facts §5: immediate works for dynamic parameters; read_only shown
// dynamic in practice by the mixi runbook, aws-facts §5/§7).
const readOnlyParameter = "read_only"

// ParameterGroupFencer fences one Aurora cluster through the read_only
// parameter of its DB cluster parameter group
// (ModifyDBClusterParameterGroup, ApplyMethod immediate), which survives
// failovers and reboots — unlike mysql.rds_set_read_only, which "does not
// persist across reboot" (aws-facts §3) — and works on Aurora MySQL v2 and
// v3 before 3.06, which lack that procedure.
//
// It refuses (ErrFenceRefused, nothing changed) a cluster whose group is a
// default group ("default.…") or is used by any other cluster: read_only
// there would fence those clusters too.
//
// The fence counts as on (ReadOnly) only when the group says read_only=1
// AND the writer reports read_only through SQL. The writer alone is not
// enough: after switchover RDS keeps the old blue cluster read-only by
// itself, and deleting the blue/green deployment removes that protection
// — "if its read_only parameter is disabled, it starts accepting writes"
// (aws-facts §5, §8). A fence read back from SQL alone would be that
// temporary protection, not this fence.
//
// Withdrawal (replication.Fencer: when ctx ends first the request is
// withdrawn): RDS cannot cancel an accepted parameter change. When an
// unfence (SetReadOnly false) is not confirmed in time, read_only is set
// back to 1 so the unfence cannot take effect later. When a fence
// (SetReadOnly true) is not confirmed in time, read_only=1 is left in the
// group — a late fence is the safe direction — and the error says so.
type ParameterGroupFencer struct {
	// PollInterval is how often SetReadOnly reads the writer while
	// waiting; zero means DefaultFencePollInterval.
	PollInterval time.Duration
	// Timeout bounds SetReadOnly's wait when ctx has no earlier deadline;
	// zero means DefaultFenceTimeout.
	Timeout time.Duration
	// ParallelWait bounds ApplyParallelApply's wait for the writer to
	// report an immediate change; zero means DefaultParallelApplyWait.
	ParallelWait time.Duration

	client  *Client
	cluster orchestrate.Cluster
	writer  *replication.Server
}

// Fencer returns the parameter-group fencer of cluster, whose writer
// instance is reached through writer. It has the orchestrate.FencerFactory
// signature; the result is a *ParameterGroupFencer. Nothing is checked
// against RDS until Check or SetReadOnly.
func (c *Client) Fencer(cluster orchestrate.Cluster, writer *replication.Server) (replication.Fencer, error) {
	if cluster.ID == "" && cluster.ARN == "" {
		return nil, errors.New("parameter-group fencer: the cluster has neither an identifier nor an ARN")
	}
	if writer == nil {
		return nil, fmt.Errorf("parameter-group fencer for cluster %s: no writer server", clusterName(cluster))
	}
	return &ParameterGroupFencer{client: c, cluster: cluster, writer: writer}, nil
}

func clusterName(c orchestrate.Cluster) string {
	if c.ID != "" {
		return c.ID
	}
	return c.ARN
}

func (f *ParameterGroupFencer) name() string { return clusterName(f.cluster) }

func (f *ParameterGroupFencer) isSelf(d types.DBCluster) bool {
	id, arn := aws.ToString(d.DBClusterIdentifier), aws.ToString(d.DBClusterArn)
	return (f.cluster.ID != "" && id == f.cluster.ID) || (f.cluster.ARN != "" && arn == f.cluster.ARN)
}

// Check implements replication.Fencer: it lists every DB cluster
// (DescribeDBClusters, all pages), finds this one's current DB cluster
// parameter group, and refuses a default group or one any other cluster
// uses. It changes nothing.
func (f *ParameterGroupFencer) Check(ctx context.Context) error {
	_, err := f.group(ctx)
	return err
}

// group is Check, returning the group it checked. It reads the group from
// RDS rather than trusting the Cluster the fencer was built with, which may
// be stale.
func (f *ParameterGroupFencer) group(ctx context.Context) (string, error) {
	group, _, err := f.groupOf(ctx)
	if err != nil {
		return "", err
	}
	return group, nil
}

// groupOf is group, also returning the cluster as RDS describes it now
// (nil only when it was not found). A refusal still returns the group and
// the cluster.
func (f *ParameterGroupFencer) groupOf(ctx context.Context) (string, *types.DBCluster, error) {
	all, err := f.client.describeClusters(ctx, &rds.DescribeDBClustersInput{})
	if err != nil {
		return "", nil, fmt.Errorf("parameter-group fence of cluster %s: list DB clusters: %w", f.name(), err)
	}
	var self *types.DBCluster
	for i := range all {
		if f.isSelf(all[i]) {
			self = &all[i]
			break
		}
	}
	if self == nil {
		return "", nil, &NotFoundError{Kind: "DB cluster", ID: f.name()}
	}
	group := aws.ToString(self.DBClusterParameterGroup)
	switch {
	case group == "":
		return "", self, fmt.Errorf("%w: RDS reports no DB cluster parameter group for cluster %s", ErrFenceRefused, f.name())
	case strings.HasPrefix(group, "default."):
		return group, self, fmt.Errorf("%w: cluster %s uses the default DB cluster parameter group %q; switchback sets read_only only in a custom group that this cluster alone uses — give it its own DB cluster parameter group", ErrFenceRefused, f.name(), group)
	}
	var others []string
	for _, d := range all {
		if !f.isSelf(d) && aws.ToString(d.DBClusterParameterGroup) == group {
			others = append(others, aws.ToString(d.DBClusterIdentifier))
		}
	}
	if len(others) > 0 {
		return group, self, fmt.Errorf("%w: DB cluster parameter group %q of cluster %s is also used by %s; read_only there would fence them too — give %s its own DB cluster parameter group", ErrFenceRefused, group, f.name(), strings.Join(others, ", "), f.name())
	}
	if f.cluster.ParameterGroup != "" && f.cluster.ParameterGroup != group {
		f.client.log().Warn("cluster's DB cluster parameter group changed since it was described; fencing through the current one",
			"cluster", f.name(), "described", f.cluster.ParameterGroup, "current", group)
	}
	return group, self, nil
}

// SetReadOnly implements replication.Fencer: Check (refusing changes
// nothing), ModifyDBClusterParameterGroup read_only=1 (or 0) with
// ApplyMethod immediate, then poll the writer through SQL every
// PollInterval until it reports the new state, within Timeout and ctx. The
// parameter is written even when the writer already reports the wanted
// state: that state may be RDS's blue/green protection rather than the
// group (see the type's comment); writing the same value changes nothing.
func (f *ParameterGroupFencer) SetReadOnly(ctx context.Context, on bool) error {
	group, err := f.group(ctx)
	if err != nil {
		return err
	}
	if err := f.modify(ctx, group, on); err != nil {
		return err
	}
	werr := f.wait(ctx, group, on)
	if werr == nil || on {
		return werr
	}
	// Withdraw the unfence so it cannot land after the caller gave up.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := f.modify(wctx, group, true); err != nil {
		return fmt.Errorf("%w; and read_only could not be set back to 1 (%v): cluster %s may become writable later — check it", werr, err, f.name())
	}
	return fmt.Errorf("%w; read_only was set back to 1 in DB cluster parameter group %s so the unfence cannot take effect later", werr, group)
}

func (f *ParameterGroupFencer) modify(ctx context.Context, group string, on bool) error {
	_, err := f.client.api.ModifyDBClusterParameterGroup(ctx, &rds.ModifyDBClusterParameterGroupInput{
		DBClusterParameterGroupName: aws.String(group),
		Parameters: []types.Parameter{{
			ParameterName:  aws.String(readOnlyParameter),
			ParameterValue: aws.String(boolParam(on)),
			ApplyMethod:    types.ApplyMethodImmediate,
		}},
	})
	if err != nil {
		return fmt.Errorf("set %s=%s in DB cluster parameter group %s (cluster %s): %w", readOnlyParameter, boolParam(on), group, f.name(), err)
	}
	return nil
}

func boolParam(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

// wait polls the writer until it reports read_only == on.
func (f *ParameterGroupFencer) wait(ctx context.Context, group string, on bool) error {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultFenceTimeout
	}
	interval := f.PollInterval
	if interval <= 0 {
		interval = DefaultFencePollInterval
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sqlFence := replication.SQLFencer{Server: f.writer}
	start := time.Now()
	nextLog := start.Add(fenceProgressEvery)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var lastErr error
	var last bool
	for polls := 1; ; polls++ {
		got, err := sqlFence.ReadOnly(wctx)
		if err == nil && got == on {
			if polls > 1 {
				f.client.log().Info("writer reports the parameter-group fence", "cluster", f.name(), "group", group,
					"read_only", boolParam(on), "waited", time.Since(start).Round(time.Millisecond).String())
			}
			return nil
		}
		lastErr, last = err, got
		if now := time.Now(); now.After(nextLog) {
			nextLog = now.Add(fenceProgressEvery)
			f.client.log().Info("waiting for the writer to report the parameter-group fence", "cluster", f.name(), "group", group,
				"read_only", boolParam(on), "writer", f.writer.String(), "waited", now.Sub(start).Round(time.Second).String())
		}
		select {
		case <-wctx.Done():
			why := fmt.Sprintf("within %s", timeout)
			if ctx.Err() != nil {
				why = fmt.Sprintf("before the caller's deadline (%v, after %s)", ctx.Err(), time.Since(start).Round(time.Millisecond))
			}
			seen := fmt.Sprintf("it still reports read_only=%s", boolParam(last))
			if lastErr != nil {
				seen = fmt.Sprintf("last read failed: %v", lastErr)
			}
			msg := fmt.Sprintf("DB cluster parameter group %s has %s=%s, but writer %s of cluster %s did not report it %s (%s)",
				group, readOnlyParameter, boolParam(on), f.writer, f.name(), why, seen)
			if on {
				msg += "; read_only=1 stays in the group and may still take effect"
			} else {
				// RDS keeps the old blue cluster read-only while the blue/green
				// deployment exists (aws-facts §5, §8).
				msg += "; if this cluster is the old blue of a blue/green deployment, RDS keeps it read-only until the deployment is deleted"
			}
			return errors.New(msg)
		case <-ticker.C:
		}
	}
}

// ReadOnly implements replication.Fencer: the fence is on when the
// cluster's current DB cluster parameter group has read_only=1
// (DescribeDBClusterParameters, all pages) and the writer reports
// read_only through SQL (replication.SQLFencer.ReadOnly).
func (f *ParameterGroupFencer) ReadOnly(ctx context.Context) (bool, error) {
	id := f.cluster.ID
	if id == "" {
		id = f.cluster.ARN
	}
	cl, err := f.client.cluster(ctx, id)
	if err != nil {
		return false, fmt.Errorf("parameter-group fence of cluster %s: %w", f.name(), err)
	}
	if cl.ParameterGroup == "" {
		return false, fmt.Errorf("parameter-group fence: RDS reports no DB cluster parameter group for cluster %s", f.name())
	}
	value, err := f.parameter(ctx, cl.ParameterGroup, readOnlyParameter)
	if err != nil {
		return false, err
	}
	sqlOn, err := replication.SQLFencer{Server: f.writer}.ReadOnly(ctx)
	if err != nil {
		return false, err
	}
	if value != "1" || !sqlOn {
		return false, nil
	}
	// The writer may read read_only=1 for another reason (RDS keeps the old
	// blue read-only while the blue/green deployment exists): the fence is
	// on only once every instance has applied the group. "pending-reboot"
	// counts as applied: read_only is dynamic and applied at once, and the
	// status only says some other, static parameter waits for a reboot.
	list, err := f.client.describeClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	if err != nil {
		return false, fmt.Errorf("parameter-group fence of cluster %s: %w", f.name(), err)
	}
	for _, c := range list {
		for _, m := range c.DBClusterMembers {
			if st := aws.ToString(m.DBClusterParameterGroupStatus); st != "in-sync" && st != "pending-reboot" {
				f.client.log().Info("parameter group not applied yet", "cluster", f.name(), "instance", aws.ToString(m.DBInstanceIdentifier), "status", st)
				return false, nil
			}
		}
	}
	return true, nil
}

// parameter reads one parameter's value from a DB cluster parameter group
// ("" when the group does not list a value for it).
func (f *ParameterGroupFencer) parameter(ctx context.Context, group, name string) (string, error) {
	p := rds.NewDescribeDBClusterParametersPaginator(f.client.api, &rds.DescribeDBClusterParametersInput{
		DBClusterParameterGroupName: aws.String(group),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if isParameterGroupNotFound(err) {
				return "", &NotFoundError{Kind: "DB cluster parameter group", ID: group, Err: err}
			}
			return "", fmt.Errorf("read %s from DB cluster parameter group %s: %w", name, group, err)
		}
		for _, prm := range page.Parameters {
			if aws.ToString(prm.ParameterName) == name {
				return aws.ToString(prm.ParameterValue), nil
			}
		}
	}
	return "", nil
}
