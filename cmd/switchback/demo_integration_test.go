//go:build integration

package main

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/rdsevent"
	"github.com/switchback/switchback/shared/sandbox"
)

// TestDemoIntegration runs `switchback demo --output json` in-process, end to
// end: two real servers, a switchover and a rollback under load. It checks
// the claims the demo makes: rollback completed, zero acknowledged writes
// missing on the final production, equal checksums at cutover, a bounded
// write outage.
func TestDemoIntegration(t *testing.T) {
	sandbox.Require(t)
	var out, errOut strings.Builder
	start := time.Now()
	code := run(t.Context(), []string{"demo", "--output", "json"}, &cliEnv{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		getenv: func(string) string { return "" },
	})
	t.Logf("demo took %s", time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("demo exit %d\nstderr: %s\nstdout: %s", code, errOut.String(), out.String())
	}
	var got struct {
		OK       bool   `json:"ok"`
		Error    string `json:"error"`
		Rollback struct {
			Outcome            string `json:"outcome"`
			WriteUnavailableMS int64  `json:"write_unavailable_ms"`
		} `json:"rollback"`
		Writes struct {
			Acknowledged int `json:"acknowledged"`
			Rejected     int `json:"rejected"`
			OnBlueBefore int `json:"acknowledged_on_blue_before_switchover"`
			OnGreen      int `json:"acknowledged_on_green"`
			OnBlueAfter  int `json:"acknowledged_on_blue_after_rollback"`
		} `json:"writes"`
		Verification struct {
			Acknowledged    int `json:"acknowledged"`
			Present         int `json:"present"`
			Missing         int `json:"missing"`
			RejectedPresent int `json:"rejected_present"`
		} `json:"verification"`
		Checksums struct {
			Equal bool `json:"equal"`
		} `json:"checksums"`
		Verify struct {
			Outcome string `json:"outcome"`
			Rows    int    `json:"rows"`
		} `json:"verify"`
		Configure struct {
			Outcome string `json:"outcome"`
		} `json:"configure"`
	}
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("demo JSON: %v\n%s", err, out.String())
	}
	t.Logf("rollback %s, write outage %d ms, writes %+v", got.Rollback.Outcome, got.Rollback.WriteUnavailableMS, got.Writes)
	if !got.OK || got.Error != "" {
		t.Errorf("ok = %v, error %q", got.OK, got.Error)
	}
	if got.Configure.Outcome != "configured" {
		t.Errorf("configure outcome %q; want configured", got.Configure.Outcome)
	}
	if got.Rollback.Outcome != "completed" {
		t.Errorf("rollback outcome %q; want completed", got.Rollback.Outcome)
	}
	if got.Rollback.WriteUnavailableMS > 2000 {
		t.Errorf("write_unavailable_ms = %d; want ≤ 2000", got.Rollback.WriteUnavailableMS)
	}
	if got.Writes.Acknowledged <= 0 || got.Writes.OnBlueBefore <= 0 || got.Writes.OnGreen <= 0 || got.Writes.OnBlueAfter <= 0 {
		t.Errorf("writes %+v; want acknowledged writes on blue, green, and blue again", got.Writes)
	}
	v := got.Verification
	if v.Missing != 0 || v.RejectedPresent != 0 || v.Present != got.Writes.Acknowledged || v.Acknowledged != got.Writes.Acknowledged {
		t.Errorf("verification %+v for %d acknowledged writes; want every one present and no rejected one", v, got.Writes.Acknowledged)
	}
	if !got.Checksums.Equal {
		t.Error("checksums at cutover differ")
	}
	if got.Verify.Outcome != "equal" || got.Verify.Rows < demoCustomers+demoOrders {
		t.Errorf("online verify under load: %+v; want equal over at least %d rows", got.Verify, demoCustomers+demoOrders)
	}
}

// TestDemoCoordinatesEvent: the event the demo builds has the shape of the
// fixture events/cluster-binlog-coordinates.json and decodes to exactly the
// coordinates it was built from.
func TestDemoCoordinatesEvent(t *testing.T) {
	ev, err := coordinatesEvent("mysql-bin-changelog.000002", 1234, time.Date(2026, 3, 10, 9, 1, 10, 932e6, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	fact, err := rdsevent.Decode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if fact.Kind != rdsevent.KindBinlogCoordinates || fact.BinlogFile != "mysql-bin-changelog.000002" || fact.BinlogPosition != 1234 ||
		fact.SourceType != "CLUSTER" || fact.SourceID != demoCluster {
		t.Errorf("decoded %+v", fact)
	}
	fixture, err := os.ReadFile("../../events/cluster-binlog-coordinates.json")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := jsonKeys(t, ev), jsonKeys(t, fixture); !reflect.DeepEqual(a, b) {
		t.Errorf("event keys %v\nfixture keys %v", a, b)
	}
}

// jsonKeys lists every object key path in a JSON document ("detail.Message"),
// leaving out the contents of Tags (free-form).
func jsonKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok || strings.HasSuffix(prefix, "Tags.") {
			return
		}
		for k, sub := range m {
			keys = append(keys, prefix+k)
			walk(prefix+k+".", sub)
		}
	}
	walk("", v)
	sort.Strings(keys)
	return keys
}
