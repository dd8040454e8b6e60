package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	fixtures "github.com/switchback/switchback/events"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/rdsevent"
)

const fuzzDeployment = "bgd-4kq8w2m7r1x9zt3c"

// fuzzTopology knows one deployment (before its switchover: Source
// orders-prod, Target its green copy) and records every lookup.
type fuzzTopology struct {
	mu      sync.Mutex
	lookups []string
}

func (f *fuzzTopology) dep() orchestrate.Deployment {
	return orchestrate.Deployment{ID: fuzzDeployment, Status: "AVAILABLE",
		Production: orchestrate.Cluster{ID: "orders-prod-green-3rnukl"}, Rollback: orchestrate.Cluster{ID: "orders-prod"}}
}

func (f *fuzzTopology) Deployment(_ context.Context, id string) (orchestrate.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, "deployment "+id)
	if id == fuzzDeployment {
		return f.dep(), nil
	}
	return orchestrate.Deployment{}, fmt.Errorf("fuzz rds: %s: %w", id, orchestrate.ErrNotFound)
}

func (f *fuzzTopology) Deployments(_ context.Context, status string) ([]orchestrate.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, "deployments "+status)
	return []orchestrate.Deployment{f.dep()}, nil
}

// manualSeeds are manual preflight payloads, valid and not.
var manualSeeds = []string{
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","fix":true}`,
	`{"source":"orders-prod"}`,
	`{"source":"orders-prod","fix":false}`,
	`{"deployment":"bgd-nosuchdeployment"}`,
	`{"source":"nosuchcluster"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","source":"orders-prod"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":true}`,
	`{"Deployment":"bgd-4kq8w2m7r1x9zt3c"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","Fix":true}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","fix":"true"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","fix":null}`,
	`{"deployment":null}`,
	`{"deployment":42}`,
	`{"deployment":"  "}`,
	`{}`,
	`[]`,
	`null`,
	`"bgd-4kq8w2m7r1x9zt3c"`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c"} {"fix":true}`,
	``,
}

// FuzzHandle: the preflight function's payload, an EventBridge event or a
// manual request, through AWS.Handle (clusters not opted in, so nothing
// is opened). It never panics; every error wraps ErrBadRequest, or
// orchestrate.ErrNotFound after RDS was asked about a request that named
// a deployment or source; an event never fails the invocation and is
// looked up only when rdsevent.Decode reads RDS-EVENT-0244 for a
// deployment; a manual request reaches RDS only when its members are
// exactly "deployment", "source" and "fix" (case-sensitive, none null),
// naming exactly one of deployment or source, and RDS is asked about
// exactly that name.
func FuzzHandle(f *testing.F) {
	all, err := fixtures.All()
	if err != nil {
		f.Fatal(err)
	}
	for _, data := range all {
		f.Add(data)
	}
	for _, s := range manualSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		topo := &fuzzTopology{}
		a := AWS{
			Topology: topo,
			OptedIn:  func(string, map[string]string) (bool, string) { return false, "fuzz: not opted in" },
			Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		out, err := a.Handle(context.Background(), payload)
		if out.Notified || out.Report != nil || out.Action != "ignored" {
			t.Fatalf("outcome %+v for clusters that are not opted in", out)
		}
		asked := len(topo.lookups) > 0
		switch {
		case err == nil:
		case errors.Is(err, ErrBadRequest):
		case errors.Is(err, orchestrate.ErrNotFound) && asked:
		default:
			t.Fatalf("error %v wraps neither ErrBadRequest nor, after a lookup, ErrNotFound", err)
		}

		var probe map[string]json.RawMessage
		isObject := json.Unmarshal(payload, &probe) == nil
		if _, isEvent := probe["detail-type"]; isObject && isEvent {
			if err != nil {
				t.Fatalf("an event failed the invocation: %v", err)
			}
			fact, derr := rdsevent.Decode(payload)
			want := derr == nil && fact.Kind == rdsevent.KindDeploymentCreated && fact.Deployment != ""
			if asked != want || asked && (len(topo.lookups) != 1 || topo.lookups[0] != "deployment "+fact.Deployment) {
				t.Fatalf("event %+v (%v): lookups %v", fact, derr, topo.lookups)
			}
			return
		}
		if !asked {
			return
		}
		if !isObject {
			t.Fatalf("RDS asked (%v) about a payload that is not a JSON object: %q", topo.lookups, payload)
		}
		for k, v := range probe {
			if k != "deployment" && k != "source" && k != "fix" || string(bytes.TrimSpace(v)) == "null" {
				t.Fatalf("RDS asked (%v) about a request with member %q: %s (payload %q)", topo.lookups, k, v, payload)
			}
		}
		var dep, src string
		_ = json.Unmarshal(probe["deployment"], &dep)
		_ = json.Unmarshal(probe["source"], &src)
		dep, src = strings.TrimSpace(dep), strings.TrimSpace(src)
		var want string
		switch {
		case dep != "" && src == "":
			want = "deployment " + dep
		case src != "" && dep == "":
			want = "deployments "
		default:
			t.Fatalf("RDS asked (%v) for deployment %q and source %q", topo.lookups, dep, src)
		}
		if len(topo.lookups) != 1 || topo.lookups[0] != want {
			t.Fatalf("lookups %v; want [%s]", topo.lookups, want)
		}
	})
}
