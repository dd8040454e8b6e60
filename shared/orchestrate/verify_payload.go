package orchestrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// VerifyRequest is the verify function's payload (functions/verify,
// switchback-verify): compare the deployment's rollback cluster with
// production online (shared/verify), within the invocation's time,
// continuing in further invocations until the run is done:
//
//	{"deployment": "bgd-…",
//	 "verify": {"tables": ["shop.orders"], "chunkRows": 1000, "maxLagSeconds": 10,
//	            "maxLockMs": 20, "rows": false, "restart": false, "maxContinuations": 96}}
//
// Only deployment and verify are required; every verify field is
// optional. The options stay in their own "verify" object, required even
// when empty, so that no payload is both a verify and a rollback request:
// sent to the wrong function, either is refused, never read as the other
// (DecodeRollbackRequest has no "verify" field; this has none of a
// rollback's). "continuation" counts the invocations a run has been
// continued by: the function sets it when it invokes itself, a person
// leaves it out. Decode payloads with DecodeVerifyRequest, which is
// strict about names and types.
type VerifyRequest struct {
	Deployment string        `json:"deployment"`
	Verify     VerifyOptions `json:"verify"`

	// Caller is who asked. It is never read from the payload (see
	// RollbackRequest.Caller).
	Caller string `json:"-"`
}

// VerifyOptions are a verify payload's options.
type VerifyOptions struct {
	// Tables limits the run to these schema.table names; empty: every
	// table outside the system schemas and switchback's own.
	Tables []string `json:"tables,omitempty"`
	// ChunkRows is the number of rows per chunk (1 to 1000000; default
	// verify.DefaultChunkRows).
	ChunkRows *int `json:"chunkRows,omitempty"`
	// MaxLagSeconds pauses the run while the rollback cluster is further
	// behind (1 to 3600; default verify.DefaultMaxLag).
	MaxLagSeconds *int `json:"maxLagSeconds,omitempty"`
	// MaxLockMS bounds how long a production table is locked per sync
	// point (1 to 1000; default verify.DefaultMaxLock).
	MaxLockMS *int `json:"maxLockMs,omitempty"`
	// Rows lists the keys of differing rows (never their values).
	Rows bool `json:"rows,omitempty"`
	// Restart abandons an unfinished run with these options and starts
	// over; a continuation never restarts.
	Restart bool `json:"restart,omitempty"`
	// Continuation is how many times the run has been continued by the
	// function invoking itself (0 on the first invocation).
	Continuation int `json:"continuation,omitempty"`
	// MaxContinuations bounds the chain of invocations (0 to 1000; default
	// DefaultVerifyContinuations): after that many continuations an
	// unfinished run stops, resumable by invoking again.
	MaxContinuations *int `json:"maxContinuations,omitempty"`
}

// Bounds and defaults of the verify payload.
const (
	// DefaultVerifyContinuations lets a run go on for about a day at the
	// verify function's 15-minute timeout.
	DefaultVerifyContinuations = 96
	maxVerifyContinuations     = 1000
	maxVerifyChunkRows         = 1_000_000
	maxVerifyLagSeconds        = 3600
	maxVerifyLockMS            = 1000
	maxVerifyTables            = 1000
)

var verifySchema = jsonField{kind: jsonObject, fields: map[string]jsonField{
	"deployment": {kind: jsonString},
	"verify": {kind: jsonObject, fields: map[string]jsonField{
		"tables":           {kind: jsonStrings},
		"chunkRows":        {kind: jsonInt},
		"maxLagSeconds":    {kind: jsonInt},
		"maxLockMs":        {kind: jsonInt},
		"rows":             {kind: jsonBool},
		"restart":          {kind: jsonBool},
		"continuation":     {kind: jsonInt},
		"maxContinuations": {kind: jsonInt},
	}},
}}

