// Package eventchaos generates, from a seed, randomized histories of one
// Aurora blue/green switchover as switchback's functions experience them:
// the RDS events of the deployment (RDS-EVENT-0248, RDS-EVENT-0260, the
// binlog coordinates message as a cluster or an instance event) mixed with
// events switchback must ignore (switchover started, a failover, the
// crash-recovery binlog line, an earlier switchover's coordinates, a
// malformed coordinates message) and with another deployment's events;
// EventBridge drops, duplicates and reorders the deliveries; the reconcile
// schedule fires at random points; Lambda runs the asynchronous configure
// invocations late, twice (one after the other or at the same time), while
// the sequence goes on, or never.
//
// RDS itself forgets nothing: every event generated is what RDS emitted and
// DescribeEvents returns (a dropped delivery is EventBridge losing it), and
// the switchover completes at one point of the sequence (before it,
// DescribeBlueGreenDeployments says SWITCHOVER_IN_PROGRESS and the
// "completed" events do not exist yet). In a few sequences
// (CoordinatesLost) RDS never wrote the coordinates message at all: then,
// and only then, switchback must end in needs-attention instead of
// configuring.
//
// The package is pure (no I/O, no clock): Generate builds a Sequence from a
// seed, Render turns one of its events into the EventBridge JSON a function
// receives and the entry DescribeEvents returns. Tests drive real functions
// with it (functions/chaos_integration_test.go).
package eventchaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// EventKind is one kind of RDS event a sequence holds.
type EventKind string

// The events of a sequence. The deployment's own: its two "completed"
// events (emitted when the switchover completes) and the coordinates
// message as a cluster event (source: the new production cluster) and as an
// instance event (source: the green writer's name before the rename).
// Events switchback must ignore or not mistake for the deployment's:
// switchover started, a failover of the new production, the crash-recovery
// binlog line, the coordinates of an earlier switchover of the same cluster
// (before this deployment was created), a malformed coordinates message, a
// deployment RDS does not know, and a second deployment whose clusters are
// not opted in (its completed events and its own coordinates).
const (
	SwitchoverCompleted        EventKind = "RDS-EVENT-0248"
	ClusterSwitchoverCompleted EventKind = "RDS-EVENT-0260"
	CoordinatesCluster         EventKind = "coordinates/cluster"
	CoordinatesInstance        EventKind = "coordinates/instance"

	SwitchoverStarted        EventKind = "RDS-EVENT-0247"
	ClusterSwitchoverStarted EventKind = "RDS-EVENT-0259"
	Failover                 EventKind = "RDS-EVENT-0071"
	CrashRecovery            EventKind = "crash-recovery-binlog"
	EarlierCoordinates       EventKind = "coordinates/earlier-switchover"
	MalformedCoordinates     EventKind = "coordinates/malformed"
	UnknownDeployment        EventKind = "unknown-deployment/RDS-EVENT-0248"
	OtherSwitchoverCompleted EventKind = "other-deployment/RDS-EVENT-0248"
	OtherClusterSwitchover   EventKind = "other-deployment/RDS-EVENT-0260"
	OtherCoordinates         EventKind = "other-deployment/coordinates"
)

// Coordinates reports whether k is the deployment's own coordinates
// message (as a cluster or an instance event).
func (k EventKind) Coordinates() bool { return k == CoordinatesCluster || k == CoordinatesInstance }

// Switchover reports whether k is one of the deployment's own "switchover
// completed" events.
func (k EventKind) Switchover() bool {
	return k == SwitchoverCompleted || k == ClusterSwitchoverCompleted
}

// Own reports whether k is a fact of the deployment (switchover completed
// or its coordinates).
func (k EventKind) Own() bool { return k.Coordinates() || k.Switchover() }

// AtCompletion reports whether RDS emits k when the switchover completes
// (so EventBridge can deliver it only after that point).
func (k EventKind) AtCompletion() bool { return k.Switchover() }

// Event is one event RDS emitted, and how many times EventBridge delivered
// it (0: dropped every time).
type Event struct {
	Kind       EventKind
	Deliveries int
}

// StepKind is what happens at one step of a sequence.
type StepKind string

