package orchestrate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

func TestDecodeTeardownRequest(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    TeardownRequest
	}{
		{`{"deployment": "bgd-4kq8w2m7r1x9zt3c", "reason": "upgrade verified", "caller": "alice", "releaseFence": true}`,
			TeardownRequest{Deployment: "bgd-4kq8w2m7r1x9zt3c", Reason: "upgrade verified", Caller: "alice", ReleaseFence: true}},
		{`{"due": true}`, TeardownRequest{Due: true}},
		{`{"deployment": "bgd-1", "due": true}`, TeardownRequest{Deployment: "bgd-1", Due: true}},
	} {
		got, err := DecodeTeardownRequest([]byte(tc.payload))
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v; want %+v", tc.payload, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ payload, want string }{
		{`{"deployment": "bgd-1", "dryRun": true}`, `unknown field "dryRun"`},
		{`{"deployment": "bgd-1", "confirm": "x"}`, `unknown field "confirm"`},
		{`{"deployment": 42}`, `"deployment" must be a string, not a number`},
		{`{"deployment": "bgd-1", "releaseFence": "true"}`, `"releaseFence" must be true or false, not a string`},
		{`{"deployment": "bgd-1", "releaseFence": null}`, `"releaseFence" must be true or false, not null`},
		{`{"deployment": "bgd-1", "deployment": "bgd-2"}`, `"deployment" appears twice`},
		{`{"deployment": "BGD-1"}`, `is not a blue/green deployment id`},
		{`{"deployment": "bgd-1; drop"}`, `is not a blue/green deployment id`},
		{`{"deployment": ""}`, `"deployment" is required`},
		{`{"due": false}`, `"deployment" is required`},
		{`{"deployment": "bgd-1"} {"due": true}`, `data after its JSON object`},
		{`"bgd-1"`, `must be a JSON object, not a string`},
		{``, `not a JSON object`},
	} {
		_, err := DecodeTeardownRequest([]byte(tc.payload))
		if err == nil || !errors.Is(err, ErrInvalidTeardownRequest) || !errors.Is(err, replication.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an invalid teardown request containing %q", tc.payload, err, tc.want)
		}
	}
}

// Teardown refuses whatever a rollback has acted on, and says why.
func TestTeardownRefusal(t *testing.T) {
	c := Cluster{ID: "orders-prod"}
	rb := Cluster{ID: "orders-prod-old1"}
	base := Record{Deployment: "bgd-1", Phase: PhaseConfigured, Production: &c, Rollback: &rb}
	started := time.Date(2026, 3, 9, 14, 0, 0, 0, time.UTC)
	with := func(f func(*Record)) Record {
		r := base
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		rec  Record
		want string // "" when teardown may go on
	}{
		{"configured", base, ""},
		{"needs attention from reconcile", with(func(r *Record) {
			r.Phase, r.PhaseDetail = PhaseNeedsAttention, "coordinates disagree"
		}), ""},
		{"rolling back", with(func(r *Record) { r.Phase = PhaseRollingBack }), "the pair is rolling-back: a rollback acted on it"},
		{"rolled back", with(func(r *Record) { r.Phase = PhaseRolledBack }), "the pair is rolled-back"},
		{"re-pointing failed", with(func(r *Record) {
			r.Phase, r.PhaseDetail = PhaseNeedsAttention, "rollback completed but re-pointing failed: route53: throttled; run the rollback again to finish re-pointing"
			r.LastRollback = &RollbackState{Caller: "alice", StartedAt: started, Outcome: replication.OutcomeCompleted}
		}), "needs attention after a rollback (rollback completed but re-pointing failed"},
		{"needs attention after a rollback without its prefix", with(func(r *Record) {
			r.Phase, r.PhaseDetail = PhaseNeedsAttention, "something else"
			r.LastRollback = &RollbackState{Caller: "alice", StartedAt: started, Outcome: RollbackFailed}
		}), "a rollback ran on this pair (started 2026-03-09T14:00:00Z by alice, failed)"},
		{"configured with a rollback in flight", with(func(r *Record) {
			r.LastRollback = &RollbackState{Caller: "alice", StartedAt: started}
		}), "no outcome recorded"},
		{"configured after a refused rollback", with(func(r *Record) {
			r.LastRollback = &RollbackState{Caller: "alice", StartedAt: started, Outcome: replication.OutcomeRefused}
		}), ""},
		{"configured after a cleanly aborted rollback", with(func(r *Record) {
			r.LastRollback = &RollbackState{Caller: "alice", StartedAt: started, Outcome: replication.OutcomeAborted}
		}), ""},
		{"capturing", with(func(r *Record) { r.Phase = PhaseCapturing }), "the pair is capturing"},
		{"no clusters", with(func(r *Record) { r.Production = nil }), "names no clusters"},
	} {
		got := teardownRefusal(tc.rec)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q; want %q", tc.name, got, tc.want)
		}
	}
}

func TestConfigureRetentionHours(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want int
	}{
		{Settings{RetentionHours: 168, RollbackWindow: 168 * time.Hour, MinHeadroom: 24 * time.Hour}, 192},
		{Settings{RetentionHours: 24}, 24},
		{Settings{}, replication.DefaultRetentionHours},
		{Settings{RetentionHours: 500, RollbackWindow: 168 * time.Hour, MinHeadroom: 24 * time.Hour}, 500},
		{Settings{RetentionHours: 24, RollbackWindow: 90 * time.Minute, MinHeadroom: 30 * time.Minute}, 24},
		{Settings{RetentionHours: 1, RollbackWindow: 90 * time.Minute, MinHeadroom: time.Minute}, 2},
		{Settings{RetentionHours: 168, RollbackWindow: 2160 * time.Hour, MinHeadroom: 24 * time.Hour}, replication.MaxRetentionHours},
	} {
		if got := tc.s.ConfigureRetentionHours(); got != tc.want {
			t.Errorf("%+v: %d; want %d", tc.s, got, tc.want)
		}
	}
}