// DecodeVerifyRequest reads a verify payload strictly, as
// DecodeRollbackRequest reads a rollback payload, and checks it
// (Validate). Errors name the field by its path ("verify.chunkRows") and
// wrap ErrInvalidRequest.
func DecodeVerifyRequest(payload []byte) (VerifyRequest, error) {
	var req VerifyRequest
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := checkJSON(dec, "", verifySchema); err != nil {
		return req, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, fmt.Errorf("%w: the payload has data after its JSON object", ErrInvalidRequest)
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(payload, &present); err != nil {
		return req, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if _, ok := present["verify"]; !ok {
		return req, fmt.Errorf(`%w: "verify" is required: the verify options, {} for the defaults`, ErrInvalidRequest)
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return req, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if len(req.Verify.Tables) == 0 {
		req.Verify.Tables = nil // [] is every table, as no list is
	}
	return req, req.Validate()
}

// Validate checks the request's values (DecodeVerifyRequest calls it).
func (r VerifyRequest) Validate() error {
	var problems []string
	switch {
	case r.Deployment == "":
		problems = append(problems, `"deployment" is required: the blue/green deployment id (bgd-…)`)
	case !deploymentIDRe.MatchString(r.Deployment):
		problems = append(problems, fmt.Sprintf(`"deployment" %q is not a blue/green deployment id (bgd- and lowercase letters or digits)`, r.Deployment))
	}
	v := r.Verify
	if len(v.Tables) > maxVerifyTables {
		problems = append(problems, fmt.Sprintf(`"verify.tables" lists %d tables; at most %d (leave it out for every table)`, len(v.Tables), maxVerifyTables))
	}
	seen := map[string]bool{}
	for i, t := range v.Tables {
		schema, table, ok := strings.Cut(t, ".")
		switch {
		case !ok || schema == "" || table == "" || strings.Contains(table, ".") || strings.TrimSpace(t) != t || len(schema) > 64 || len(table) > 64:
			problems = append(problems, fmt.Sprintf(`"verify.tables"[%d] %q is not a schema.table name`, i, t))
		case seen[t]:
			problems = append(problems, fmt.Sprintf(`"verify.tables" lists %q twice`, t))
		}
		seen[t] = true
	}
	if p := v.ChunkRows; p != nil && (*p < 1 || *p > maxVerifyChunkRows) {
		problems = append(problems, fmt.Sprintf(`"verify.chunkRows" %d is out of range (1 to %d)`, *p, maxVerifyChunkRows))
	}
	if p := v.MaxLagSeconds; p != nil && (*p < 1 || *p > maxVerifyLagSeconds) {
		problems = append(problems, fmt.Sprintf(`"verify.maxLagSeconds" %d is out of range (1 to %d)`, *p, maxVerifyLagSeconds))
	}
	if p := v.MaxLockMS; p != nil && (*p < 1 || *p > maxVerifyLockMS) {
		problems = append(problems, fmt.Sprintf(`"verify.maxLockMs" %d is out of range (1 to %d)`, *p, maxVerifyLockMS))
	}
	if p := v.MaxContinuations; p != nil && (*p < 0 || *p > maxVerifyContinuations) {
		problems = append(problems, fmt.Sprintf(`"verify.maxContinuations" %d is out of range (0 to %d)`, *p, maxVerifyContinuations))
	}
	switch bound := v.maxContinuations(); {
	case v.Continuation < 0:
		problems = append(problems, fmt.Sprintf(`"verify.continuation" %d is negative`, v.Continuation))
	case v.Continuation > bound:
		problems = append(problems, fmt.Sprintf(`"verify.continuation" %d is above "verify.maxContinuations" %d: the chain of invocations has ended`, v.Continuation, bound))
	}
	if v.Restart && v.Continuation > 0 {
		problems = append(problems, `"verify.restart" is not allowed in a continuation (it would start the run over at every invocation)`)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, strings.Join(problems, "; "))
	}
	return nil
}

// maxContinuations is the chain's bound: the payload's, else the default.
func (v VerifyOptions) maxContinuations() int {
	if v.MaxContinuations != nil {
		return *v.MaxContinuations
	}
	return DefaultVerifyContinuations
}

func (v VerifyOptions) chunkRows() int {
	if v.ChunkRows != nil {
		return *v.ChunkRows
	}
	return 0 // verify's default
}

func (v VerifyOptions) maxLag() time.Duration {
	if v.MaxLagSeconds != nil {
		return time.Duration(*v.MaxLagSeconds) * time.Second
	}
	return 0
}

func (v VerifyOptions) maxLock() time.Duration {
	if v.MaxLockMS != nil {
		return time.Duration(*v.MaxLockMS) * time.Millisecond
	}
	return 0
}

// next is the payload of the invocation that continues the run: the same
// options, never a restart, one more continuation, the bound made
// explicit.
func (r VerifyRequest) next() VerifyRequest {
	n := r
	n.Verify.Tables = append([]string(nil), r.Verify.Tables...)
	n.Verify.Restart = false
	n.Verify.Continuation = r.Verify.Continuation + 1
	m := r.Verify.maxContinuations()
	n.Verify.MaxContinuations = &m
	return n
}
