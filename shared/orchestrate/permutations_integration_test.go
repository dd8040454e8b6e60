//go:build integration

package orchestrate_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/orchestrate"
)

// permutations returns every order of items.
func permutations(items []string) [][]string {
	if len(items) <= 1 {
		return [][]string{append([]string(nil), items...)}
	}
	var out [][]string
	for i := range items {
		rest := append(append([]string(nil), items[:i]...), items[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]string{items[i]}, p...))
		}
	}
	return out
}

// The three facts of a switchover (RDS-EVENT-0248, RDS-EVENT-0260, the
// coordinates message) in every order, each delivered twice (the second
// copy after configure already ran, as a late duplicate would arrive),
// and with the coordinates as a cluster event or as an instance event:
// exactly one configuration, from the right coordinates.
func TestIntegrationEventPermutationsConfigureOnce(t *testing.T) {
	for _, order := range permutations([]string{"0248", "0260", "coordinates"}) {
		for _, instance := range []bool{false, true} {
			name := strings.Join(order, "-")
			if instance {
				name += "/instance-event"
			}
			t.Run(name, func(t *testing.T) {
				w := awstest.New(t)
				events := map[string][]byte{
					"0248":        w.SwitchoverEvent(),
					"0260":        w.ClusterSwitchoverEvent(),
					"coordinates": w.CoordinatesEvent(instance, w.Coords.File, w.Coords.Position),
				}
				for _, fact := range order {
					w.Capture(events[fact])
					w.Capture(events[fact]) // duplicated before configure runs
				}
				outs := w.Drain()
				if len(outs) != 1 {
					t.Fatalf("configure invoked %d times; want exactly once: %+v", len(outs), outs)
				}
				for _, fact := range order { // late duplicates, after configure
					w.Capture(events[fact])
				}
				if outs := w.Drain(); len(outs) != 0 {
					t.Fatalf("late duplicates invoked configure again: %+v", outs)
				}
				w.AssertConfiguredOnce(w.Coords)
			})
		}
	}
}

// Two configure invocations for the same deployment at once (Lambda may
// deliver an async invocation twice): the lease lets one act; the other
// skips; replication is set up once.
func TestIntegrationConcurrentConfigureRuns(t *testing.T) {
	w := awstest.New(t)
	w.Capture(w.SwitchoverEvent())
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.SkipInvocations() // run by hand below, concurrently
	outs := make(chan orchestrate.ConfigureOutcome, 2)
	for i := range 2 {
		o := w.Orch
		o.Actor = fmt.Sprintf("configure/req-%d", i) // two Lambda invocations
		go func() {
			out, err := o.Configure(t.Context(), orchestrate.ConfigureRequest{Deployment: awstest.DeploymentID})
			if err != nil {
				t.Error(err)
			}
			outs <- out
		}()
	}
	got := map[string]int{}
	for range 2 {
		got[(<-outs).Outcome]++
	}
	if got["configured"] != 1 || got["skipped"]+got["unchanged"] != 1 {
		t.Fatalf("outcomes %v; want one configured and one skipped (lease held) or unchanged", got)
	}
	// The same request id twice (Lambda may run an async invocation twice):
	// the holders still differ, so one run is skipped while the other acts.
	if _, err := w.Store.AcquireLease(t.Context(), awstest.DeploymentID, w.Orch.Actor+"#other-run", time.Minute); err != nil {
		t.Fatal(err)
	}
	if out, err := w.Orch.Configure(t.Context(), orchestrate.ConfigureRequest{Deployment: awstest.DeploymentID}); err != nil || out.Outcome != "skipped" {
		t.Fatalf("a run with the same actor while another holds the lease: %v %+v; want skipped", err, out)
	}
	w.AssertConfiguredOnce(w.Coords)
}

