package orchestrate

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/verify"
)

func TestDecodeVerifyRequest(t *testing.T) {
	req, err := DecodeVerifyRequest([]byte(`{"deployment":"bgd-4kq8w2m7r1x9zt3c","verify":{"tables":["shop.orders","shop.items"],"chunkRows":500,
		"maxLagSeconds":3,"maxLockMs":50,"rows":true,"restart":true,"maxContinuations":4}}`))
	if err != nil {
		t.Fatal(err)
	}
	v := req.Verify
	if req.Deployment != "bgd-4kq8w2m7r1x9zt3c" || !reflect.DeepEqual(v.Tables, []string{"shop.orders", "shop.items"}) || v.chunkRows() != 500 ||
		v.maxLag() != 3*time.Second || v.maxLock() != 50*time.Millisecond || !v.Rows || !v.Restart || v.Continuation != 0 || v.maxContinuations() != 4 || req.Caller != "" {
		t.Fatalf("decoded %+v", req)
	}
	// The defaults: verify's own (zero values), the default chain bound.
	req, err = DecodeVerifyRequest([]byte(`{"deployment":"bgd-1","verify":{}}`))
	if err != nil || req.Verify.chunkRows() != 0 || req.Verify.maxLag() != 0 || req.Verify.maxLock() != 0 || req.Verify.Tables != nil ||
		req.Verify.Rows || req.Verify.Restart || req.Verify.maxContinuations() != DefaultVerifyContinuations {
		t.Fatalf("defaults: %+v, %v", req, err)
	}
	// A chain may be bounded at zero continuations, and its last link
	// has continuation == maxContinuations.
	if _, err := DecodeVerifyRequest([]byte(`{"deployment":"bgd-1","verify":{"continuation":2,"maxContinuations":2}}`)); err != nil {
		t.Errorf("last link of a chain: %v", err)
	}
	if _, err := DecodeVerifyRequest([]byte(`{"deployment":"bgd-1","verify":{"maxContinuations":0}}`)); err != nil {
		t.Errorf("no continuation: %v", err)
	}
}