// The steps.
const (
	// Deliver: EventBridge delivers Events[Step.Event] to capture.
	Deliver StepKind = "deliver"
	// Reconcile: the reconcile schedule fires.
	Reconcile StepKind = "reconcile"
	// Complete: RDS completes the switchover: the deployment's status
	// becomes SWITCHOVER_COMPLETED and the completed events exist.
	Complete StepKind = "complete"
	// RunConfigure: Lambda runs the asynchronous configure invocations made
	// since the last RunConfigure, each according to its Fate.
	RunConfigure StepKind = "run-configure"
)

// Step is one step of a sequence.
type Step struct {
	Kind  StepKind
	Event int // index into Sequence.Events, for Deliver
}

// Fate is what Lambda does with one asynchronous configure invocation.
type Fate string

// The fates of a configure invocation.
const (
	// FateRun: run once.
	FateRun Fate = "run"
	// FateDuplicate: run twice, one after the other (Lambda's async
	// delivery is at least once).
	FateDuplicate Fate = "duplicate"
	// FateConcurrent: run twice at the same time, by two instances of the
	// function.
	FateConcurrent Fate = "concurrent-duplicate"
	// FateBackground: run once, while the sequence goes on (EventBridge
	// keeps delivering, the schedule keeps firing, during the run).
	FateBackground Fate = "background"
	// FateDrop: never run (retries exhausted, or lost): reconcile must
	// take the stalled record up again.
	FateDrop Fate = "drop"
)

// Sequence is one generated history.
type Sequence struct {
	Seed   uint64
	Events []Event
	Steps  []Step
	// Fates are the fates of the configure invocations, in the order they
	// are made; invocations beyond the list run once (Fate).
	Fates []Fate
	// CoordinatesLost: RDS never wrote the coordinates message (there is
	// none to deliver or to find in DescribeEvents).
	CoordinatesLost bool
}

// Fate is the fate of the k-th configure invocation (from 0).
func (s Sequence) Fate(k int) Fate {
	if k < len(s.Fates) {
		return s.Fates[k]
	}
	return FateRun
}

// Outcome is what switchback must end with once the sequence has run and
// the system settled (every pending invocation run, the records stalled,
// reconcile run).
type Outcome string

// The outcomes.
const (
	// Configured: exactly one configuration, from the deployment's
	// coordinates.
	Configured Outcome = "configured"
	// NeedsAttention: no configuration, the deployment needs attention and
	// on-call was told once: the coordinates exist nowhere.
	NeedsAttention Outcome = "needs-attention"
)

// Expect is the outcome the sequence must end with. RDS keeps every
// coordinates message it wrote (DescribeEvents, 14 days), so however many
// deliveries were dropped, duplicated or reordered, and whenever reconcile
// ran, the deployment ends configured once from its coordinates — unless
// RDS never wrote them.
func (s Sequence) Expect() Outcome {
	if s.CoordinatesLost {
		return NeedsAttention
	}
	return Configured
}

// Counts are a sequence's figures.
type Counts struct {
	Events           int  // events RDS emitted
	Deliveries       int  // deliveries to capture
	Duplicates       int  // deliveries beyond the first of an event
	Dropped          int  // events never delivered
	Reconciles       int  // reconcile runs within the sequence (settling adds more)
	CoordsAllDropped bool // the deployment's coordinates exist but no delivery of them arrived
}

// Counts returns the sequence's figures.
func (s Sequence) Counts() Counts {
	c := Counts{Events: len(s.Events)}
	coords, coordsDelivered := 0, 0
	for _, e := range s.Events {
		c.Deliveries += e.Deliveries
		if e.Deliveries == 0 {
			c.Dropped++
		} else {
			c.Duplicates += e.Deliveries - 1
		}
		if e.Kind.Coordinates() {
			coords++
			coordsDelivered += e.Deliveries
		}
	}
	for _, st := range s.Steps {
		if st.Kind == Reconcile {
			c.Reconciles++
		}
	}
	c.CoordsAllDropped = coords > 0 && coordsDelivered == 0
	return c
}

// String lists the sequence, one step a line, for failure messages.
func (s Sequence) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, expect %s, coordinates lost %v, configure fates %v\n", s.Seed, s.Expect(), s.CoordinatesLost, s.Fates)
	for i, st := range s.Steps {
		if st.Kind == Deliver {
			fmt.Fprintf(&b, "  %2d deliver %s (event %d, %d deliveries)\n", i, s.Events[st.Event].Kind, st.Event, s.Events[st.Event].Deliveries)
		} else {
			fmt.Fprintf(&b, "  %2d %s\n", i, st.Kind)
		}
	}
	return b.String()
}

