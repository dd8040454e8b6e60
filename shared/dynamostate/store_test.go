package dynamostate

import (
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/switchback/switchback/shared/orchestrate"
)

// fullRecord has every field of orchestrate.Record set.
func fullRecord() orchestrate.Record {
	at := time.Date(2026, 11, 24, 3, 4, 5, 120000000, time.UTC)
	cluster := func(id, writer string) *orchestrate.Cluster {
		return &orchestrate.Cluster{
			ID: id, ARN: "arn:aws:rds:us-east-1:111122223333:cluster:" + id,
			Endpoint: id + ".cluster-abc.us-east-1.rds.amazonaws.com", Port: 3306,
			Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0",
			ParameterGroup: id + "-params",
			Tags:           map[string]string{"switchback:enabled": "true", "team": "shop"},
			Instances:      []string{writer, id + "-reader-1"},
			Writer:         writer,
		}
	}
	return orchestrate.Record{
		Deployment: "bgd-0123456789abcdef",
		Production: cluster("shop-prod", "shop-prod-writer"),
		Rollback:   cluster("shop-prod-old1", "shop-prod-old1-writer"),
		Status:     orchestrate.StatusSwitchoverCompleted,
		CreateTime: at.Add(-time.Hour),
		Coords: &orchestrate.Coordinates{
			File: "mysql-bin-changelog.000003", Position: 154,
			Message: "Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 154",
			Source:  "shop-prod", Time: at.Add(-time.Minute), Via: "event",
		},
		Phase:       orchestrate.PhaseNeedsAttention,
		PhaseDetail: "coordinates disagree",
		Version:     7,
		UpdatedAt:   at,
		Lease:       &orchestrate.Lease{Holder: "configure/req-1", Expires: at.Add(5 * time.Minute)},
	}
}

func TestStoreRecordItemRoundTrip(t *testing.T) {
	want := fullRecord()
	item, err := encodeRecord(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := item[AttrPK].(*types.AttributeValueMemberS).Value; got != want.Deployment {
		t.Errorf("pk = %q; want %q", got, want.Deployment)
	}
	if got := item[AttrSK].(*types.AttributeValueMemberS).Value; got != SKRecord {
		t.Errorf("sk = %q; want %q", got, SKRecord)
	}
	if _, ok := item[attrLease]; ok {
		t.Error("encodeRecord wrote the lease; only the lease operations may")
	}
	for attr, wantS := range map[string]string{
		"updated_at":  "2026-11-24T03:04:05.120000000Z",
		"create_time": "2026-11-24T02:04:05.120000000Z",
		"phase":       "needs-attention",
	} {
		if got, ok := item[attr].(*types.AttributeValueMemberS); !ok || got.Value != wantS {
			t.Errorf("%s = %#v; want S %q", attr, item[attr], wantS)
		}
	}
	if got, ok := item["version"].(*types.AttributeValueMemberN); !ok || got.Value != "7" {
		t.Errorf("version = %#v; want N 7", item["version"])
	}
	got, err := decodeRecord(item)
	if err != nil {
		t.Fatal(err)
	}
	wantNoLease := want
	wantNoLease.Lease = nil
	if !reflect.DeepEqual(got, wantNoLease) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, wantNoLease)
	}

	// The lease, as AcquireLease writes it, comes back too.
	lease, err := encoder().Encode(*want.Lease)
	if err != nil {
		t.Fatal(err)
	}
	item[attrLease] = lease
	got, err = decodeRecord(item)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip with lease:\n got %+v\nwant %+v", got, want)
	}
}

func TestStoreRecordItemOmitsEmpty(t *testing.T) {
	rec := orchestrate.Record{Deployment: "unmatched:shop-prod", Phase: orchestrate.PhaseUnmatched, Version: 1}
	item, err := encodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, attr := range []string{"production", "rollback", "status", "create_time", "coordinates", "phase_detail", "lease"} {
		if _, ok := item[attr]; ok {
			t.Errorf("empty %s was written: %#v", attr, item[attr])
		}
	}
	got, err := decodeRecord(item)
	if err != nil {
		t.Fatal(err)
	}
	if got.Deployment != rec.Deployment || got.Phase != rec.Phase || got.Version != 1 || got.Production != nil || got.Coords != nil || !got.CreateTime.IsZero() {
		t.Errorf("round trip = %+v; want %+v", got, rec)
	}
}