// Every malformed verify payload is refused with an error naming the
// field.
func TestDecodeVerifyRequestRefuses(t *testing.T) {
	cases := map[string]struct{ payload, want string }{
		"no verify":                  {`{"deployment":"bgd-1"}`, `"verify" is required`},
		"verify null":                {`{"deployment":"bgd-1","verify":null}`, `"verify" must be an object, not null`},
		"verify not an object":       {`{"deployment":"bgd-1","verify":true}`, `"verify" must be an object, not a boolean`},
		"wrong case":                 {`{"deployment":"bgd-1","Verify":{}}`, `unknown field "Verify": did you mean "verify"?`},
		"rollback field":             {`{"deployment":"bgd-1","verify":{},"dryRun":false}`, `unknown field "dryRun" (known here: deployment, verify)`},
		"confirm in a verify":        {`{"deployment":"bgd-1","verify":{},"confirm":"orders-prod-old1"}`, `unknown field "confirm"`},
		"unknown option":             {`{"deployment":"bgd-1","verify":{"budget":60}}`, `unknown field "verify.budget"`},
		"option wrong case":          {`{"deployment":"bgd-1","verify":{"chunkrows":10}}`, `unknown field "verify.chunkrows": did you mean "chunkRows"?`},
		"duplicate option":           {`{"deployment":"bgd-1","verify":{"rows":true,"rows":false}}`, `"verify.rows" appears twice`},
		"tables as a string":         {`{"deployment":"bgd-1","verify":{"tables":"shop.orders"}}`, `"verify.tables" must be an array of strings, not a string`},
		"tables with a number":       {`{"deployment":"bgd-1","verify":{"tables":["shop.orders",7]}}`, `"verify.tables"[1] must be a string, not a number`},
		"tables with null":           {`{"deployment":"bgd-1","verify":{"tables":[null]}}`, `"verify.tables"[0] must be a string, not null`},
		"tables nested":              {`{"deployment":"bgd-1","verify":{"tables":[["shop.orders"]]}}`, `"verify.tables"[0] must be a string, not an array`},
		"tables with an object":      {`{"deployment":"bgd-1","verify":{"tables":[{"t":"x"}]}}`, `"verify.tables"[0] must be a string, not an object`},
		"table without schema":       {`{"deployment":"bgd-1","verify":{"tables":["orders"]}}`, `"verify.tables"[0] "orders" is not a schema.table name`},
		"table with two dots":        {`{"deployment":"bgd-1","verify":{"tables":["a.b.c"]}}`, `"verify.tables"[0] "a.b.c" is not a schema.table name`},
		"table with spaces":          {`{"deployment":"bgd-1","verify":{"tables":[" shop.orders"]}}`, `is not a schema.table name`},
		"table twice":                {`{"deployment":"bgd-1","verify":{"tables":["shop.orders","shop.orders"]}}`, `lists "shop.orders" twice`},
		"chunk rows as a string":     {`{"deployment":"bgd-1","verify":{"chunkRows":"1000"}}`, `"verify.chunkRows" must be an integer, not a string`},
		"chunk rows fraction":        {`{"deployment":"bgd-1","verify":{"chunkRows":10.5}}`, `"verify.chunkRows" must be an integer, not 10.5`},
		"chunk rows zero":            {`{"deployment":"bgd-1","verify":{"chunkRows":0}}`, `"verify.chunkRows" 0 is out of range (1 to 1000000)`},
		"chunk rows too many":        {`{"deployment":"bgd-1","verify":{"chunkRows":1000001}}`, `"verify.chunkRows" 1000001 is out of range`},
		"lag zero":                   {`{"deployment":"bgd-1","verify":{"maxLagSeconds":0}}`, `"verify.maxLagSeconds" 0 is out of range (1 to 3600)`},
		"lag too long":               {`{"deployment":"bgd-1","verify":{"maxLagSeconds":3601}}`, `"verify.maxLagSeconds" 3601 is out of range`},
		"lock zero":                  {`{"deployment":"bgd-1","verify":{"maxLockMs":0}}`, `"verify.maxLockMs" 0 is out of range (1 to 1000)`},
		"lock too long":              {`{"deployment":"bgd-1","verify":{"maxLockMs":1001}}`, `"verify.maxLockMs" 1001 is out of range`},
		"lock as a duration":         {`{"deployment":"bgd-1","verify":{"maxLockMs":"20ms"}}`, `"verify.maxLockMs" must be an integer, not a string`},
		"rows as a string":           {`{"deployment":"bgd-1","verify":{"rows":"true"}}`, `"verify.rows" must be true or false, not a string`},
		"restart as a number":        {`{"deployment":"bgd-1","verify":{"restart":1}}`, `"verify.restart" must be true or false, not a number`},
		"negative continuation":      {`{"deployment":"bgd-1","verify":{"continuation":-1}}`, `"verify.continuation" -1 is negative`},
		"continuation past bound":    {`{"deployment":"bgd-1","verify":{"continuation":5,"maxContinuations":4}}`, `"verify.continuation" 5 is above "verify.maxContinuations" 4`},
		"continuation past default":  {`{"deployment":"bgd-1","verify":{"continuation":97}}`, `"verify.continuation" 97 is above "verify.maxContinuations" 96`},
		"negative bound":             {`{"deployment":"bgd-1","verify":{"maxContinuations":-1}}`, `"verify.maxContinuations" -1 is out of range (0 to 1000)`},
		"bound too high":             {`{"deployment":"bgd-1","verify":{"maxContinuations":1001}}`, `"verify.maxContinuations" 1001 is out of range`},
		"restart in a continuation":  {`{"deployment":"bgd-1","verify":{"continuation":1,"restart":true}}`, `"verify.restart" is not allowed in a continuation`},
		"missing deployment":         {`{"verify":{}}`, `"deployment" is required`},
		"not a deployment id":        {`{"deployment":"orders-prod","verify":{}}`, `is not a blue/green deployment id`},
		"deployment as a number":     {`{"deployment":1,"verify":{}}`, `"deployment" must be a string, not a number`},
		"trailing data":              {`{"deployment":"bgd-1","verify":{}} {}`, `data after its JSON object`},
		"array":                      {`[{"deployment":"bgd-1","verify":{}}]`, `must be a JSON object, not an array`},
		"not JSON":                   {`verify bgd-1`, `not a JSON object`},
		"huge number":                {`{"deployment":"bgd-1","verify":{"chunkRows":1e99}}`, `"verify.chunkRows" must be an integer`},
		"caller in the payload":      {`{"deployment":"bgd-1","verify":{},"caller":"root"}`, `unknown field "caller"`},
		"several problems, all said": {`{"deployment":"bgd-1","verify":{"chunkRows":0,"maxLockMs":0}}`, `"verify.chunkRows" 0 is out of range (1 to 1000000); "verify.maxLockMs" 0 is out of range`},
	}
	for name, c := range cases {
		_, err := DecodeVerifyRequest([]byte(c.payload))
		if err == nil || !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an ErrInvalidRequest containing %q", name, err, c.want)
		}
	}
}

