package orchestrate

// Fuzz targets for every function payload the orchestrator decodes or acts
// on: the rollback and teardown payloads (decoded strictly), the configure
// payload (decoded by the Lambda runtime with encoding/json) and the
// capture payload (an EventBridge event). Each runs the decoded request
// through the Orchestrator over in-memory fakes that record every call, so
// a property can say not only "the decoder refused it" but "nothing was
// written, nothing executed". Seed corpora: testdata/fuzz/<target>/.
// `make soak-fuzz` runs each for FUZZTIME (60 s).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	fixtures "github.com/switchback/switchback/events"
	"github.com/switchback/switchback/shared/rdsevent"
	"github.com/switchback/switchback/shared/replication"
)

// The fakes' world: one configured deployment and one closed one.
const (
	fuzzDeployment = "bgd-4kq8w2m7r1x9zt3c"
	fuzzClosed     = "bgd-closed1"
	fuzzProdID     = "orders-prod"
	fuzzRollbackID = "orders-prod-old1"
)

// errFuzzStop is what the fake store answers to the lease an execute (or
// a teardown) asks for: reaching it means the request would have acted.
var errFuzzStop = errors.New("fuzz: stopped at the lease: the request would act from here")

// fuzzStore is an in-memory Store that records every call.
type fuzzStore struct {
	mu       sync.Mutex
	records  map[string]Record
	leases   []string // deployments whose lease was asked for
	releases int
	writes   []string // every Create, Update, Delete and AppendHistory
	// leaseErr is what AcquireLease answers for a known record (nil grants it).
	leaseErr error
}

func newFuzzStore(now time.Time) *fuzzStore {
	prod := Cluster{ID: fuzzProdID, Endpoint: "127.0.0.1", Port: 1}
	rb := Cluster{ID: fuzzRollbackID, Endpoint: "127.0.0.1", Port: 2}
	return &fuzzStore{records: map[string]Record{
		fuzzDeployment: {Deployment: fuzzDeployment, Phase: PhaseConfigured, Production: &prod, Rollback: &rb,
			Status: StatusSwitchoverCompleted, Coords: &Coordinates{File: "mysql-bin-changelog.000003", Position: 40134574},
			Version: 3, ConfiguredAt: now.Add(-48 * time.Hour)},
		fuzzClosed: {Deployment: fuzzClosed, Phase: PhaseClosed, Production: &prod, Rollback: &rb, Version: 9,
			ConfiguredAt: now.Add(-480 * time.Hour)},
	}}
}

func (s *fuzzStore) Get(_ context.Context, id string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	if !ok {
		return Record{}, fmt.Errorf("fuzz store: %s: %w", id, ErrNotFound)
	}
	return r, nil
}

func (s *fuzzStore) Create(_ context.Context, r Record) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, "create "+r.Deployment)
	if _, ok := s.records[r.Deployment]; ok {
		return Record{}, ErrExists
	}
	r.Version = 1
	s.records[r.Deployment] = r
	return r, nil
}

func (s *fuzzStore) Update(_ context.Context, r Record) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, "update "+r.Deployment)
	old, ok := s.records[r.Deployment]
	if !ok || old.Version != r.Version {
		return Record{}, ErrStaleVersion
	}
	r.Version++
	s.records[r.Deployment] = r
	return r, nil
}

func (s *fuzzStore) Delete(_ context.Context, id string, _ int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, "delete "+id)
	delete(s.records, id)
	return nil
}

func (s *fuzzStore) List(context.Context) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.records {
		out = append(out, r)
	}
	return out, nil
}

func (s *fuzzStore) AcquireLease(_ context.Context, id, holder string, ttl time.Duration) (Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leases = append(s.leases, id)
	if _, ok := s.records[id]; !ok {
		return Lease{}, fmt.Errorf("fuzz store: lease of %s: %w", id, ErrNotFound)
	}
	if s.leaseErr != nil {
		return Lease{}, s.leaseErr
	}
	return Lease{Holder: holder, Expires: time.Now().Add(ttl)}, nil
}

func (s *fuzzStore) ReleaseLease(context.Context, string, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releases++
	return nil
}

func (s *fuzzStore) AppendHistory(_ context.Context, e HistoryEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, "history "+e.Deployment+" "+e.Step+" "+e.Outcome)
	return nil
}

func (s *fuzzStore) History(context.Context, string) ([]HistoryEntry, error) { return nil, nil }