// Every event lost: reconcile finds the switched-over deployment, reads
// the coordinates from DescribeEvents (from the deployment's creation) and
// configures once; running it again changes nothing.
func TestIntegrationReconcileRecoversLostEvents(t *testing.T) {
	w := awstest.New(t)
	// An older message of another cluster and the crash-recovery line must
	// not be taken for this deployment's coordinates.
	w.RDS.AddEvent(awsfake.RDSEvent{SourceID: "billing-prod", SourceType: "db-cluster", Date: time.Now().Add(-time.Hour),
		Message: w.CoordinatesMessage("mysql-bin-changelog.000099", 4)})
	w.RDS.AddEvent(awsfake.RDSEvent{SourceID: awstest.GreenWriter, SourceType: "db-instance", Date: time.Now().Add(-90 * time.Minute),
		Message: "Binlog position from crash recovery is mysql-bin-changelog.000001 154"})
	w.RDS.AddEvent(awsfake.RDSEvent{SourceID: awstest.GreenWriter, SourceType: "db-instance", Date: time.Now().Add(-time.Hour),
		Message: w.CoordinatesMessage(w.Coords.File, w.Coords.Position)})
	rep, err := w.Orch.Reconcile(t.Context())
	if err != nil || len(rep.Items) != 1 || rep.Items[0].Action != "recovered" {
		t.Fatalf("reconcile: %v %+v", err, rep)
	}
	if outs := w.Drain(); len(outs) != 1 || outs[0].Outcome != "configured" {
		t.Fatalf("configure after reconcile: %+v", outs)
	}
	if rep, err := w.Orch.Reconcile(t.Context()); err != nil || len(rep.Items) != 0 {
		t.Fatalf("second reconcile: %v %+v; want nothing to do", err, rep)
	}
	if outs := w.Drain(); len(outs) != 0 {
		t.Fatalf("second reconcile invoked configure: %+v", outs)
	}
	w.AssertConfiguredOnce(w.Coords)
}

// The switchover event arrives, the coordinates never do and DescribeEvents
// has none: needs-attention, a notification and no configuration — never
// a guess.
func TestIntegrationCoordinatesNotFoundNeedsAttention(t *testing.T) {
	w := awstest.New(t)
	w.Capture(w.SwitchoverEvent())
	if outs := w.Drain(); len(outs) != 0 {
		t.Fatalf("configure invoked without coordinates: %+v", outs)
	}
	if rep, err := w.Orch.Reconcile(t.Context()); err != nil || len(rep.Items) != 0 {
		t.Fatalf("reconcile before the record stalls: %v %+v; want it left alone (the event may be late)", err, rep)
	}
	// Later than the stall limit: reconcile takes the record up.
	w.Orch.Now = func() time.Time { return time.Now().Add(2 * w.Orch.Settings.Stall) }
	var metrics []string
	w.Orch.Metric = func(name string, value float64, deployment string) {
		metrics = append(metrics, fmt.Sprintf("%s=%g %s", name, value, deployment))
	}
	rep, err := w.Orch.Reconcile(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil || rec.Phase != orchestrate.PhaseNeedsAttention || !strings.Contains(rec.PhaseDetail, "never guesses") {
		t.Fatalf("record %+v (%v); report %+v; want needs-attention", rec, err, rep)
	}
	if want := "NeedsAttention=1 " + awstest.DeploymentID; len(metrics) != 1 || metrics[0] != want {
		t.Fatalf("metrics %q; want [%s]", metrics, want)
	}
	msgs := w.SNS.Published(awstest.TopicARN)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, awstest.DeploymentID) {
		t.Fatalf("notifications %+v; want one naming %s", msgs, awstest.DeploymentID)
	}
	if n := len(w.Lambda.Calls(awstest.ConfigureFn)); n != 0 {
		t.Fatalf("configure invoked %d times", n)
	}
	if rs := replicaConfigured(t, w); rs {
		t.Fatal("the rollback cluster replicates although no coordinates were found")
	}
}

// Two different coordinates for the same deployment: needs-attention,
// nothing configured.
func TestIntegrationConflictingCoordinatesNeedAttention(t *testing.T) {
	w := awstest.New(t)
	w.Capture(w.CoordinatesEvent(true, w.Coords.File, w.Coords.Position+1))
	res := w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	if res.Action != "needs-attention" {
		t.Fatalf("second, different coordinates: %+v; want needs-attention", res)
	}
	w.Capture(w.SwitchoverEvent())
	for _, out := range w.Drain() {
		if out.Outcome == "configured" {
			t.Fatalf("configured despite conflicting coordinates: %+v", out)
		}
	}
	if replicaConfigured(t, w) {
		t.Fatal("the rollback cluster replicates although the coordinates conflict")
	}
	if msgs := w.SNS.Published(awstest.TopicARN); len(msgs) == 0 || !strings.Contains(msgs[0].Message, "conflicting binlog coordinates") {
		t.Fatalf("notifications %+v", msgs)
	}
}

