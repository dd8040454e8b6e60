package rdsevent

import (
	"errors"
	"io/fs"
	"testing"

	fixtures "github.com/switchback/switchback/events"
)

var knownKinds = map[Kind]bool{
	KindDeploymentCreated:          true,
	KindDeploymentFailed:           true,
	KindDeploymentDeleted:          true,
	KindSwitchoverStarted:          true,
	KindSwitchoverCompleted:        true,
	KindSwitchoverCanceled:         true,
	KindClusterSwitchoverStarted:   true,
	KindClusterSwitchoverCompleted: true,
	KindClusterSwitchoverCanceled:  true,
	KindBinlogCoordinates:          true,
	KindIgnored:                    true,
}

// FuzzDecode checks that Decode never panics, that every error wraps
// ErrMalformed, and that a fact it returns is well formed.
func FuzzDecode(f *testing.F) {
	for _, path := range fixtureFiles(f) {
		data, err := fs.ReadFile(fixtures.FS, path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"source":"aws.rds","detail-type":"RDS DB Cluster Event","detail":{"Message":"Binary log coordinates in green environment after switchover: file a.1 and position 4"}}`))
	f.Add([]byte(`{"source":"aws.rds","detail-type":"RDS Blue Green Deployment Event","detail":{"Message":"Renamed a to a-old1 and b to a."}}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode() error %v does not wrap ErrMalformed", err)
			}
			if got != (Fact{}) {
				t.Fatalf("Decode() = %+v with error %v; want zero fact", got, err)
			}
			return
		}
		if !knownKinds[got.Kind] {
			t.Fatalf("Decode() kind %q is not a known kind", got.Kind)
		}
		if got.Kind == KindBinlogCoordinates {
			if got.BinlogFile == "" || got.BinlogPosition < 4 {
				t.Fatalf("Decode() coordinates %q:%d; want a file and a position >= 4", got.BinlogFile, got.BinlogPosition)
			}
		} else if got.BinlogFile != "" || got.BinlogPosition != 0 {
			t.Fatalf("Decode() kind %q carries coordinates %q:%d", got.Kind, got.BinlogFile, got.BinlogPosition)
		}
		if got.Kind == KindIgnored && got.Reason == "" {
			t.Fatalf("Decode() ignored fact without a reason: %+v", got)
		}
		if (got.OldName != "" || got.NewName != "") && (got.Kind != KindClusterSwitchoverCompleted || got.OldName == "" || got.NewName == "" || got.OldName == got.NewName) {
			t.Fatalf("Decode() names %q/%q on %+v", got.OldName, got.NewName, got)
		}
	})
}