func TestStoreTimesStoredInUTC(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 24, 4, 0, 0, 5, paris)
	rec := orchestrate.Record{Deployment: "bgd-x", UpdatedAt: at}
	item, err := encodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := item["updated_at"].(*types.AttributeValueMemberS).Value; got != "2026-11-24T03:00:00.000000005Z" {
		t.Errorf("updated_at stored as %q", got)
	}
	back, err := decodeRecord(item)
	if err != nil {
		t.Fatal(err)
	}
	if !back.UpdatedAt.Equal(at) {
		t.Errorf("updated_at came back as %s; want %s", back.UpdatedAt, at)
	}
}

// String order of history sort keys must be time order: RFC3339Nano would
// put ".5Z" after ".25Z".
func TestHistorySortKeysSortAsTimes(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	times := []time.Time{
		base, base.Add(250 * time.Millisecond), base.Add(500 * time.Millisecond), base.Add(time.Nanosecond),
		base.Add(time.Second), base.Add(10 * time.Second), base.Add(-time.Nanosecond),
		base.In(time.FixedZone("X", -5*3600)).Add(time.Microsecond),
	}
	var keys []string
	for _, at := range times {
		keys = append(keys, historySK(at, randomSuffix()))
	}
	sort.Strings(keys)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i, k := range keys {
		rest, ok := strings.CutPrefix(k, HistoryPrefix)
		if !ok {
			t.Fatalf("key %q lacks prefix %q", k, HistoryPrefix)
		}
		stamp, suffix, _ := strings.Cut(rest, "#")
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			t.Fatal(err)
		}
		if !at.Equal(times[i]) {
			t.Errorf("key %d is %s; want %s (string order differs from time order)", i, k, times[i].UTC())
		}
		if len(suffix) != 16 {
			t.Errorf("suffix %q: want 16 hex digits", suffix)
		}
	}
}

func TestStoreUpdatableAttributes(t *testing.T) {
	for _, want := range []string{"production", "rollback", "status", "create_time", "coordinates", "phase", "phase_detail", "updated_at"} {
		if !slices.Contains(updatableAttributes, want) {
			t.Errorf("Update would not set %s (updatable: %v)", want, updatableAttributes)
		}
	}
	for _, never := range []string{"deployment", "version", "lease", AttrPK, AttrSK} {
		if slices.Contains(updatableAttributes, never) {
			t.Errorf("Update would set %s", never)
		}
	}
}

func TestLeaseHeldBy(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	withLease := func(l *orchestrate.Lease) map[string]types.AttributeValue {
		rec := orchestrate.Record{Deployment: "bgd-x", Phase: orchestrate.PhaseConfiguring, Version: 3}
		item, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if l != nil {
			av, err := encoder().Encode(*l)
			if err != nil {
				t.Fatal(err)
			}
			item[attrLease] = av
		}
		return item
	}
	for _, tc := range []struct {
		name  string
		lease *orchestrate.Lease
		held  bool
	}{
		{"no lease", nil, false},
		{"another holder, unexpired", &orchestrate.Lease{Holder: "b", Expires: now.Add(time.Nanosecond)}, true},
		{"another holder, expiring now", &orchestrate.Lease{Holder: "b", Expires: now}, false},
		{"another holder, expired", &orchestrate.Lease{Holder: "b", Expires: now.Add(-time.Minute)}, false},
		{"own lease", &orchestrate.Lease{Holder: "a", Expires: now.Add(time.Minute)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := heldLease(withLease(tc.lease), "a", now)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tc.held {
				t.Fatalf("heldLease = %+v; want held %v", got, tc.held)
			}
			if got != nil && (got.Holder != tc.lease.Holder || !got.Expires.Equal(tc.lease.Expires)) {
				t.Errorf("heldLease = %+v; want %+v", got, tc.lease)
			}
		})
	}
}

func TestLeaseHeldError(t *testing.T) {
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	var err error = &LeaseHeldError{Deployment: "bgd-x", Holder: "configure/req-9", Expires: at}
	if !errors.Is(err, orchestrate.ErrLeaseHeld) {
		t.Error("LeaseHeldError does not wrap orchestrate.ErrLeaseHeld")
	}
	for _, want := range []string{"configure/req-9", "2026-11-24T03:00:00Z", orchestrate.ErrLeaseHeld.Error()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
}