// A cluster that is not opted in is never touched: its events are
// ignored with the reason, and reconcile skips it.
func TestIntegrationNotOptedInIgnored(t *testing.T) {
	w := awstest.New(t)
	w.Orch.OptedIn = func(id string, _ map[string]string) (bool, string) {
		return false, fmt.Sprintf("cluster %s is neither listed nor tagged", id)
	}
	for _, ev := range [][]byte{w.SwitchoverEvent(), w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position)} {
		if res := w.Capture(ev); res.Action != "ignored" || !strings.Contains(res.Reason, "not opted in") {
			t.Fatalf("capture: %+v; want ignored, not opted in", res)
		}
	}
	if rep, err := w.Orch.Reconcile(t.Context()); err != nil || len(rep.Items) != 0 {
		t.Fatalf("reconcile: %v %+v", err, rep)
	}
	if recs, err := w.Store.List(t.Context()); err != nil || len(recs) != 0 {
		t.Fatalf("records %+v (%v); want none", recs, err)
	}
	if n := len(w.RDS.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Fatalf("%d parameter group changes on a cluster that is not opted in", n)
	}
}

// A default parameter group cannot be fenced: needs-attention, nothing
// changed on the cluster or its group.
func TestIntegrationDefaultParameterGroupRefused(t *testing.T) {
	w := awstest.New(t)
	w.RDS.RemoveCluster(awstest.OldID)
	w.RDS.AddParameterGroup("default.aurora-mysql5.7", map[string]string{"read_only": "0"})
	w.RDS.AddCluster(awsfake.RDSCluster{ID: awstest.OldID, Engine: "aurora-mysql", Endpoint: w.Blue.Host, Port: w.Blue.Port,
		ParameterGroup: "default.aurora-mysql5.7", Tags: map[string]string{"switchback:enabled": "true"},
		Members: []awsfake.RDSClusterMember{{Instance: awstest.OldWriter, Writer: true}}})
	w.Capture(w.SwitchoverEvent())
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	outs := w.Drain()
	if len(outs) != 1 || outs[0].Outcome != "needs-attention" || !strings.Contains(outs[0].Reason, "default") {
		t.Fatalf("configure: %+v; want needs-attention naming the default group", outs)
	}
	if n := len(w.RDS.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Fatalf("%d parameter group changes", n)
	}
	if !w.RDS.HasDeployment(awstest.DeploymentID) {
		t.Fatal("the blue/green deployment was deleted although the old cluster could not be fenced")
	}
	if replicaConfigured(t, w) {
		t.Fatal("replication configured although the fence was refused")
	}
}

