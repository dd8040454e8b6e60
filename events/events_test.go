package events

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
)

// fixtures returns the path of every embedded file.
func fixtures(t *testing.T) []string {
	t.Helper()
	var paths []string
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths = append(paths, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("FS is empty")
	}
	return paths
}

// The README table must list exactly the embedded fixtures.
func TestREADMEListsEveryFixture(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+\\.json)` \\|").FindAllStringSubmatch(string(readme), -1) {
		listed[m[1]] = true
	}
	for _, path := range fixtures(t) {
		if !listed[path] {
			t.Errorf("README.md does not list %s", path)
		}
		delete(listed, path)
	}
	for path := range listed {
		t.Errorf("README.md lists %s, which is not embedded", path)
	}
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Fixtures that are valid JSON have the full EventBridge envelope, with the
// redacted account and the detail-type matching the file name.
func TestFixtureEnvelopes(t *testing.T) {
	ids := map[string]string{}
	for _, path := range fixtures(t) {
		data, err := fs.ReadFile(FS, path)
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(data, &ev); err != nil {
			if path != "malformed/not-json.json" {
				t.Errorf("%s: %v", path, err)
			}
			continue
		}
		for _, key := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources"} {
			if _, ok := ev[key]; !ok {
				t.Errorf("%s: no %q", path, key)
			}
		}
		if ev["source"] != "aws.rds" || ev["account"] != "123456789012" || ev["region"] != "us-east-1" || ev["version"] != "0" {
			t.Errorf("%s: source/account/region/version = %v/%v/%v/%v", path, ev["source"], ev["account"], ev["region"], ev["version"])
		}
		id, _ := ev["id"].(string)
		if !uuidRe.MatchString(id) {
			t.Errorf("%s: id %q is not a UUID", path, id)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: id %s also used by %s", path, id, other)
		}
		ids[id] = path

		name := strings.TrimPrefix(path, "malformed/")
		dt, _ := ev["detail-type"].(string)
		switch {
		case strings.HasPrefix(name, "bluegreen-"), strings.HasPrefix(name, "cluster-switchover-"):
			if dt != "RDS Blue Green Deployment Event" {
				t.Errorf("%s: detail-type %q; want the blue/green one", path, dt)
			}
		case strings.HasPrefix(name, "cluster-"), strings.HasPrefix(name, "coordinates-"), name == "missing-detail.json":
			if dt != "RDS DB Cluster Event" && dt != "RDS DB Instance Event" {
				t.Errorf("%s: detail-type %q; want a cluster or instance event", path, dt)
			}
		case strings.HasPrefix(name, "instance-"):
			if dt != "RDS DB Instance Event" {
				t.Errorf("%s: detail-type %q; want the instance one", path, dt)
			}
		}
	}
}

// All holds every top-level and malformed fixture, with its contents.
func TestAll(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"cluster-binlog-coordinates.json", "malformed/not-json.json"} {
		if len(all[p]) == 0 {
			t.Errorf("All() lacks %s (has %d fixtures)", p, len(all))
		}
	}
}
