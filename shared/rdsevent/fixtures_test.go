package rdsevent

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	fixtures "github.com/switchback/switchback/events"
)

// fixtureExpectations says what switchback makes of every file in the events
// folder. TestFixtures fails if a fixture has no entry here, or an entry has
// no fixture, so a new fixture cannot be added without saying what it means.
var fixtureExpectations = map[string]struct {
	want    Fact   // EventID, SourceID, SourceType, Message and Time are not compared
	wantErr string // for malformed fixtures: the start of the error text
}{
	"bluegreen-deployment-created.json":   {want: Fact{Kind: KindDeploymentCreated, Deployment: "bgd-4kq8w2m7r1x9zt3c"}},
	"bluegreen-deployment-failed.json":    {want: Fact{Kind: KindDeploymentFailed, Deployment: "bgd-9xh2c6p0yq4n8m1a", Reason: "the DB cluster parameter group of orders-prod does not enable binary logging"}},
	"bluegreen-deployment-deleted.json":   {want: Fact{Kind: KindDeploymentDeleted, Deployment: "bgd-4kq8w2m7r1x9zt3c"}},
	"bluegreen-switchover-started.json":   {want: Fact{Kind: KindSwitchoverStarted, Deployment: "bgd-4kq8w2m7r1x9zt3c"}},
	"bluegreen-switchover-completed.json": {want: Fact{Kind: KindSwitchoverCompleted, Deployment: "bgd-4kq8w2m7r1x9zt3c"}},
	"bluegreen-switchover-canceled.json":  {want: Fact{Kind: KindSwitchoverCanceled, Deployment: "bgd-4kq8w2m7r1x9zt3c"}},
	"cluster-switchover-started.json":     {want: Fact{Kind: KindClusterSwitchoverStarted, Deployment: "bgd-4kq8w2m7r1x9zt3c"}},
	"cluster-switchover-completed.json":   {want: Fact{Kind: KindClusterSwitchoverCompleted, Deployment: "bgd-4kq8w2m7r1x9zt3c", OldName: "orders-prod-old1", NewName: "orders-prod"}},
	"cluster-switchover-canceled.json":    {want: Fact{Kind: KindClusterSwitchoverCanceled, Deployment: "bgd-4kq8w2m7r1x9zt3c", Reason: "the replica lag exceeding the switchover timeout"}},
	"cluster-binlog-coordinates.json":     {want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000003", BinlogPosition: 40134574}},
	"instance-binlog-coordinates.json":    {want: Fact{Kind: KindBinlogCoordinates, BinlogFile: "mysql-bin-changelog.000017", BinlogPosition: 1574}},
	"cluster-other-event.json":            {want: Fact{Kind: KindIgnored, Reason: `event RDS-EVENT-0071 ("Completed failover to DB instance: orders-prod-instance-2") is not one switchback acts on`}},
	"instance-crash-recovery-binlog.json": {want: Fact{Kind: KindIgnored, Reason: `"Binlog position from crash recovery" is where the instance's binlog stood when it started (possibly days before switchover), not the switchover point; replicating from it would replay old writes, so switchback ignores it`}},

	"malformed/not-json.json":                         {wantErr: "malformed RDS event: event is not valid JSON: unexpected end of JSON input"},
	"malformed/missing-detail.json":                   {wantErr: `malformed RDS event: missing "detail"`},
	"malformed/coordinates-no-file.json":              {wantErr: `malformed RDS event: binlog coordinates message has no file: "Binary log coordinates in green environment after switchover: position 40134574"`},
	"malformed/coordinates-non-numeric-position.json": {wantErr: `malformed RDS event: binlog position "4013x574" is not a number`},
	"malformed/coordinates-overflow-position.json":    {wantErr: "malformed RDS event: binlog position 99999999999999999999 overflows 64 bits"},
}

// fixtureFiles returns the path of every file in the events FS.
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	var paths []string
	err := fs.WalkDir(fixtures.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk events FS: %v", err)
	}
	if len(paths) == 0 {
		t.Fatal("events FS is empty")
	}
	return paths
}

func TestFixtures(t *testing.T) {
	seen := map[string]bool{}
	for _, path := range fixtureFiles(t) {
		seen[path] = true
		t.Run(path, func(t *testing.T) {
			exp, ok := fixtureExpectations[path]
			if !ok {
				t.Fatalf("fixture %s has no entry in fixtureExpectations; say what switchback makes of it", path)
			}
			data, err := fs.ReadFile(fixtures.FS, path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(data)

			if exp.wantErr != "" {
				if err == nil {
					t.Fatalf("Decode() = %+v, nil; want error %q", got, exp.wantErr)
				}
				if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), exp.wantErr) {
					t.Errorf("Decode() error = %q; want %q wrapping ErrMalformed", err, exp.wantErr)
				}
				if !strings.HasPrefix(path, "malformed/") {
					t.Errorf("fixture %s fails to decode but is not under malformed/", path)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if strings.HasPrefix(path, "malformed/") {
				t.Errorf("fixture %s is under malformed/ but decodes", path)
			}

			// Every fixture is a full RDS event: the generic fields come from
			// its detail, and Time from detail.Date.
			var ev events.CloudWatchEvent
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatal(err)
			}
			var d Detail
			if err := json.Unmarshal(ev.Detail, &d); err != nil {
				t.Fatal(err)
			}
			if got.Message == "" || got.Message != d.Message || got.SourceID != d.SourceIdentifier ||
				got.SourceType != d.SourceType || got.EventID != d.EventID || got.Time.IsZero() ||
				got.Time.Format("2006-01-02T15:04:05.000Z07:00") != d.Date {
				t.Errorf("Decode() generic fields = %+v; want them from detail %+v", got, d)
			}
			want := exp.want
			want.EventID, want.SourceID, want.SourceType, want.Message, want.Time = got.EventID, got.SourceID, got.SourceType, got.Message, got.Time
			if got != want {
				t.Errorf("Decode() =\n  %+v\nwant\n  %+v", got, want)
			}

			// A Lambda handler gets the same fact from DecodeEvent.
			viaEvent, err := DecodeEvent(ev)
			if err != nil || viaEvent != got {
				t.Errorf("DecodeEvent() = %+v, %v; want %+v (same as Decode)", viaEvent, err, got)
			}
		})
	}
	for path := range fixtureExpectations {
		if !seen[path] {
			t.Errorf("fixtureExpectations has %s, but there is no such fixture", path)
		}
	}
}
