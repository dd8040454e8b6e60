package awsrds

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
)

// Parallel apply on the rollback cluster, through its DB cluster parameter
// group. What this relies on (aws-facts §5 and the Aurora User Guide):
//
//   - Multithreaded binlog replication exists in Aurora MySQL version 3 and
//     in 2.12.1 and higher; below 3.04 a binlog replica applies with one
//     thread unless replica_parallel_workers is set in a custom parameter
//     group ("Optimizing binary log replication for Aurora MySQL").
//   - Aurora lists the worker count as an instance-level parameter, and
//     replica_preserve_commit_order (v3) as a cluster-level one; a DB
//     cluster parameter group also holds every instance-level parameter,
//     and a value set there overrides the instance group's default — a
//     value set in the DB parameter group overrides it in turn ("Working
//     with parameter groups", Aurora DB cluster and DB instance
//     parameters). So the cluster group, which switchback already owns for
//     the fence, is where the settings go; the writer's own report (SQL) is
//     the proof that they apply.
//   - Which parameters a group offers, whether each is dynamic or static
//     and modifiable, and its allowed values are not assumed: they are read
//     from DescribeDBClusterParameters (Parameter: ApplyType, IsModifiable,
//     AllowedValues). A dynamic one is set with ApplyMethod immediate, a
//     static one with pending-reboot (the only method static parameters
//     take), and switchback never reboots: a static change waits for the
//     writer's next reboot, and configure says what that costs.
//   - A dynamic change of the worker count takes effect at the next START
//     REPLICA (MySQL applies a new slave_parallel_workers when the applier
//     restarts, MySQL bug #71245), and MySQL refuses a commit-order change
//     while the applier runs: configure sets the group before it starts
//     replication, and restarts a running replication once (shared/
//     orchestrate ensureParallelGroup).
//   - Commit order is never given up for speed: when the group cannot
//     hold commit order preserved (no such parameter, not modifiable), the
//     worker count is not raised.

// DefaultParallelApplyWait bounds ApplyParallelApply's wait for the writer
// to report an immediate change (ParameterGroupFencer.ParallelWait).
const DefaultParallelApplyWait = time.Minute

// minMultithreadedAurora2 is the first Aurora MySQL version 2 release with
// multithreaded binlog replication.
var minMultithreadedAurora2 = [3]int{2, 12, 1}

// groupParameter is one parameter as DescribeDBClusterParameters lists it.
type groupParameter struct {
	Name          string
	Value         string // "" when no value is listed (engine default)
	ApplyType     string // "dynamic" or "static"
	AllowedValues string
	Source        string
	Modifiable    bool
}

// groupParameters reads every parameter of a DB cluster parameter group
// (every page), by name.
func (c *Client) groupParameters(ctx context.Context, group string) (map[string]groupParameter, error) {
	out := map[string]groupParameter{}
	p := rds.NewDescribeDBClusterParametersPaginator(c.api, &rds.DescribeDBClusterParametersInput{
		DBClusterParameterGroupName: aws.String(group),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if isParameterGroupNotFound(err) {
				return nil, &NotFoundError{Kind: "DB cluster parameter group", ID: group, Err: err}
			}
			return nil, fmt.Errorf("read DB cluster parameter group %s: %w", group, err)
		}
		for _, prm := range page.Parameters {
			n := aws.ToString(prm.ParameterName)
			out[n] = groupParameter{
				Name: n, Value: aws.ToString(prm.ParameterValue), ApplyType: aws.ToString(prm.ApplyType),
				AllowedValues: aws.ToString(prm.AllowedValues), Source: aws.ToString(prm.Source),
				Modifiable: aws.ToBool(prm.IsModifiable),
			}
		}
	}
	return out, nil
}

// engineVersion is an Aurora MySQL engine version
// ("5.7.mysql_aurora.2.12.1", "8.0.mysql_aurora.3.08.0").
type engineVersion struct {
	mysql  string // "5.7", "8.0", "8.4"; "" when unknown
	aurora [3]int // Aurora's own version; zero when not given
}