// Features names the kinds of chaos s holds (for coverage: see
// CoveringSeeds).
func (s Sequence) Features() []string {
	c := s.Counts()
	var out []string
	mark := func(name string, ok bool) {
		if ok {
			out = append(out, name)
		}
	}
	own, coordsKinds := 0, 0
	earlyCoords, reconcileBefore, reconcileAfter, completed := false, false, false, false
	for _, e := range s.Events {
		if e.Kind.Own() {
			own += e.Deliveries
		}
		if e.Kind.Coordinates() {
			coordsKinds++
		}
	}
	for _, st := range s.Steps {
		switch st.Kind {
		case Complete:
			completed = true
		case Reconcile:
			reconcileBefore = reconcileBefore || !completed
			reconcileAfter = reconcileAfter || completed
		case Deliver:
			earlyCoords = earlyCoords || (!completed && s.Events[st.Event].Kind.Coordinates())
		}
	}
	mark("coordinates lost", s.CoordinatesLost)
	mark("coordinates all dropped", c.CoordsAllDropped)
	mark("every own event dropped", own == 0)
	mark("duplicates", c.Duplicates > 0)
	mark("coordinates before completion", earlyCoords)
	mark("coordinates as cluster and instance event", coordsKinds == 2)
	mark("reconcile before completion", reconcileBefore)
	mark("reconcile after completion", reconcileAfter)
	mark("no reconcile", c.Reconciles == 0)
	for _, f := range []Fate{FateDuplicate, FateConcurrent, FateBackground, FateDrop} {
		mark("first configure "+string(f), !s.CoordinatesLost && s.Fate(0) == f)
	}
	return out
}

// CoveringSeeds picks n seeds from first on whose sequences together hold
// every feature (Features) that the seeds up to first+1000 hold: greedily,
// the seed adding the most features not held yet, then the next seeds in
// order. The same arguments always give the same seeds.
func CoveringSeeds(n int, first uint64) []uint64 {
	type cand struct {
		seed  uint64
		feats []string
	}
	var cands []cand
	for seed := first; seed < first+1000; seed++ {
		cands = append(cands, cand{seed, Generate(seed).Features()})
	}
	held := map[string]bool{}
	used := map[uint64]bool{}
	var out []uint64
	for len(out) < n {
		best, gain := -1, 0
		for i, c := range cands {
			g := 0
			for _, f := range c.feats {
				if !held[f] {
					g++
				}
			}
			if !used[c.seed] && g > gain {
				best, gain = i, g
			}
		}
		if best < 0 {
			break
		}
		used[cands[best].seed] = true
		out = append(out, cands[best].seed)
		for _, f := range cands[best].feats {
			held[f] = true
		}
	}
	for seed := first; len(out) < n; seed++ {
		if !used[seed] {
			used[seed] = true
			out = append(out, seed)
		}
	}
	return out
}

// Generation probabilities.
const (
	pCoordinatesLost = 0.08 // RDS never wrote the coordinates
	pDrop            = 0.25 // an event is never delivered
	pDuplicate       = 0.30 // an event is delivered 2 or 3 times
	pNoise           = 0.5  // each ignorable event is present
	pEarly           = 0.35 // a delivery of an event emitted before completion arrives before it
	pRunConfigure    = 0.6  // Lambda runs pending configure invocations after a step
	maxReconciles    = 3
	fates            = 6
)