// The continuation's payload decodes to the same options, never restarts,
// counts one more continuation and carries the chain's bound.
func TestVerifyRequestNext(t *testing.T) {
	req, err := DecodeVerifyRequest([]byte(`{"deployment":"bgd-1","verify":{"tables":["shop.orders"],"chunkRows":10,"maxLockMs":5,"rows":true,"restart":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Caller = "alice"
	next := req.next()
	b, err := json.Marshal(next)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "alice") {
		t.Errorf("the caller is in the payload: %s", b)
	}
	got, err := DecodeVerifyRequest(b)
	if err != nil {
		t.Fatalf("the continuation's payload %s: %v", b, err)
	}
	want := VerifyRequest{Deployment: "bgd-1", Verify: VerifyOptions{Tables: []string{"shop.orders"}, ChunkRows: req.Verify.ChunkRows,
		MaxLockMS: req.Verify.MaxLockMS, Rows: true, Continuation: 1, MaxContinuations: &[]int{DefaultVerifyContinuations}[0]}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("continuation %+v; want %+v", got, want)
	}
	if !req.Verify.Restart || req.Verify.Continuation != 0 {
		t.Errorf("next changed the request it continues: %+v", req.Verify)
	}
	// The last link: a continuation at the bound still decodes.
	last := req
	bound := 3
	last.Verify.MaxContinuations, last.Verify.Continuation, last.Verify.Restart = &bound, 2, false
	b, _ = json.Marshal(last.next())
	if _, err := DecodeVerifyRequest(b); err != nil {
		t.Errorf("continuation 3 of 3: %v", err)
	}
}

// An invocation compares until VerifyReserve before its deadline, is
// cancelled verifyHardStop before it, and is refused when that leaves
// less than minVerifyBudget; without a deadline it runs to the end.
func TestVerifyBudget(t *testing.T) {
	budget, vctx, cancel, err := verifyBudget(context.Background())
	if err != nil || budget != 0 {
		t.Fatalf("no deadline: budget %s, %v", budget, err)
	}
	if _, ok := vctx.Deadline(); ok {
		t.Error("no deadline, but verify's context has one")
	}
	cancel()

	ctx, stop := context.WithTimeout(context.Background(), 15*time.Minute)
	defer stop()
	budget, vctx, cancel, err = verifyBudget(ctx)
	if err != nil || budget > 15*time.Minute-VerifyReserve || budget < 15*time.Minute-VerifyReserve-time.Minute {
		t.Fatalf("15 minutes: budget %s, %v", budget, err)
	}
	dl, _ := ctx.Deadline()
	if vdl, ok := vctx.Deadline(); !ok || !vdl.Equal(dl.Add(-verifyHardStop)) {
		t.Errorf("verify's deadline %v; want %v", vdl, dl.Add(-verifyHardStop))
	}
	cancel()

	short, stop2 := context.WithTimeout(context.Background(), VerifyReserve)
	defer stop2()
	if _, _, _, err := verifyBudget(short); !errors.Is(err, replication.ErrRefused) || !strings.Contains(err.Error(), "too little to verify") {
		t.Errorf("a deadline within the reserve: %v; want a refusal", err)
	}
}

func TestSummarizeVerify(t *testing.T) {
	if SummarizeVerify(nil) != nil {
		t.Error("a summary of no report")
	}
	rep := &verify.Report{RunID: "r1", Outcome: verify.OutcomeDiffering, Reason: "1 of 4 tables differ", Resumed: true, Chunks: 12, Rows: 1200,
		Tables: []verify.TableResult{
			{Table: "shop.a", Status: verify.StatusEqual, Chunks: 3},
			{Table: "shop.b", Status: verify.StatusDiffering, Chunks: 5, Differences: make([]verify.ChunkDifference, 2)},
			{Table: "shop.c", Status: verify.StatusUnverifiable, Reason: "no primary key"},
			{Table: "shop.d", Status: verify.StatusMissing},
			{Table: "shop.e", Status: verify.StatusPending, Reason: "the time budget ran out"},
		}}
	s := SummarizeVerify(rep)
	if s.RunID != "r1" || s.Outcome != verify.OutcomeDiffering || !s.Resumed || s.Tables != 5 || s.Chunks != 12 || s.Pending != 1 ||
		!reflect.DeepEqual(s.Differing, []string{"shop.b: differing (2 of 5 chunks)", "shop.d: " + verify.StatusMissing}) ||
		!reflect.DeepEqual(s.Unverified, []string{"shop.c: not verifiable (no primary key)"}) {
		t.Errorf("summary %+v", s)
	}
	var many []verify.TableResult
	for i := 0; i < 30; i++ {
		many = append(many, verify.TableResult{Table: "shop.t" + string(rune('a'+i)), Status: verify.StatusDefinition})
	}
	if s := SummarizeVerify(&verify.Report{Tables: many}); len(s.Differing) != maxSummaryTables+1 || s.Differing[maxSummaryTables] != "… and 10 more" {
		t.Errorf("30 differing tables listed as %q", s.Differing)
	}
}

// verifySeeds are valid and invalid verify payloads.
var verifySeeds = []string{
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","verify":{}}`,
	`{"deployment":"bgd-4kq8w2m7r1x9zt3c","verify":{"tables":["shop.orders"],"chunkRows":1000,"maxLagSeconds":10,"maxLockMs":20,"rows":false,"restart":false}}`,
	`{"deployment":"bgd-1","verify":{"continuation":3,"maxContinuations":3}}`,
	`{"deployment":"bgd-1","verify":{"continuation":1,"restart":true}}`,
	`{"deployment":"bgd-1","verify":{},"dryRun":false,"confirm":"orders-prod-old1","reason":"x"}`,
	`{"deployment":"bgd-1","Verify":{}}`,
	`{"deployment":"bgd-1","verify":{"tables":[null]}}`,
	`{"deployment":"bgd-1","verify":{"tables":[]}}`,
}

// No payload is both: whatever DecodeVerifyRequest accepts is a malformed
// rollback request, refused with a pointer to the verify function, so a
// verify payload sent to the rollback function can never run a cutover
// (nor a dry run); what it accepts re-validates and survives the round
// trip a continuation makes.
func FuzzDecodeVerifyRequest(f *testing.F) {
	for _, s := range append(verifySeeds, rollbackSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := DecodeVerifyRequest(payload)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if _, err := DecodeRollbackRequest(payload); err == nil || !strings.Contains(err.Error(), verifyElsewhere) {
			t.Fatalf("%q decodes as a verify request; as a rollback request: %v (want a refusal naming the verify function)", payload, err)
		}
		if req.Verify.Restart && req.Verify.Continuation > 0 {
			t.Fatalf("a continuation that restarts: %q", payload)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeVerifyRequest(again)
		if err != nil || !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip: %s → %+v, %v; want %+v", again, back, err, req)
		}
		// Run against the fuzz world (no server reachable): never a lease,
		// never a record write, at most the history lines of a verify.
		st, a := newFuzzStore(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)), &fuzzAdapters{}
		req.Caller = "fuzz"
		out, verr := fuzzOrchestrator(st, a, time.Now()).Verify(t.Context(), req)
		req.Caller = ""
		if len(st.leases) != 0 || out.Continued || a.invoked != 0 {
			t.Fatalf("verify of %q took a lease %v or invoked something (%+v)", payload, st.leases, out)
		}
		for _, w := range st.writes {
			if !strings.HasPrefix(w, "history "+req.Deployment+" verify ") {
				t.Fatalf("verify of %q wrote %v", payload, st.writes)
			}
		}
		if verr == nil || out.Outcome != verify.OutcomeRefused {
			t.Fatalf("verify of %q with no server: %v %+v; want refused", payload, verr, out)
		}
		if req.Verify.Continuation < req.Verify.maxContinuations() {
			next := req.next()
			b, _ := json.Marshal(next)
			if n, err := DecodeVerifyRequest(b); err != nil || n.Verify.Restart || n.Verify.Continuation != req.Verify.Continuation+1 {
				t.Fatalf("continuation of %q: %s → %+v, %v", payload, b, n, err)
			}
		}
	})
}