// fuzzAdapters are the other adapters: no server is reachable (every admin
// login fails), RDS knows no deployment, and notifications, invocations
// and topology lookups are counted.
type fuzzAdapters struct {
	mu          sync.Mutex
	notified    int
	invoked     int
	lookups     []string
	credentials int
}

var errFuzzNoServers = errors.New("fuzz: no servers here")

func (a *fuzzAdapters) Admin(context.Context, Cluster) (Login, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.credentials++
	return Login{}, errFuzzNoServers
}

func (a *fuzzAdapters) ReplicationPassword(context.Context, Cluster) (string, error) { return "", nil }

func (a *fuzzAdapters) Notify(context.Context, string, string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.notified++
	return nil
}

func (a *fuzzAdapters) InvokeConfigure(context.Context, ConfigureRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invoked++
	return nil
}

func (a *fuzzAdapters) Deployment(_ context.Context, id string) (Deployment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lookups = append(a.lookups, "deployment "+id)
	return Deployment{}, fmt.Errorf("fuzz rds: deployment %s: %w", id, ErrNotFound)
}

func (a *fuzzAdapters) Deployments(_ context.Context, status string) ([]Deployment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lookups = append(a.lookups, "deployments "+status)
	return nil, nil
}

func fuzzOrchestrator(st *fuzzStore, a *fuzzAdapters, now time.Time) *Orchestrator {
	return &Orchestrator{
		Store: st, Topology: a, Notifier: a, Invoker: a, Credentials: a,
		Connect: func(context.Context, string, Cluster, Login) (*replication.Server, error) {
			return nil, errFuzzNoServers
		},
		OptedIn:  func(string, map[string]string) (bool, string) { return true, "fuzz" },
		Actor:    "fuzz/req-1",
		Settings: Settings{Lease: time.Minute, RollbackWindow: 24 * time.Hour},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      func() time.Time { return now },
	}
}

// topLevel is the payload's top-level members, as raw JSON, read
// independently of the decoders under test (nil when the payload is not
// one JSON object).
func topLevel(payload []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	return m
}

// literal reports whether member name of m is exactly the JSON literal
// want ("true" or "false").
func literal(m map[string]json.RawMessage, name, want string) bool {
	raw, ok := m[name]
	return ok && string(bytes.TrimSpace(raw)) == want
}

// literalString is member name of m when it is a JSON string.
func literalString(m map[string]json.RawMessage, name string) (string, bool) {
	var s string
	raw, ok := m[name]
	if !ok || json.Unmarshal(raw, &s) != nil || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) {
		return "", false
	}
	return s, true
}

