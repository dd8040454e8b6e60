//go:build integration

package functions_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/preflight"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/verify"
)

// The verify function's real bootstrap, given a verify payload through the
// Lambda Runtime API on a configured deployment of real servers, with a
// timeout that leaves each invocation two seconds to compare:
//   - the first invocation (on-call's, the caller in the client context)
//     answers "in progress" and queues its continuation: an Event
//     invocation, through the Lambda Invoke API, of the function as it
//     was invoked (switchback-verify's ARN), with continuation 1;
//   - each continuation, delivered as Lambda would, resumes the same run
//     and queues the next, until the run ends equal;
//   - a malformed verify payload, or a rollback request, fails the
//     invocation naming the field, and queues nothing;
//   - the rollback function refuses a verify payload as a malformed
//     rollback request, pointing at the verify function, and invokes
//     nothing; its dry run then shows the latest verify result, and so
//     does the preflight function.
func TestIntegrationVerifyFunction(t *testing.T) {
	const self = "switchback-verify"
	w := awstest.New(t)
	w.ConfigureNow()
	w.Green.ExecT(t,
		"CREATE TABLE shop.big (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)",
		"INSERT INTO shop.big SELECT seq, CONCAT('row-', seq) FROM shop.seq_1_to_4000")
	awstest.WaitRow(t, w.Blue.DBT(t), "SELECT COUNT(*) FROM shop.big", "4000")
	w.Lambda.AddFunction(self)
	fn := lambdatest.Start(t, lambdatest.Build(t, "./verify"), append(w.Env(), "AWS_LAMBDA_FUNCTION_NAME="+self))
	fn.Timeout = orchestrate.VerifyReserve + 2*time.Second
	fn.Server().SetClientContext(`{"custom":{"caller":"alice@oncall"},"env":{},"Client":{}}`)
	invokeFn := func(fn *lambdatest.Function, payload []byte) lambdatest.Result {
		t.Helper()
		res, err := fn.Invoke(payload)
		if err != nil {
			t.Fatalf("invoke %s: %v\n%s", payload, err, fn.Output())
		}
		return res
	}
	invoke := func(payload []byte) lambdatest.Result {
		t.Helper()
		return invokeFn(fn, payload)
	}
	verifyOutcome := func(res lambdatest.Result) orchestrate.VerifyOutcome {
		t.Helper()
		if res.Error != nil {
			t.Fatalf("function error %+v\n%s", res.Error, fn.Output())
		}
		var out orchestrate.VerifyOutcome
		if err := json.Unmarshal(res.Response, &out); err != nil || out.Verify == nil {
			t.Fatalf("response %s: %v", res.Response, err)
		}
		return out
	}

	out := verifyOutcome(invoke([]byte(`{"deployment":"` + awstest.DeploymentID + `","verify":{"chunkRows":1}}`)))
	if out.Outcome != verify.OutcomeIncomplete || !out.Continued || out.Caller != "alice@oncall" || out.Verify.Resumed || out.Production != awstest.ProdID || out.Rollback != awstest.OldID {
		t.Fatalf("first invocation: %+v\n%+v", out, out.Verify)
	}
	t.Logf("first invocation answered: %s", mustJSON(out))
	runID, invocations := out.Verify.RunID, 1
	// Lambda runs each queued invocation: no caller in the context then.
	fn.Server().SetClientContext("")
	for out.Outcome == verify.OutcomeIncomplete {
		calls := w.Lambda.Calls(self)
		if len(calls) != invocations || invocations > 40 {
			t.Fatalf("%d invocations queued after %d runs", len(calls), invocations)
		}
		c := calls[len(calls)-1]
		if c.InvocationType != "Event" || c.FunctionName != "arn:aws:lambda:us-east-1:123456789012:function:"+self ||
			!strings.Contains(string(c.Payload), fmt.Sprintf(`"continuation":%d`, invocations)) {
			t.Fatalf("continuation %d queued as %+v (payload %s)", invocations, c, c.Payload)
		}
		out = verifyOutcome(invoke(c.Payload))
		invocations++
		if out.Verify.RunID != runID || !out.Verify.Resumed || out.Continuation != invocations-1 {
			t.Fatalf("invocation %d: %+v\n%+v", invocations, out, out.Verify)
		}
	}
	if invocations < 2 || out.Outcome != verify.OutcomeEqual || out.Continued || out.Caller != fmt.Sprintf("verify continuation %d", invocations-1) {
		t.Fatalf("after %d invocations: %+v\n%+v", invocations, out, out.Verify)
	}
	t.Logf("run %s equal after %d invocations: %s", runID, invocations, mustJSON(out))

	// Malformed, or not a verify payload: an invocation error naming the
	// field; nothing queued, nor invoked in any way.
	queued := len(w.Lambda.Calls(""))
	dep, execute := awstest.DeploymentID, `"dryRun":false,"confirm":"`+awstest.OldID+`","reason":"x"`
	for _, c := range []struct{ payload, want string }{
		{`{"deployment":"` + dep + `","verify":{"chunkRows":"1"}}`, `"verify.chunkRows" must be an integer, not a string`},
		{`{"deployment":"` + dep + `","verify":{},` + execute + `}`, `unknown field "dryRun" (known here: deployment, verify)`},
		{`{"deployment":"` + dep + `",` + execute + `}`, `unknown field "dryRun"`}, // a rollback request
		{`{"deployment":"` + dep + `"}`, `"verify" is required`},                   // a dry run's
	} {
		res := invoke([]byte(c.payload))
		if res.Error == nil || res.Error.Type != "InvalidVerifyRequest" || !strings.Contains(res.Error.Message, c.want) {
			t.Errorf("verify function given %s: %+v %s; want InvalidVerifyRequest saying %q", c.payload, res.Error, res.Response, c.want)
		}
	}
	if n := len(w.Lambda.Calls("")); n != queued {
		t.Errorf("%d invocations queued by refused payloads", n-queued)
	}

	// The rollback function no longer takes a verify payload: refused as a
	// malformed rollback request (not a dry run), naming the verify
	// function, with nothing invoked.
	rb := lambdatest.Start(t, lambdatest.Build(t, "./rollback"), append(w.Env(), "AWS_LAMBDA_FUNCTION_NAME=switchback-rollback"))
	res := invokeFn(rb, []byte(`{"deployment":"`+dep+`","verify":{"chunkRows":1}}`))
	if res.Error == nil || res.Error.Type != "InvalidRollbackRequest" ||
		!strings.Contains(res.Error.Message, `unknown field "verify": a verify payload goes to the verify function (switchback-verify)`) {
		t.Errorf("rollback function given a verify payload: %+v %s", res.Error, res.Response)
	}
	if n := len(w.Lambda.Calls("")); n != queued {
		t.Errorf("the rollback function, given a verify payload, made %d Lambda invocations", n-queued)
	}

	// The rollback function's dry run shows the result.
	res = invokeFn(rb, []byte(`{"deployment":"`+dep+`"}`))
	var plan orchestrate.RollbackOutcome
	if res.Error != nil || json.Unmarshal(res.Response, &plan) != nil {
		t.Fatalf("dry run: %+v %s", res.Error, res.Response)
	}
	if plan.Outcome != replication.OutcomePlanned || plan.Verify == nil || plan.Verify.RunID != runID || plan.Verify.Outcome != verify.OutcomeEqual || plan.VerifyError != "" {
		t.Fatalf("dry run: %+v\n%+v", plan, plan.Verify)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(res.Response, &raw)
	t.Logf("dry run's verify: %s", raw["verify"])

	// So does the preflight function (production is the deployment's
	// target; configure deleted the deployment, RDS lists it again here).
	w.RDS.AddDeployment(w.Deployment)
	pf := lambdatest.Start(t, lambdatest.Build(t, "./preflight"), w.Env())
	pres, err := pf.Invoke([]byte(`{"deployment":"` + awstest.DeploymentID + `"}`))
	if err != nil || pres.Error != nil {
		t.Fatalf("preflight: %v %+v\n%s", err, pres.Error, pf.Output())
	}
	var pout preflight.Outcome
	if err := json.Unmarshal(pres.Response, &pout); err != nil || pout.Report == nil {
		t.Fatalf("preflight answered %s (%v)", pres.Response, err)
	}
	c, ok := pout.Report.Check(preflight.CheckLatestVerify)
	if !ok || c.Status != preflight.Pass || !strings.Contains(c.Evidence, "run "+runID) || !strings.Contains(c.Evidence, "tables are equal") {
		t.Errorf("preflight's verify check: %v %+v", ok, c)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