func replicaConfigured(t *testing.T, w *awstest.World) bool {
	t.Helper()
	rows, err := w.Blue.DBT(t).Query("SHOW ALL SLAVES STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return rows.Next()
}

// A configure run that dies after deleting the blue/green deployment (a
// Lambda timeout, a lost connection): RDS no longer lists the deployment,
// yet reconcile resumes the stalled record from its recorded topology.
func TestIntegrationReconcileResumesAfterDeploymentDeleted(t *testing.T) {
	w := awstest.New(t)
	w.Capture(w.SwitchoverEvent())
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.SkipInvocations() // the configure invocation "died" after the delete
	if err := awsrds.New(w.RDS.Client()).DeleteBlueGreenDeployment(t.Context(), awstest.DeploymentID); err != nil {
		t.Fatal(err)
	}
	w.Orch.Now = func() time.Time { return time.Now().Add(2 * w.Orch.Settings.Stall) }
	rep, err := w.Orch.Reconcile(t.Context())
	if err != nil || len(rep.Items) != 1 || rep.Items[0].Action != "resumed" {
		t.Fatalf("reconcile: %v %+v; want the stalled record resumed", err, rep)
	}
	w.Orch.Now = nil
	if outs := w.Drain(); len(outs) != 1 || outs[0].Outcome != "configured" {
		t.Fatalf("configure: %+v", outs)
	}
	w.AssertConfiguredOnce(w.Coords)
}

// Coordinates older than the deployment (an earlier switchover of the same
// cluster, recorded as unmatched back then) are never adopted by it.
func TestIntegrationOlderCoordinatesNotAdopted(t *testing.T) {
	w := awstest.New(t)
	rdsc := awsrds.New(w.RDS.Client())
	if err := rdsc.DeleteBlueGreenDeployment(t.Context(), awstest.DeploymentID); err != nil {
		t.Fatal(err)
	}
	old := w.Capture(w.CoordinatesEventAt(false, "mysql-bin-changelog.000777", 12345, 24*60*30)) // a month ago
	if !strings.HasPrefix(old.Deployment, "unmatched:") {
		t.Fatalf("old coordinates with no deployment listed: %+v; want unmatched", old)
	}
	w.RDS.AddDeployment(w.Deployment) // this deployment, created two hours ago, switches over
	w.Capture(w.SwitchoverEvent())
	if outs := w.Drain(); len(outs) != 0 {
		t.Fatalf("configure invoked with a month-old deployment's coordinates: %+v", outs)
	}
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil || rec.Coords != nil {
		t.Fatalf("record %+v (%v); want no coordinates", rec, err)
	}
	// Its own coordinates, older than the deployment too, are ignored.
	if res := w.Capture(w.CoordinatesEventAt(false, "mysql-bin-changelog.000778", 4, 3*60)); res.Action != "ignored" || !strings.Contains(res.Reason, "older than deployment") {
		t.Fatalf("coordinates from before the deployment's creation: %+v; want ignored", res)
	}
}

// A configured pair is not flipped to needs-attention by the coordinates
// of a later switchover of the same cluster (which RDS does not list as
// completed yet): they wait as unmatched, and nobody is paged.
func TestIntegrationLaterCoordinatesLeaveConfiguredPair(t *testing.T) {
	w := awstest.New(t)
	w.Capture(w.SwitchoverEvent())
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.Drain()
	res := w.Capture(w.CoordinatesEventAt(false, w.Coords.File, w.Coords.Position+1000, 1))
	if !strings.HasPrefix(res.Deployment, "unmatched:") {
		t.Fatalf("later coordinates: %+v; want unmatched", res)
	}
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil || rec.Phase != orchestrate.PhaseConfigured {
		t.Fatalf("record %+v (%v); want still configured", rec, err)
	}
	for _, m := range w.SNS.Published(awstest.TopicARN) {
		if strings.Contains(m.Subject, "needs attention") {
			t.Fatalf("on-call paged: %+v", m)
		}
	}
	w.AssertConfiguredOnce(w.Coords)
}

// Throttling while the fencer checks the parameter group is a failure to
// retry, not a refusal: the record is not put in needs-attention.
func TestIntegrationThrottledFenceCheckIsRetried(t *testing.T) {
	w := awstest.New(t)
	w.Capture(w.SwitchoverEvent())
	w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position))
	w.SkipInvocations()
	// Topology's two DescribeDBClusters calls pass; the fencer's listing is
	// throttled past the SDK's retries.
	w.RDS.FailNextAfter("DescribeDBClusters", 2, 3, awsfake.RDSThrottled())
	out, err := w.Orch.Configure(t.Context(), orchestrate.ConfigureRequest{Deployment: awstest.DeploymentID})
	if err == nil || out.Outcome != "failed" {
		t.Fatalf("configure with a throttled fence check: %v %+v; want failed", err, out)
	}
	rec, err := w.Store.Get(t.Context(), awstest.DeploymentID)
	if err != nil || rec.Phase == orchestrate.PhaseNeedsAttention {
		t.Fatalf("record %+v (%v); want it left for a retry, not needs-attention", rec, err)
	}
	if out, err := w.Orch.Configure(t.Context(), orchestrate.ConfigureRequest{Deployment: awstest.DeploymentID}); err != nil || out.Outcome != "configured" {
		t.Fatalf("retry: %v %+v", err, out)
	}
	w.AssertConfiguredOnce(w.Coords)
}