func parseEngineVersion(s string) engineVersion {
	var v engineVersion
	s = strings.TrimSpace(s)
	mysql, aurora, ok := strings.Cut(s, ".mysql_aurora.")
	if !ok {
		mysql = s
	}
	if parts := strings.SplitN(mysql, ".", 3); len(parts) >= 2 {
		if _, err := strconv.Atoi(parts[0]); err == nil {
			if _, err := strconv.Atoi(parts[1]); err == nil {
				v.mysql = parts[0] + "." + parts[1]
			}
		}
	}
	if ok {
		for i, part := range strings.SplitN(aurora, ".", 3) {
			n, err := strconv.Atoi(part)
			if err != nil {
				break
			}
			v.aurora[i] = n
		}
	}
	return v
}

func (v engineVersion) isV2() bool { return v.mysql == "5.7" || v.aurora[0] == 2 }

func (v engineVersion) before(w [3]int) bool {
	for i := range v.aurora {
		if v.aurora[i] != w[i] {
			return v.aurora[i] < w[i]
		}
	}
	return false
}

func (v engineVersion) String() string {
	if v.aurora[0] == 0 {
		return v.mysql
	}
	return fmt.Sprintf("%d.%02d.%d", v.aurora[0], v.aurora[1], v.aurora[2])
}

// parallelNames are the parameters of one Aurora version: the worker
// count, the commit order and the parallel type ("" when the version has
// none to set), with the word the commit order is turned on with.
type parallelNames struct {
	workers, order, typ string
	// typRequired: commit order needs LOGICAL_CLOCK set (MySQL before
	// 8.0.27: Aurora v2 and v3 before 3.04).
	typRequired bool
	orderOn     string
}

// namesFor picks the names for version v, preferring the ones the group
// lists: v2 (MySQL 5.7) has the slave_* names only; v3 and later the
// replica_* names (the slave_* ones where the group lists only those).
func namesFor(v engineVersion, listed func(string) bool) parallelNames {
	if v.isV2() {
		return parallelNames{"slave_parallel_workers", "slave_preserve_commit_order", "slave_parallel_type", true, "1"}
	}
	pick := func(a, b string) string {
		if !listed(a) && listed(b) {
			return b
		}
		return a
	}
	n := parallelNames{
		workers: pick("replica_parallel_workers", "slave_parallel_workers"),
		order:   pick("replica_preserve_commit_order", "slave_preserve_commit_order"),
		orderOn: "ON",
	}
	// Aurora 3.01–3.03 are MySQL 8.0.23–8.0.26, where commit order needs
	// LOGICAL_CLOCK and DATABASE is the default (aws-facts §4).
	n.typRequired = v.aurora[0] == 3 && v.aurora[1] < 4
	switch {
	case listed("replica_parallel_type"):
		n.typ = "replica_parallel_type"
	case listed("slave_parallel_type"):
		n.typ = "slave_parallel_type"
	case n.typRequired:
		n.typ = "replica_parallel_type"
	}
	return n
}

// truthy reports whether a boolean parameter value is on.
func truthy(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "TRUE":
		return true
	}
	return false
}