// rollbackSeeds are valid and invalid rollback payloads.
var rollbackSeeds = []string{
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":true}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":false,"confirm":"orders-prod-old1","reason":"p99 latency doubled"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":false,"confirm":" orders-prod-old1 ","reason":" x "}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":false,"confirm":"orders-prod","reason":"latency"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":false,"reason":"latency"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":false,"confirm":"orders-prod-old1","reason":"   "}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":"false","confirm":"orders-prod-old1","reason":"latency"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryrun":false,"confirm":"orders-prod-old1","reason":"latency"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":true,"dryRun":false,"confirm":"orders-prod-old1","reason":"latency"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dry\u0052un":false,"confirm":"orders-prod-old1","reason":"latency"}`,
	`{"deployment":"bgd-nosuchdeployment","dryRun":false,"confirm":"orders-prod-old1","reason":"latency"}`,
	`{"deployment":"bgd-closed1","dryRun":false,"confirm":"orders-prod-old1","reason":"latency"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":false,"confirm":"orders-prod-old1","reason":"latency","maxLagSeconds":5,"catchupTimeoutSeconds":30,"maxWriteDowntimeMs":1000,"reverse":true,"privilegedWriters":"kill"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","repoint":{"route53":{"zoneId":"/hostedzone/Z0ORDERS","recordName":"db.orders.internal","ttl":0},"secret":{"secretId":"orders/app"},"rename":{}}}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","reverse":true,"repoint":{"rename":{}}}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","maxLagSeconds":1.5}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","maxLagSeconds":99999999999999999999}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","caller":"root"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","repoint":{"route53":{"zoneId":"Z1","recordName":"a.b","ttl":"5"}}}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c"} {"dryRun":false}`,
	`[{"deployment":"bgd-4kq8w2m7r1x9zt3c"}]`,
	`{"deployment":null}`,
	`{"deployment":"BGD-4KQ8"}`,
	`{"deployment":"unmatched:orders-prod"}`,
	`null`,
	``,
	`{`,
	`"bgd-4kq8w2m7r1x9zt3c"`,
}

// FuzzDecodeRollbackRequest: DecodeRollbackRequest never panics; every
// error wraps ErrInvalidRequest (and replication.ErrInvalidArgument); a
// decoded request re-validates and survives a JSON round trip unchanged;
// and run through Orchestrator.Rollback it executes (reaches the lease)
// if and only if the payload literally says "dryRun": false, "confirm"
// naming the rollback cluster and a non-blank "reason", for a known,
// configured deployment. A dry run writes nothing; a refused execute
// writes at most one history line; nothing notifies before the lease.
func FuzzDecodeRollbackRequest(f *testing.F) {
	for _, s := range rollbackSeeds {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := DecodeRollbackRequest(payload)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) || !errors.Is(err, replication.ErrInvalidArgument) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest and ErrInvalidArgument", err)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("decoded request does not re-validate: %v", err)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("marshal %+v: %v", req, err)
		}
		back, err := DecodeRollbackRequest(again)
		if err != nil || !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip: %s → %+v, %v; want %+v", again, back, err, req)
		}
		m := topLevel(payload)
		if m == nil {
			t.Fatalf("decoded a payload that is not one JSON object: %q", payload)
		}
		if dep, _ := literalString(m, "deployment"); dep != req.Deployment {
			t.Fatalf("deployment %q decoded from a payload whose \"deployment\" is %q", req.Deployment, dep)
		}
		if !req.IsDryRun() && !literal(m, "dryRun", "false") {
			t.Fatalf("an execute decoded from a payload without a literal \"dryRun\": false: %q", payload)
		}
		confirm, _ := literalString(m, "confirm")
		reason, _ := literalString(m, "reason")
		wantExecute := req.Deployment == fuzzDeployment && literal(m, "dryRun", "false") &&
			strings.TrimSpace(confirm) == fuzzRollbackID && strings.TrimSpace(reason) != ""

		st, a := newFuzzStore(now), &fuzzAdapters{}
		st.leaseErr = errFuzzStop
		req.Caller = "fuzz"
		out, rerr := fuzzOrchestrator(st, a, now).Rollback(t.Context(), req)
		executed := len(st.leases) > 0
		switch {
		case executed != wantExecute:
			t.Fatalf("executed %v (leases %v, error %v); want %v for %q", executed, st.leases, rerr, wantExecute, payload)
		case executed && (!errors.Is(rerr, errFuzzStop) || len(st.leases) != 1 || st.leases[0] != fuzzDeployment):
			t.Fatalf("execute: leases %v, error %v", st.leases, rerr)
		case out.DryRun != req.IsDryRun():
			t.Fatalf("outcome says dry run %v; the request %v", out.DryRun, req.IsDryRun())
		case a.notified != 0:
			t.Fatalf("%d notifications before any lease", a.notified)
		case req.IsDryRun() && len(st.writes) != 0:
			t.Fatalf("a dry run wrote %v", st.writes)
		case !executed && len(st.writes) > 1,
			!executed && len(st.writes) == 1 && (req.Deployment == "" || !strings.HasPrefix(st.writes[0], "history "+req.Deployment+" rollback refused")):
			t.Fatalf("a refused request wrote %v", st.writes)
		case executed && len(st.writes) != 0:
			t.Fatalf("wrote %v before the lease", st.writes)
		case !executed && !req.IsDryRun() && rerr == nil:
			t.Fatalf("an execute that did not run returned no error: %+v", out)
		}
	})
}

// teardownSeeds are valid and invalid teardown payloads.
var teardownSeeds = []string{
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","reason":"upgrade verified","caller":"alice"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","releaseFence":true}`,
	`{"due":true}`,
	`{"due":true,"releaseFence":false}`,
	`{"deployment":"bgd-nosuchdeployment"}`,
	`{"deployment":"bgd-closed1","due":true}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":true}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","releasefence":true}`,
	`{"Deployment":"bgd-4kq8w2m7r1x9zt3c"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","releaseFence":"yes"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","due":"true"}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","releaseFence":null}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","deployment":"bgd-2"}`,
	`{"deployment":"orders-prod"}`,
	`{"deployment":42}`,
	`{"due":false}`,
	`{}`,
	`[]`,
	`{"deployment":"bgd-1"} {"due":true}`,
	`null`,
	``,
}