// Generate builds the sequence of seed. The same seed always gives the
// same sequence.
func Generate(seed uint64) Sequence {
	r := rand.New(rand.NewPCG(seed, 0x5eed_c4a05))
	s := Sequence{Seed: seed, CoordinatesLost: r.Float64() < pCoordinatesLost}
	kinds := []EventKind{SwitchoverCompleted, ClusterSwitchoverCompleted}
	if !s.CoordinatesLost {
		switch r.IntN(3) { // RDS has been seen to send it as either (aws-facts §2)
		case 0:
			kinds = append(kinds, CoordinatesCluster)
		case 1:
			kinds = append(kinds, CoordinatesInstance)
		default:
			kinds = append(kinds, CoordinatesCluster, CoordinatesInstance)
		}
	}
	for _, k := range []EventKind{SwitchoverStarted, ClusterSwitchoverStarted, Failover, CrashRecovery, EarlierCoordinates,
		MalformedCoordinates, UnknownDeployment, OtherSwitchoverCompleted, OtherClusterSwitchover, OtherCoordinates} {
		if r.Float64() < pNoise {
			kinds = append(kinds, k)
		}
	}
	var early, late []Step
	for i, k := range kinds {
		n := 1
		switch x := r.Float64(); {
		case x < pDrop:
			n = 0
		case x < pDrop+pDuplicate:
			n = 2 + r.IntN(2)
		}
		s.Events = append(s.Events, Event{Kind: k, Deliveries: n})
		for range n {
			if !k.AtCompletion() && r.Float64() < pEarly {
				early = append(early, Step{Kind: Deliver, Event: i})
			} else {
				late = append(late, Step{Kind: Deliver, Event: i})
			}
		}
	}
	r.Shuffle(len(early), func(i, j int) { early[i], early[j] = early[j], early[i] })
	r.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
	steps := append(append(early, Step{Kind: Complete}), late...)
	for range r.IntN(maxReconciles + 1) {
		at := r.IntN(len(steps) + 1)
		steps = append(steps[:at], append([]Step{{Kind: Reconcile}}, steps[at:]...)...)
	}
	for _, st := range steps {
		s.Steps = append(s.Steps, st)
		if st.Kind != Complete && r.Float64() < pRunConfigure {
			s.Steps = append(s.Steps, Step{Kind: RunConfigure})
		}
	}
	for range fates {
		switch x := r.Float64(); {
		case x < 0.45:
			s.Fates = append(s.Fates, FateRun)
		case x < 0.58:
			s.Fates = append(s.Fates, FateDuplicate)
		case x < 0.73:
			s.Fates = append(s.Fates, FateConcurrent)
		case x < 0.87:
			s.Fates = append(s.Fates, FateBackground)
		default:
			s.Fates = append(s.Fates, FateDrop)
		}
	}
	return s
}

// World names the resources the events are about.
type World struct {
	Account, Region string
	// Deployment is the blue/green deployment; Production the new
	// production cluster (the green cluster, renamed to the old name),
	// Green its name before the rename, Old the rollback cluster's name
	// after it; GreenWriter the green writer instance's name before the
	// rename (the source of the coordinates as an instance event).
	Deployment, Production, Green, Old, GreenWriter string
	// OtherDeployment switched over OtherProduction (green OtherGreen,
	// old OtherOld) earlier; it is not opted in. UnknownDeploymentID is a
	// deployment RDS does not know.
	OtherDeployment, OtherProduction, OtherGreen, OtherOld string
	UnknownDeploymentID                                    string
}

// Timeline says when things happened.
type Timeline struct {
	// Created is when the deployment was created; Switchover when green's
	// binlog coordinates were taken (the coordinates message's time).
	Created, Switchover time.Time
}

// Coordinates are a binlog file and position.
type Coordinates struct {
	File     string
	Position uint64
}

// The coordinates of the events that are not the deployment's own.
var (
	EarlierSwitchoverCoordinates = Coordinates{"mysql-bin-changelog.000777", 12345}
	OtherDeploymentCoordinates   = Coordinates{"mysql-bin-changelog.000042", 4242}
)

// Rendered is one event as EventBridge delivers it, and as DescribeEvents
// lists it (SourceType "" when it does not list it: blue/green deployment
// events are not read from there by switchback).
type Rendered struct {
	JSON       []byte
	SourceID   string
	SourceType string // DescribeEvents' spelling: "db-cluster", "db-instance", "blue-green-deployment"
	Message    string
	Categories []string
	Date       time.Time
}

// CoordinatesMessage is the message RDS writes with green's binlog
// coordinates after a switchover.
func CoordinatesMessage(c Coordinates) string {
	return fmt.Sprintf("Binary log coordinates in green environment after switchover: file %s and position %d.", c.File, c.Position)
}

