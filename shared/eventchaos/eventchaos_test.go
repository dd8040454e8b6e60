package eventchaos

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/rdsevent"
)

var testWorld = World{
	Account: "123456789012", Region: "us-east-1",
	Deployment: "bgd-4kq8w2m7r1x9zt3c", Production: "orders-prod", Green: "orders-prod-green-3rnukl", Old: "orders-prod-old1",
	GreenWriter:     "orders-prod-instance-1-green-8kq2zt",
	OtherDeployment: "bgd-0th3rd3pl0ym3ntx", OtherProduction: "billing-prod", OtherGreen: "billing-prod-green-7xk2", OtherOld: "billing-prod-old1",
	UnknownDeploymentID: "bgd-g0n3g0n3g0n3g0n3",
}

// The same seed gives the same sequence; different seeds give different
// ones.
func TestGenerateDeterministic(t *testing.T) {
	distinct := map[string]bool{}
	for seed := range uint64(200) {
		a, b := Generate(seed), Generate(seed)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two different sequences:\n%s\n%s", seed, a, b)
		}
		distinct[a.String()] = true
	}
	if len(distinct) < 195 {
		t.Fatalf("200 seeds gave only %d distinct sequences", len(distinct))
	}
}

// Every sequence is one RDS could produce and EventBridge could deliver:
// each event delivered as often as it says, the completed events only after
// the switchover completed, exactly one completion, the deployment's own
// events present unless its coordinates were lost.
func TestGenerateInvariants(t *testing.T) {
	for seed := range uint64(2000) {
		s := Generate(seed)
		delivered := make([]int, len(s.Events))
		completed, completions := false, 0
		kinds := map[EventKind]int{}
		for _, e := range s.Events {
			kinds[e.Kind]++
			if e.Deliveries < 0 || e.Deliveries > 3 {
				t.Fatalf("seed %d: %s delivered %d times", seed, e.Kind, e.Deliveries)
			}
		}
		for i, st := range s.Steps {
			switch st.Kind {
			case Complete:
				completed = true
				completions++
			case Deliver:
				if st.Event < 0 || st.Event >= len(s.Events) {
					t.Fatalf("seed %d step %d: event %d of %d", seed, i, st.Event, len(s.Events))
				}
				delivered[st.Event]++
				if s.Events[st.Event].Kind.AtCompletion() && !completed {
					t.Fatalf("seed %d step %d: %s delivered before the switchover completed:\n%s", seed, i, s.Events[st.Event].Kind, s)
				}
			case Reconcile, RunConfigure:
			default:
				t.Fatalf("seed %d step %d: kind %q", seed, i, st.Kind)
			}
		}
		if completions != 1 {
			t.Fatalf("seed %d: %d completions", seed, completions)
		}
		for i, e := range s.Events {
			if delivered[i] != e.Deliveries {
				t.Fatalf("seed %d: %s has %d delivery steps, says %d", seed, e.Kind, delivered[i], e.Deliveries)
			}
		}
		for k, n := range kinds {
			if n != 1 {
				t.Fatalf("seed %d: %s emitted %d times", seed, k, n)
			}
		}
		if kinds[SwitchoverCompleted] != 1 || kinds[ClusterSwitchoverCompleted] != 1 {
			t.Fatalf("seed %d: the completed events are missing", seed)
		}
		coords := kinds[CoordinatesCluster] + kinds[CoordinatesInstance]
		if s.CoordinatesLost != (coords == 0) {
			t.Fatalf("seed %d: coordinates lost %v with %d coordinates events", seed, s.CoordinatesLost, coords)
		}
		want := Configured
		if s.CoordinatesLost {
			want = NeedsAttention
		}
		if s.Expect() != want {
			t.Fatalf("seed %d: expect %s", seed, s.Expect())
		}
	}
}

// Over many seeds, every kind of chaos the sequences are meant to hold
// occurs, and none is the rule; CoveringSeeds picks seeds that hold them
// all.
func TestGenerateCoverage(t *testing.T) {
	const n = 1000
	seen := map[string]int{}
	for seed := range uint64(n) {
		for _, f := range Generate(seed).Features() {
			seen[f]++
		}
	}
	want := []string{"coordinates lost", "coordinates all dropped", "every own event dropped", "duplicates",
		"coordinates before completion", "coordinates as cluster and instance event", "reconcile before completion",
		"reconcile after completion", "no reconcile", "first configure duplicate", "first configure concurrent-duplicate", "first configure background", "first configure drop"}
	for _, name := range want {
		if seen[name] < n/100 || seen[name] == n {
			t.Errorf("%s: in %d of %d sequences", name, seen[name], n)
		}
	}
	t.Logf("in %d sequences: %v", n, seen)
	seeds := CoveringSeeds(10, 1)
	if len(seeds) != 10 || !reflect.DeepEqual(seeds, CoveringSeeds(10, 1)) {
		t.Fatalf("covering seeds %v", seeds)
	}
	held := map[string]bool{}
	for _, s := range seeds {
		if s < 1 {
			t.Fatalf("seed %d below the first", s)
		}
		for _, f := range Generate(s).Features() {
			held[f] = true
		}
	}
	for _, name := range want {
		if !held[name] {
			t.Errorf("covering seeds %v lack %q", seeds, name)
		}
	}
}

