package rdsevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	fixtures "github.com/switchback/switchback/events"
)

// FuzzDecodeEnvelope: whatever Decode reads, it reads the same way every
// time and the same way the Lambda runtime's path does (the envelope
// unmarshalled into events.CloudWatchEvent, then DecodeEvent), and the
// envelope re-marshalled by the runtime's own type decodes to the same
// fact: a fact depends on the event's content, not on its spelling.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, path := range fixtureFiles(f) {
		data, err := fs.ReadFile(fixtures.FS, path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"source":"aws.rds","detail-type":"RDS DB Instance Event","time":"2026-03-10T14:03:11+02:00","detail":{"Message":"Binary log coordinates in green environment after switchover: file mysql-bin.000001 and position 4."}}`))
	f.Add([]byte(`{"SOURCE":"aws.rds","Detail-Type":"RDS Blue Green Deployment Event","detail":{"EventID":"RDS-EVENT-0248","SourceIdentifier":"bgd-1"},"resources":["arn:aws:rds:us-east-1:1:deployment:bgd-2"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		again, err2 := Decode(data)
		if !sameFact(got, again) || (err == nil) != (err2 == nil) {
			t.Fatalf("Decode is not deterministic: %+v %v, then %+v %v", got, err, again, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var ev events.CloudWatchEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("Decode read an envelope the runtime cannot unmarshal (%v): %q", err, data)
		}
		viaRuntime, err := DecodeEvent(ev)
		if err != nil || !sameFact(viaRuntime, got) {
			t.Fatalf("DecodeEvent = %+v, %v; Decode = %+v", viaRuntime, err, got)
		}
		remarshalled, err := json.Marshal(ev)
		if err != nil {
			return // a time the runtime's type cannot write back: not the decoder's concern
		}
		back, err := Decode(remarshalled)
		if err != nil || !sameFact(back, got) {
			t.Fatalf("re-marshalled envelope %s decodes to %+v, %v; want %+v", remarshalled, back, err, got)
		}
	})
}

// FuzzParseMessage: the two message parsers never panic; every
// coordinates error wraps ErrMalformed; coordinates they return are a
// binlog file name and a position ≥ 4 that the message literally
// carries, and that read back from the canonical message RDS writes; a
// rename they return names two distinct valid cluster identifiers the
// message carries.
func FuzzParseMessage(f *testing.F) {
	for _, m := range []string{
		"Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 40134574",
		"Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000017 and position 1574.",
		"Binary log coordinates in green environment after switchover: file and position 4",
		"Binary log coordinates in green environment after switchover: file a.1 and position 3",
		"Binary log coordinates in green environment after switchover: file a.1 and position 99999999999999999999",
		"Binary log coordinates in green environment after switchover: file a.1 and position 4013x574",
		"Binary log coordinates in green environment after switchover: position 4 file a.1",
		"Binlog position from crash recovery is mysql-bin-changelog.000002 154",
		"Switchover from DB cluster orders-prod to orders-prod-green-3rnukl completed. Renamed orders-prod to orders-prod-old1 and orders-prod-green-3rnukl to orders-prod.",
		"Renamed a to a and b to a.",
		"Renamed a to a-old1 and a to a.",
		"",
	} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, message string) {
		file, pos, err := ParseBinlogCoordinates(message)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || file != "" || pos != 0 {
				t.Fatalf("ParseBinlogCoordinates = %q, %d, %v", file, pos, err)
			}
		} else {
			if !binlogFileRe.MatchString(file) || len(file) > 255 || pos < minBinlogPosition {
				t.Fatalf("coordinates %q:%d from %q", file, pos, message)
			}
			if !strings.Contains(message, BinlogCoordinatesPrefix) || !strings.Contains(message, file) {
				t.Fatalf("coordinates %q:%d are not in %q", file, pos, message)
			}
			for _, canonical := range []string{
				fmt.Sprintf("%s: file %s and position %d", BinlogCoordinatesPrefix, file, pos),
				fmt.Sprintf("%s: file %s and position %d.", BinlogCoordinatesPrefix, file, pos),
			} {
				if f2, p2, err := ParseBinlogCoordinates(canonical); err != nil || f2 != file || p2 != pos {
					t.Fatalf("canonical %q reads back as %q:%d, %v", canonical, f2, p2, err)
				}
			}
		}
		oldName, newName, ok := ParseClusterRename(message)
		if !ok {
			if oldName != "" || newName != "" {
				t.Fatalf("ParseClusterRename not ok with names %q, %q", oldName, newName)
			}
			return
		}
		if !clusterIDRe.MatchString(oldName) || !clusterIDRe.MatchString(newName) || strings.EqualFold(oldName, newName) ||
			!strings.Contains(message, oldName) || !strings.Contains(message, newName) {
			t.Fatalf("ParseClusterRename(%q) = %q, %q", message, oldName, newName)
		}
	})
}
