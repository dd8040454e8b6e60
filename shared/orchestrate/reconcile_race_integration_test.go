//go:build integration

package orchestrate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/orchestrate"
)

// interleavingStore runs between, once, when the deployment's record is
// first found missing: what another worker does between this worker's
// read and its write.
type interleavingStore struct {
	orchestrate.Store
	once    sync.Once
	between func()
}

func (s *interleavingStore) Get(ctx context.Context, id string) (orchestrate.Record, error) {
	rec, err := s.Store.Get(ctx, id)
	if errors.Is(err, orchestrate.ErrNotFound) && id == awstest.DeploymentID {
		s.once.Do(s.between)
	}
	return rec, err
}

// Reconcile finds a switched-over deployment with no record and decides
// to recover it; before it writes, capture records the coordinates and
// invokes configure (found by the event-chaos races, functions/
// chaos_integration_test.go). Reconcile must not take the record, now
// configuring for a moment, for a stalled one and ask for configure a
// second time: exactly one invocation, one configuration.
func TestIntegrationReconcileRacingCaptureInvokesOnce(t *testing.T) {
	w := awstest.New(t)
	w.RDS.AddEvent(awsfake.RDSEvent{SourceID: awstest.ProdID, SourceType: "db-cluster", Date: time.Now().Add(-50 * time.Minute),
		Message: w.CoordinatesMessage(w.Coords.File, w.Coords.Position)})
	reconciler := w.Orch
	reconciler.Store = &interleavingStore{Store: w.Store, between: func() {
		if res := w.Capture(w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position)); res.Action != "configure-invoked" {
			t.Fatalf("capture between reconcile's read and write: %+v; want configure invoked", res)
		}
	}}
	rep, err := reconciler.Reconcile(t.Context())
	if err != nil || len(rep.Items) != 1 || rep.Items[0].Action != "recovered" {
		t.Fatalf("reconcile: %v %+v; want the deployment recovered", err, rep)
	}
	if n := len(w.Lambda.Calls(awstest.ConfigureFn)); n != 1 {
		t.Fatalf("configure invoked %d times (capture, then reconcile %+v); want once", n, rep.Items[0])
	}
	if outs := w.Drain(); len(outs) != 1 || outs[0].Outcome != "configured" {
		t.Fatalf("configure: %+v", outs)
	}
	w.AssertConfiguredOnce(w.Coords)
}