// FuzzDecodeTeardownRequest: DecodeTeardownRequest never panics; every
// error wraps ErrInvalidTeardownRequest (and ErrInvalidArgument); a
// decoded request names a bgd- deployment or is due, says releaseFence
// and due only when the payload literally does, and survives a JSON round
// trip; run through Orchestrator.Teardown it asks for the lease of exactly
// the deployment the payload names (or, when due, of the one due pair) and
// writes nothing when that is refused.
func FuzzDecodeTeardownRequest(f *testing.F) {
	for _, s := range teardownSeeds {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := DecodeTeardownRequest(payload)
		if err != nil {
			if !errors.Is(err, ErrInvalidTeardownRequest) || !errors.Is(err, replication.ErrInvalidArgument) {
				t.Fatalf("error %v does not wrap ErrInvalidTeardownRequest and ErrInvalidArgument", err)
			}
			return
		}
		if (req.Deployment == "" && !req.Due) || (req.Deployment != "" && !teardownIDRe.MatchString(req.Deployment)) {
			t.Fatalf("decoded request does not re-validate: %+v", req)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := DecodeTeardownRequest(again); err != nil || back != req {
			t.Fatalf("round trip: %s → %+v, %v; want %+v", again, back, err, req)
		}
		m := topLevel(payload)
		if m == nil {
			t.Fatalf("decoded a payload that is not one JSON object: %q", payload)
		}
		if req.ReleaseFence != literal(m, "releaseFence", "true") || req.Due != literal(m, "due", "true") {
			t.Fatalf("releaseFence %v, due %v decoded from %q", req.ReleaseFence, req.Due, payload)
		}
		if dep, _ := literalString(m, "deployment"); dep != req.Deployment {
			t.Fatalf("deployment %q decoded from a payload whose \"deployment\" is %q", req.Deployment, dep)
		}

		st, a := newFuzzStore(now), &fuzzAdapters{}
		st.leaseErr = errFuzzStop
		_, terr := fuzzOrchestrator(st, a, now).Teardown(t.Context(), req)
		want := []string{req.Deployment}
		if req.Deployment == "" {
			want = []string{fuzzDeployment} // the one configured pair whose window ended
		}
		if !reflect.DeepEqual(st.leases, want) {
			t.Fatalf("leases asked %v; want %v", st.leases, want)
		}
		if len(st.writes) != 0 || a.notified != 0 || a.credentials != 0 {
			t.Fatalf("wrote %v, notified %d, read %d logins without the lease", st.writes, a.notified, a.credentials)
		}
		if _, known := st.records[st.leases[0]]; known != errors.Is(terr, errFuzzStop) {
			t.Fatalf("teardown of %v: error %v", st.leases, terr)
		}
	})
}

// configureSeeds are payloads as capture and reconcile send them, and not.
var configureSeeds = []string{
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c"}`,
	`{"Deployment":"bgd-4kq8w2m7r1x9zt3c"}`,
	`{"deployment":"bgd-nosuchdeployment"}`,
	`{"deployment":"unmatched:orders-prod@2026-03-10T12:00:00Z"}`,
	`{"deployment":""}`,
	`{"deployment":42}`,
	`{"deployment":null}`,
	`{}`,
	`{"deployment":"bgd-closed1","extra":true}`,
	`[]`,
	`null`,
	`"bgd-4kq8w2m7r1x9zt3c"`,
}

