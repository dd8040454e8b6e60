package capture

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/rdsevent"
	"github.com/switchback/switchback/shared/replication"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// These cases must all be settled before any server is touched: the
// request carries no servers, so reaching Configure would fail differently.
func TestConfigureFromEventBeforeAnyServer(t *testing.T) {
	coords := fixture(t, "cluster-binlog-coordinates.json")
	fact, err := rdsevent.Decode(coords)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		event       []byte
		target      Target
		wantRefused bool
		wantErr     string
	}{
		{"another cluster's coordinates", coords, Target{Sources: []string{"billing-prod"}}, true, "not one of this pair's production sources"},
		{"no sources configured", coords, Target{}, true, "not one of this pair's production sources"},
		{"coordinates disagree with the expected ones", coords, Target{Sources: []string{fact.SourceID},
			Configure: replication.ConfigureRequest{Start: replication.BinlogPosition{File: fact.BinlogFile, Position: fact.BinlogPosition + 1}}}, true, "differ from the expected"},
		{"malformed event", fixture(t, "malformed/coordinates-overflow-position.json"), Target{Sources: []string{fact.SourceID}}, false, "overflows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ConfigureFromEvent(t.Context(), tc.event, tc.target)
			if err == nil || errors.Is(err, replication.ErrRefused) != tc.wantRefused || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v; want refused=%v containing %q", err, tc.wantRefused, tc.wantErr)
			}
			if res.Configure != nil {
				t.Errorf("configure ran: %+v", res.Configure)
			}
		})
	}
}

func TestConfigureFromEventIgnoresOtherEvents(t *testing.T) {
	res, err := ConfigureFromEvent(t.Context(), fixture(t, "bluegreen-switchover-completed.json"), Target{Sources: []string{"orders-prod"}})
	if err != nil || res.Configure != nil || res.Fact.Kind != rdsevent.KindSwitchoverCompleted {
		t.Fatalf("got %+v, %v; want the decoded fact and nothing done", res, err)
	}
}