// allowedList splits a comma-separated AllowedValues ("0,1",
// "DATABASE,LOGICAL_CLOCK"); nil for a range or nothing.
func allowedList(allowed string) []string {
	if allowed == "" || !strings.Contains(allowed, ",") && strings.Contains(allowed, "-") {
		return nil
	}
	var out []string
	for _, a := range strings.Split(allowed, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// onWord is how a boolean parameter is turned on: the group's own word
// when its allowed values name one, else preferred.
func onWord(allowed, preferred string) string {
	list := allowedList(allowed)
	has := func(w string) bool {
		for _, a := range list {
			if strings.EqualFold(a, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has(preferred):
		return preferred
	case has("1"):
		return "1"
	case has("ON"):
		return "ON"
	}
	return preferred
}

// allows reports whether value is within allowed ("0-1024", "a,b", or
// nothing listed).
func allows(allowed, value string) bool {
	if allowed == "" {
		return true
	}
	if list := allowedList(allowed); list != nil {
		for _, a := range list {
			if strings.EqualFold(a, value) {
				return true
			}
		}
		return false
	}
	lo, hi, ok := strings.Cut(allowed, "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil {
		return true // a form this does not read: RDS judges
	}
	n, err := strconv.Atoi(value)
	return err == nil && n >= a && n <= b
}

// parallelInput is what planParallelApply decides from.
type parallelInput struct {
	Cluster, Group, EngineVersion string
	// Params are the group's parameters (groupParameters).
	Params map[string]groupParameter
	// Workers is the worker count a change sets.
	Workers int
	// Writer is what the writer reports (nil when unread).
	Writer        *replication.ParallelSettings
	WriterErr     string
	WriterDialect replication.Dialect
	// Refused: the group may not be changed (a default or shared group).
	Refused error
}

// planParallelApply decides, from what the group lists, whether it holds
// parallel apply with commit order preserved and what would make it. It
// is pure: every input is read by its callers.
func planParallelApply(in parallelInput) orchestrate.ParallelApplyPlan {
	p := orchestrate.ParallelApplyPlan{
		Cluster: in.Cluster, Group: in.Group, EngineVersion: in.EngineVersion, Workers: in.Workers,
		Writer: in.Writer, WriterErr: in.WriterErr, WriterDialect: in.WriterDialect,
	}
	v := parseEngineVersion(in.EngineVersion)
	listed := func(n string) bool { _, ok := in.Params[n]; return ok }
	names := namesFor(v, listed)

	type role struct {
		name, want string
		required   bool
		holds      bool
		prm        groupParameter
		listed     bool
	}
	// In the order a change applies them: the type and the commit order
	// before the worker count.
	var roles []*role
	if names.typ != "" {
		prm, ok := in.Params[names.typ]
		r := &role{name: names.typ, want: "LOGICAL_CLOCK", required: names.typRequired, prm: prm, listed: ok}
		r.holds = strings.EqualFold(strings.TrimSpace(prm.Value), "LOGICAL_CLOCK") ||
			// Not required (MySQL 8.0.27 and later default to LOGICAL_CLOCK)
			// and left to its default where it cannot be changed.
			(!r.required && ok && prm.Value == "" && !prm.Modifiable)
		if ok || r.required {
			roles = append(roles, r)
		}
	}
	{
		prm, ok := in.Params[names.order]
		roles = append(roles, &role{name: names.order, want: onWord(prm.AllowedValues, names.orderOn), required: true, prm: prm, listed: ok, holds: truthy(prm.Value)})
	}
	{
		prm, ok := in.Params[names.workers]
		n, err := strconv.Atoi(strings.TrimSpace(prm.Value))
		roles = append(roles, &role{name: names.workers, want: strconv.Itoa(in.Workers), required: true, prm: prm, listed: ok, holds: err == nil && n >= 2})
	}
	// Parameters are shown workers first.
	for i := len(roles) - 1; i >= 0; i-- {
		if r := roles[i]; r.listed {
			p.Parameters = append(p.Parameters, orchestrate.ParallelParameter{Name: r.name, Value: r.prm.Value, ApplyType: r.prm.ApplyType})
		}
	}
	p.Held = true
	for _, r := range roles {
		if !r.listed || !r.holds {
			p.Held = false
		}
	}
	if p.Held {
		return p
	}
	blocked := func(format string, args ...any) orchestrate.ParallelApplyPlan {
		p.Blocked = fmt.Sprintf(format, args...)
		return p
	}
	if v.isV2() && v.aurora[0] == 2 && v.before(minMultithreadedAurora2) {
		return blocked("Aurora MySQL %s applies binlog replication with one thread: multithreaded binlog replication needs Aurora MySQL 2.12.1 or higher, or version 3 (Aurora User Guide, optimizing binary log replication)", v)
	}
	if in.Refused != nil {
		return blocked("%v", in.Refused)
	}
	// The worker count first: a group that lists none of them is named by
	// the parameter it most plainly lacks.
	for i := len(roles) - 1; i >= 0; i-- {
		r := roles[i]
		switch {
		case r.holds:
		case !r.listed && r.name == names.workers:
			return blocked("DB cluster parameter group %s has no %s parameter", in.Group, r.name)
		case !r.listed && r.name == names.order:
			return blocked("DB cluster parameter group %s has no %s parameter, and switchback does not apply in parallel without commit order preserved", in.Group, r.name)
		case !r.listed:
			return blocked("DB cluster parameter group %s has no %s parameter, which commit order needs set to LOGICAL_CLOCK on this version", in.Group, r.name)
		case !r.prm.Modifiable:
			return blocked("%s is not modifiable in DB cluster parameter group %s (it holds %s)", r.name, in.Group, engineDefault(r.prm.Value))
		case !allows(r.prm.AllowedValues, r.want):
			return blocked("%s allows %s in DB cluster parameter group %s, not %s", r.name, r.prm.AllowedValues, in.Group, r.want)
		}
	}
	// Commit order must apply no later than the worker count: a static
	// type or commit-order change — or one the group holds but the writer
	// does not report yet (a pending reboot) — makes the worker count wait
	// for the same reboot.
	orderLater := false
	for _, r := range roles {
		if r.name == names.workers {
			continue
		}
		if !r.holds && r.prm.ApplyType != "dynamic" {
			orderLater = true
		}
	}
	if w := in.Writer; w != nil {
		for _, r := range roles {
			if !r.holds {
				continue // changed now: the writer's reading is from before
			}
			switch r.name {
			case names.order:
				if w.PreserveCommitOrder != nil && !*w.PreserveCommitOrder {
					orderLater = true
				}
			case names.typ:
				if w.Type != "" && w.Type != "LOGICAL_CLOCK" {
					orderLater = true
				}
			}
		}
	}
	for _, r := range roles {
		if r.holds {
			continue
		}
		method := orchestrate.ApplyPendingReboot
		if r.prm.ApplyType == "dynamic" && (r.name != names.workers || !orderLater) {
			method = orchestrate.ApplyImmediate
		}
		p.Changes = append(p.Changes, orchestrate.ParallelParameter{Name: r.name, Value: r.prm.Value, Want: r.want, ApplyType: r.prm.ApplyType, ApplyMethod: method})
	}
	return p
}

func engineDefault(v string) string {
	if v == "" {
		return "the engine default"
	}
	return v
}

// ParallelApplyPlan reads cluster's current DB cluster parameter group
// (DescribeDBClusters, DescribeDBClusterParameters) and what its writer
// reports (when writer is not nil), and says whether the group holds
// parallel apply with commit order preserved, and what would make it hold
// workers applier threads (see orchestrate.ParallelApplyPlan). A default
// or shared group is read, and marked Blocked: switchback changes only a
// custom group that the cluster alone uses. It changes nothing.
func (c *Client) ParallelApplyPlan(ctx context.Context, cluster orchestrate.Cluster, workers int, writer *replication.Server) (orchestrate.ParallelApplyPlan, error) {
	if cluster.ID == "" && cluster.ARN == "" {
		return orchestrate.ParallelApplyPlan{}, errors.New("parallel apply: the cluster has neither an identifier nor an ARN")
	}
	return (&ParameterGroupFencer{client: c, cluster: cluster, writer: writer}).PlanParallelApply(ctx, workers)
}

// PlanParallelApply implements orchestrate.ParallelApplyGroup.
func (f *ParameterGroupFencer) PlanParallelApply(ctx context.Context, workers int) (orchestrate.ParallelApplyPlan, error) {
	if workers < 2 || workers > replication.MaxParallelWorkers {
		return orchestrate.ParallelApplyPlan{}, fmt.Errorf("parallel apply: %d workers is out of range 2..%d", workers, replication.MaxParallelWorkers)
	}
	// A refused group (default or shared) is still read: the plan says
	// what it holds, and that switchback will not change it.
	group, self, err := f.groupOf(ctx)
	if group == "" {
		if err == nil {
			err = fmt.Errorf("RDS reports no DB cluster parameter group for cluster %s", f.name())
		}
		return orchestrate.ParallelApplyPlan{}, err
	}
	if err != nil && !errors.Is(err, ErrFenceRefused) {
		return orchestrate.ParallelApplyPlan{}, err
	}
	params, perr := f.client.groupParameters(ctx, group)
	if perr != nil {
		return orchestrate.ParallelApplyPlan{}, perr
	}
	in := parallelInput{Cluster: f.name(), Group: group, Params: params, Workers: workers, Refused: err}
	if self != nil {
		in.EngineVersion = aws.ToString(self.EngineVersion)
	}
	if in.EngineVersion == "" {
		in.EngineVersion = f.cluster.EngineVersion
	}
	if f.writer != nil {
		in.WriterDialect = f.writer.Dialect
		if ps, err := f.writer.ParallelApply(ctx); err != nil {
			in.WriterErr = err.Error()
		} else {
			in.Writer = &ps
		}
	}
	return planParallelApply(in), nil
}

// ApplyParallelApply implements orchestrate.ParallelApplyGroup: it checks
// the group again (custom, unshared, still the cluster's), sets plan's
// changes in one ModifyDBClusterParameterGroup, reads the group back, and
// waits up to ParallelWait for the writer to report the immediate ones
// (the plan returned carries what it reports; a writer that does not
// report them is not an error: its DB parameter group may override the
// cluster group, which the caller reports). It never reboots.
func (f *ParameterGroupFencer) ApplyParallelApply(ctx context.Context, plan orchestrate.ParallelApplyPlan) (orchestrate.ParallelApplyPlan, error) {
	if plan.Blocked != "" {
		return plan, errors.New(plan.Blocked)
	}
	if len(plan.Changes) == 0 {
		return plan, nil
	}
	group, err := f.group(ctx)
	if err != nil {
		return plan, err
	}
	if group != plan.Group {
		return plan, fmt.Errorf("cluster %s's DB cluster parameter group is %s now, not %s as planned", f.name(), group, plan.Group)
	}
	in := &rds.ModifyDBClusterParameterGroupInput{DBClusterParameterGroupName: aws.String(group)}
	for _, c := range plan.Changes {
		in.Parameters = append(in.Parameters, types.Parameter{
			ParameterName: aws.String(c.Name), ParameterValue: aws.String(c.Want), ApplyMethod: types.ApplyMethod(c.ApplyMethod),
		})
	}
	if _, err := f.client.api.ModifyDBClusterParameterGroup(ctx, in); err != nil {
		return plan, fmt.Errorf("set parallel apply in DB cluster parameter group %s (cluster %s): %w", group, f.name(), err)
	}
	got, err := f.client.groupParameters(ctx, group)
	if err != nil {
		return plan, fmt.Errorf("read back DB cluster parameter group %s: %w", group, err)
	}
	after := plan
	after.Parameters = nil
	for _, prm := range plan.Parameters {
		prm.Value = got[prm.Name].Value
		after.Parameters = append(after.Parameters, prm)
	}
	for _, c := range plan.Changes {
		v := got[c.Name].Value
		if !strings.EqualFold(v, c.Want) && !(truthy(v) && truthy(c.Want)) {
			return after, fmt.Errorf("DB cluster parameter group %s reads back %s=%s after it was set to %s", group, c.Name, engineDefault(v), c.Want)
		}
	}
	after.Held = true
	if plan.Immediate() && f.writer != nil {
		after.Writer, after.WriterErr = f.waitParallel(ctx, group, plan.Changes)
	}
	return after, nil
}

// reportsImmediate reports whether ps shows every immediate change: the
// worker count it was set to, commit order preserved (always, on MariaDB:
// nil), LOGICAL_CLOCK (or no type read). Changes pending a reboot are not
// expected yet.
func reportsImmediate(ps replication.ParallelSettings, changes []orchestrate.ParallelParameter) bool {
	for _, c := range changes {
		if c.ApplyMethod != orchestrate.ApplyImmediate {
			continue
		}
		switch {
		case strings.HasSuffix(c.Name, "_parallel_workers"):
			if strconv.Itoa(ps.Workers) != c.Want {
				return false
			}
		case strings.HasSuffix(c.Name, "_preserve_commit_order"):
			if ps.PreserveCommitOrder != nil && !*ps.PreserveCommitOrder {
				return false
			}
		case strings.HasSuffix(c.Name, "_parallel_type"):
			if ps.Type != "" && ps.Type != "LOGICAL_CLOCK" {
				return false
			}
		}
	}
	return true
}

// waitParallel polls the writer until it reports the immediate changes,
// for at most ParallelWait; it returns what it last read.
func (f *ParameterGroupFencer) waitParallel(ctx context.Context, group string, changes []orchestrate.ParallelParameter) (*replication.ParallelSettings, string) {
	wait := f.ParallelWait
	if wait <= 0 {
		wait = DefaultParallelApplyWait
	}
	interval := f.PollInterval
	if interval <= 0 {
		interval = DefaultFencePollInterval
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last *replication.ParallelSettings
	lastErr := ""
	for {
		ps, err := f.writer.ParallelApply(wctx)
		if err == nil {
			last, lastErr = &ps, ""
			if reportsImmediate(ps, changes) {
				return last, ""
			}
		} else if wctx.Err() == nil {
			lastErr = err.Error()
		}
		select {
		case <-wctx.Done():
			f.client.log().Warn("writer does not report the parallel-apply parameters", "cluster", f.name(), "group", group,
				"waited", time.Since(start).Round(time.Millisecond).String())
			return last, lastErr
		case <-tick.C:
		}
	}
}

// Compile-time check that the fencer offers parallel apply to configure
// and the monitor.
var _ orchestrate.ParallelApplyGroup = (*ParameterGroupFencer)(nil)