// FuzzConfigureRequest: the configure function's payload as the Lambda
// runtime decodes it (encoding/json into ConfigureRequest), then
// Orchestrator.Configure. A payload the runtime cannot decode never
// reaches the handler. An empty or unmatched id fails before any lease;
// any other asks for the lease of exactly that id; an unknown deployment
// fails with ErrNotFound and a configured one reports unchanged; nothing
// is ever written, notified or invoked, and no login is read.
func FuzzConfigureRequest(f *testing.F) {
	for _, s := range configureSeeds {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payload []byte) {
		var req ConfigureRequest
		if json.Unmarshal(payload, &req) != nil {
			return // the runtime refuses it: the handler never runs
		}
		st, a := newFuzzStore(now), &fuzzAdapters{}
		out, err := fuzzOrchestrator(st, a, now).Configure(t.Context(), req)
		id := req.Deployment
		switch {
		case id == "" || strings.HasPrefix(id, unmatchedPrefix):
			if err == nil || out.Outcome != "failed" || len(st.leases) != 0 {
				t.Fatalf("configure %q: %+v, %v, leases %v; want failed before any lease", id, out, err, st.leases)
			}
		case !reflect.DeepEqual(st.leases, []string{id}):
			t.Fatalf("leases asked %v; want [%s]", st.leases, id)
		case id == fuzzDeployment:
			if err != nil || out.Outcome != "unchanged" || st.releases != 1 {
				t.Fatalf("configure of the configured pair: %+v, %v, %d releases", out, err, st.releases)
			}
		case id == fuzzClosed:
			if err != nil || out.Outcome != "skipped" {
				t.Fatalf("configure of a closed pair: %+v, %v", out, err)
			}
		default:
			if !errors.Is(err, ErrNotFound) || out.Outcome != "failed" {
				t.Fatalf("configure of unknown %q: %+v, %v; want failed, not found", id, out, err)
			}
		}
		if len(st.writes) != 0 || a.notified != 0 || a.invoked != 0 || a.credentials != 0 {
			t.Fatalf("configure %q wrote %v, notified %d, invoked %d, read %d logins", id, st.writes, a.notified, a.invoked, a.credentials)
		}
	})
}

// FuzzCapture: the capture function's payload is an EventBridge event.
// Orchestrator.Capture never panics; an event rdsevent.Decode refuses is
// an ErrMalformed error with no call to any adapter; an event that is
// neither a completed switchover nor binlog coordinates writes nothing;
// coordinates no deployment claims are recorded as unmatched with exactly
// the decoded file and position; configure is never invoked (no record is
// ready) and nobody is notified.
func FuzzCapture(f *testing.F) {
	addEventSeeds(f)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, event []byte) {
		fact, derr := rdsevent.Decode(event)
		st, a := newFuzzStore(now), &fuzzAdapters{}
		res, err := fuzzOrchestrator(st, a, now).Capture(t.Context(), event)
		if derr != nil {
			if !errors.Is(err, rdsevent.ErrMalformed) || res.Action != "ignored" {
				t.Fatalf("malformed event: %+v, %v", res, err)
			}
			if len(st.leases)+len(st.writes)+len(a.lookups)+a.invoked+a.notified != 0 {
				t.Fatalf("a malformed event reached the adapters: %v %v %v", st.leases, st.writes, a.lookups)
			}
			return
		}
		if errors.Is(err, rdsevent.ErrMalformed) {
			t.Fatalf("Capture says malformed (%v); Decode did not", err)
		}
		if !sameFact(res.Fact, fact) {
			t.Fatalf("capture acted on %+v; the event decodes to %+v", res.Fact, fact)
		}
		if a.invoked != 0 || a.notified != 0 || len(st.leases) != 0 {
			t.Fatalf("invoked %d, notified %d, leases %v", a.invoked, a.notified, st.leases)
		}
		switch fact.Kind {
		case rdsevent.KindBinlogCoordinates:
			for id, r := range st.records {
				if id == fuzzDeployment || id == fuzzClosed {
					continue
				}
				if !strings.HasPrefix(id, unmatchedPrefix) || r.Coords == nil || r.Coords.File != fact.BinlogFile || r.Coords.Position != fact.BinlogPosition {
					t.Fatalf("recorded %s %+v from %s:%d", id, r.Coords, fact.BinlogFile, fact.BinlogPosition)
				}
			}
		case rdsevent.KindSwitchoverCompleted, rdsevent.KindClusterSwitchoverCompleted:
			if len(st.writes) != 0 {
				t.Fatalf("a switchover of a deployment RDS does not know wrote %v", st.writes)
			}
		default:
			if len(st.writes) != 0 || len(a.lookups) != 0 {
				t.Fatalf("a %s event wrote %v, looked up %v", fact.Kind, st.writes, a.lookups)
			}
		}
	})
}

// addEventSeeds adds every events/ fixture, malformed ones included.
func addEventSeeds(f *testing.F) {
	all, err := fixtures.All()
	if err != nil {
		f.Fatal(err)
	}
	for _, data := range all {
		f.Add(data)
	}
}

// sameFact compares facts, their times by instant (two decodes of one
// offset give equal times with distinct *time.Location values).
func sameFact(a, b rdsevent.Fact) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}