// Each rendered event is what rdsevent.Decode (capture's decoder) makes of
// the real events: the deployment's facts decode to them, with the
// coordinates and the source; the rest are ignored or malformed.
func TestRenderDecodes(t *testing.T) {
	created := time.Date(2026, 3, 10, 7, 0, 0, 0, time.UTC)
	tl := Timeline{Created: created, Switchover: created.Add(2 * time.Hour)}
	coords := Coordinates{"mysql-bin-changelog.000001", 367012}
	for _, tc := range []struct {
		kind EventKind
		want rdsevent.Kind
		err  bool
		list string
	}{
		{SwitchoverCompleted, rdsevent.KindSwitchoverCompleted, false, "blue-green-deployment"},
		{ClusterSwitchoverCompleted, rdsevent.KindClusterSwitchoverCompleted, false, "blue-green-deployment"},
		{CoordinatesCluster, rdsevent.KindBinlogCoordinates, false, "db-cluster"},
		{CoordinatesInstance, rdsevent.KindBinlogCoordinates, false, "db-instance"},
		{SwitchoverStarted, rdsevent.KindSwitchoverStarted, false, "blue-green-deployment"},
		{ClusterSwitchoverStarted, rdsevent.KindClusterSwitchoverStarted, false, "blue-green-deployment"},
		{Failover, rdsevent.KindIgnored, false, "db-cluster"},
		{CrashRecovery, rdsevent.KindIgnored, false, "db-instance"},
		{EarlierCoordinates, rdsevent.KindBinlogCoordinates, false, "db-cluster"},
		{MalformedCoordinates, "", true, "db-cluster"},
		{UnknownDeployment, rdsevent.KindSwitchoverCompleted, false, "blue-green-deployment"},
		{OtherSwitchoverCompleted, rdsevent.KindSwitchoverCompleted, false, "blue-green-deployment"},
		{OtherClusterSwitchover, rdsevent.KindClusterSwitchoverCompleted, false, "blue-green-deployment"},
		{OtherCoordinates, rdsevent.KindBinlogCoordinates, false, "db-cluster"},
	} {
		r := Render(tc.kind, testWorld, tl, coords)
		fact, err := rdsevent.Decode(r.JSON)
		if tc.err {
			if !errors.Is(err, rdsevent.ErrMalformed) {
				t.Errorf("%s: %v; want malformed", tc.kind, err)
			}
			continue
		}
		if err != nil || fact.Kind != tc.want {
			t.Errorf("%s: decoded %+v, %v; want %s\n%s", tc.kind, fact, err, tc.want, r.JSON)
			continue
		}
		if r.SourceType != tc.list || fact.SourceID != r.SourceID || !fact.Time.Equal(r.Date.Truncate(time.Millisecond)) {
			t.Errorf("%s: listed as %s %s at %v; decoded source %s at %v", tc.kind, r.SourceType, r.SourceID, r.Date, fact.SourceID, fact.Time)
		}
		switch tc.kind {
		case CoordinatesCluster, CoordinatesInstance:
			if fact.BinlogFile != coords.File || fact.BinlogPosition != coords.Position {
				t.Errorf("%s: decoded %s:%d; want %s:%d", tc.kind, fact.BinlogFile, fact.BinlogPosition, coords.File, coords.Position)
			}
		case ClusterSwitchoverCompleted:
			if fact.NewName != testWorld.Production || fact.OldName != testWorld.Old || fact.Deployment != testWorld.Deployment {
				t.Errorf("0260: new %q old %q deployment %q", fact.NewName, fact.OldName, fact.Deployment)
			}
		case SwitchoverCompleted:
			if fact.Deployment != testWorld.Deployment {
				t.Errorf("0248: deployment %q", fact.Deployment)
			}
		case EarlierCoordinates:
			if !fact.Time.Before(tl.Created) {
				t.Errorf("earlier coordinates at %v, not before the deployment's creation %v", fact.Time, tl.Created)
			}
		}
		if kind := tc.kind; kind.AtCompletion() && r.Date.Before(tl.Switchover) {
			t.Errorf("%s dated %v, before the coordinates (%v)", kind, r.Date, tl.Switchover)
		}
	}
}