// Render returns event k of a deployment whose coordinates are coords, as
// EventBridge delivers it.
func Render(k EventKind, w World, tl Timeline, coords Coordinates) Rendered {
	sw := tl.Switchover
	type src struct{ detailType, sourceType, listType, arnKind, id string }
	bgd := func(id string) src {
		return src{"RDS Blue Green Deployment Event", "BLUE_GREEN_DEPLOYMENT", "blue-green-deployment", "deployment", id}
	}
	cluster := func(id string) src { return src{"RDS DB Cluster Event", "CLUSTER", "db-cluster", "cluster", id} }
	instance := func(id string) src { return src{"RDS DB Instance Event", "DB_INSTANCE", "db-instance", "db", id} }
	var (
		s       src
		id, msg string
		date    time.Time
		cats    = []string{"notification"}
	)
	completed := func(old, green, prod string) string {
		return fmt.Sprintf("Switchover from DB cluster %s to %s completed. Renamed %s to %s and %s to %s.", prod, green, prod, old, green, prod)
	}
	switch k {
	case SwitchoverCompleted:
		s, id, msg, date = bgd(w.Deployment), "RDS-EVENT-0248", "Switchover completed on blue/green deployment.", sw.Add(3*time.Second)
	case ClusterSwitchoverCompleted:
		s, id, msg, date = bgd(w.Deployment), "RDS-EVENT-0260", completed(w.Old, w.Green, w.Production), sw.Add(2*time.Second)
	case CoordinatesCluster:
		s, msg, date = cluster(w.Production), CoordinatesMessage(coords), sw
	case CoordinatesInstance:
		s, msg, date = instance(w.GreenWriter), CoordinatesMessage(coords), sw.Add(-400*time.Millisecond)
	case SwitchoverStarted:
		s, id, msg, date = bgd(w.Deployment), "RDS-EVENT-0247", fmt.Sprintf("Switchover from %s to %s started.", w.Production, w.Green), sw.Add(-66*time.Second)
	case ClusterSwitchoverStarted:
		s, id, msg, date = bgd(w.Deployment), "RDS-EVENT-0259", fmt.Sprintf("Switchover from DB cluster %s to %s started.", w.Production, w.Green), sw.Add(-65*time.Second)
	case Failover:
		s, id, msg, date, cats = cluster(w.Production), "RDS-EVENT-0071", "Completed failover to DB instance: "+w.Production+"-instance-2", sw.Add(10*time.Minute), []string{"failover"}
	case CrashRecovery:
		s, msg, date, cats = instance(w.GreenWriter), "Binlog position from crash recovery is mysql-bin-changelog.000001 154", tl.Created.Add(5*time.Minute), []string{}
	case EarlierCoordinates:
		s, msg, date = cluster(w.Production), CoordinatesMessage(EarlierSwitchoverCoordinates), tl.Created.Add(-72*time.Hour)
	case MalformedCoordinates:
		s, msg, date = cluster(w.Production), "Binary log coordinates in green environment after switchover: file "+coords.File+" and position 4013x574", sw.Add(time.Second)
	case UnknownDeployment:
		s, id, msg, date = bgd(w.UnknownDeploymentID), "RDS-EVENT-0248", "Switchover completed on blue/green deployment.", sw.Add(-20*time.Minute)
	case OtherSwitchoverCompleted:
		s, id, msg, date = bgd(w.OtherDeployment), "RDS-EVENT-0248", "Switchover completed on blue/green deployment.", sw.Add(-29*time.Minute)
	case OtherClusterSwitchover:
		s, id, msg, date = bgd(w.OtherDeployment), "RDS-EVENT-0260", completed(w.OtherOld, w.OtherGreen, w.OtherProduction), sw.Add(-29*time.Minute-time.Second)
	case OtherCoordinates:
		s, msg, date = cluster(w.OtherProduction), CoordinatesMessage(OtherDeploymentCoordinates), sw.Add(-29*time.Minute-3*time.Second)
	default:
		panic("eventchaos: unknown event kind " + string(k))
	}
	arn := fmt.Sprintf("arn:aws:rds:%s:%s:%s:%s", w.Region, w.Account, s.arnKind, s.id)
	detail := map[string]any{
		"EventCategories":  cats,
		"SourceType":       s.sourceType,
		"SourceArn":        arn,
		"Date":             date.UTC().Format("2006-01-02T15:04:05.000Z"),
		"Message":          msg,
		"SourceIdentifier": s.id,
		"Tags":             map[string]string{"team": "orders"},
	}
	if id != "" {
		detail["EventID"] = id
	}
	envelope := map[string]any{
		"version":     "0",
		"id":          fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-").Replace(string(k)), date.UnixMilli()),
		"detail-type": s.detailType,
		"source":      "aws.rds",
		"account":     w.Account,
		"time":        date.UTC().Format(time.RFC3339),
		"region":      w.Region,
		"resources":   []string{arn},
		"detail":      detail,
	}
	b, err := json.Marshal(envelope)
	if err != nil {
		panic(err) // maps of strings: cannot fail
	}
	return Rendered{JSON: b, SourceID: s.id, SourceType: s.listType, Message: msg, Categories: cats, Date: date}
}
