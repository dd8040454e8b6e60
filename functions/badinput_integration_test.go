//go:build integration

package functions_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/dynalitetest"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/orchestrate"
)

// stateItems returns every item of the world's state table, each rendered
// as JSON, sorted; history items separately.
func stateItems(t *testing.T, w *awstest.World) (records, history []string) {
	t.Helper()
	client := dynalitetest.NewClient(w.DynamoEndpoint)
	p := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{TableName: aws.String(awstest.Table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("scan %s: %v", awstest.Table, err)
		}
		for _, item := range page.Items {
			var m map[string]any
			if err := attributevalue.UnmarshalMap(item, &m); err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if sk, _ := m[dynamostate.AttrSK].(string); strings.HasPrefix(sk, dynamostate.HistoryPrefix) {
				history = append(history, string(b))
			} else {
				records = append(records, string(b))
			}
		}
	}
	sort.Strings(records)
	sort.Strings(history)
	return records, history
}

// worldState is everything a function could change in the world: the
// awstest snapshot (servers' fence, binlog positions and replicas, the
// clusters, parameter groups, DNS record, application secret,
// notifications, record and history) plus every state table item and the
// count of every changing call each fake received.
type worldState struct {
	snap    awstest.Snapshot
	records []string
	history []string
	calls   map[string]int
}

// changingCalls are the AWS calls that change something.
var changingCalls = []string{
	"rds ModifyDBClusterParameterGroup", "rds ModifyDBCluster", "rds DeleteBlueGreenDeployment",
	"route53 ChangeResourceRecordSets", "secretsmanager PutSecretValue", "sns Publish", "lambda Invoke",
}

func readWorldState(t *testing.T, w *awstest.World) worldState {
	t.Helper()
	s := worldState{snap: w.Snapshot(), calls: map[string]int{}}
	s.records, s.history = stateItems(t, w)
	s.calls["rds ModifyDBClusterParameterGroup"] = len(w.RDS.Calls("ModifyDBClusterParameterGroup"))
	s.calls["rds ModifyDBCluster"] = len(w.RDS.Calls("ModifyDBCluster"))
	s.calls["rds DeleteBlueGreenDeployment"] = len(w.RDS.Calls("DeleteBlueGreenDeployment"))
	s.calls["route53 ChangeResourceRecordSets"] = len(w.R53.Calls("ChangeResourceRecordSets"))
	for _, c := range w.SM.Calls("") {
		if strings.HasSuffix(c.Target, ".PutSecretValue") {
			s.calls["secretsmanager PutSecretValue"]++
		}
	}
	s.calls["sns Publish"] = len(w.SNS.Published(""))
	s.calls["lambda Invoke"] = len(w.Lambda.Calls("")) // configure, or a verify continuation
	return s
}

// diff says how b differs from a, but for newHistory history items that
// b may have gained ("" when nothing else changed); the added history
// items are returned.
func (a worldState) diff(b worldState, newHistory int) (string, []string) {
	var out []string
	sa, sb := a.snap, b.snap
	sb.History = sa.History
	if d := sa.Diff(sb); d != "" {
		out = append(out, d)
	}
	if strings.Join(a.records, "\n") != strings.Join(b.records, "\n") {
		out = append(out, fmt.Sprintf("state table records:\n  before %v\n  after  %v", a.records, b.records))
	}
	var added []string
	old := map[string]bool{}
	for _, h := range a.history {
		old[h] = true
	}
	for _, h := range b.history {
		if !old[h] {
			added = append(added, h)
		}
	}
	if len(added) != newHistory || len(b.history) != len(a.history)+newHistory {
		out = append(out, fmt.Sprintf("history: %d items added (%v); want %d", len(added), added, newHistory))
	}
	for _, k := range changingCalls {
		if a.calls[k] != b.calls[k] {
			out = append(out, fmt.Sprintf("%s: %d calls → %d", k, a.calls[k], b.calls[k]))
		}
	}
	return strings.Join(out, "\n"), added
}

// badInput is one payload a function must refuse: the invocation's
// errorType ("" when the function answers with a refusal instead of an
// error: want is then in its response; "any" for any error type), the
// text that names the problem,
// and the history lines it may add (a refused execute of a known
// deployment is recorded, by design).
type badInput struct {
	name, payload, errType, want string
	history                      int
}

// Bad input to the real bootstraps, against a configured deployment on
// real servers: unknown deployments, missing confirmation, wrong types,
// extra or mis-cased fields, payloads that are not objects, a payload sent
// to the wrong one of the rollback and verify functions. Each is refused
// with a message naming the problem, and changes nothing: not the
// servers' fences, binlog positions or replicas, not RDS (no parameter
// group or cluster change, no deletion), not the application's DNS record
// or secret, not the state table (every record item compared; history only
// gains the documented line for a refused execute of a known deployment),
// no notification, no Lambda invocation (no configure run, no verify
// continuation).
func TestIntegrationBadInputNoSideEffect(t *testing.T) {
	w := awstest.New(t)
	w.ConfigureNow()
	// RDS still lists the deployment (preflight and capture resolve it).
	w.RDS.AddDeployment(w.Deployment)
	dep, old := awstest.DeploymentID, awstest.OldID
	execute := `"dryRun":false,"confirm":"` + old + `","reason":"latency"`

	cases := map[string][]badInput{
		"rollback": {
			{"unknown deployment, execute", `{"deployment":"bgd-nosuchdeployment",` + execute + `}`, "RollbackRefused", "no deployment bgd-nosuchdeployment in switchback's state table", 0},
			{"unknown deployment, dry run", `{"deployment":"bgd-nosuchdeployment"}`, "RollbackRefused", "no deployment bgd-nosuchdeployment", 0},
			{"no confirm", `{"deployment":"` + dep + `","dryRun":false,"reason":"latency"}`, "RollbackRefused", `executing needs "confirm": "orders-prod-old1"`, 1},
			{"blank confirm", `{"deployment":"` + dep + `","dryRun":false,"confirm":"  ","reason":"latency"}`, "RollbackRefused", `executing needs "confirm"`, 1},
			{"no reason", `{"deployment":"` + dep + `","dryRun":false,"confirm":"` + old + `"}`, "RollbackRefused", `executing needs a "reason"`, 1},
			{"confirm names production", `{"deployment":"` + dep + `","dryRun":false,"confirm":"orders-prod","reason":"latency"}`, "RollbackRefused", `"confirm" "orders-prod" is not the rollback cluster's identifier "orders-prod-old1"`, 1},
			{"dryRun as a string", `{"deployment":"` + dep + `","dryRun":"false","confirm":"` + old + `","reason":"latency"}`, "InvalidRollbackRequest", `"dryRun" must be true or false, not a string`, 0},
			{"dryRun null", `{"deployment":"` + dep + `","dryRun":null,"confirm":"` + old + `","reason":"latency"}`, "InvalidRollbackRequest", `"dryRun" must be true or false, not null`, 0},
			{"dryRun twice", `{"deployment":"` + dep + `","dryRun":true,` + execute + `}`, "InvalidRollbackRequest", `"dryRun" appears twice`, 0},
			{"dryrun mis-cased", `{"deployment":"` + dep + `","dryrun":false,"confirm":"` + old + `","reason":"latency"}`, "InvalidRollbackRequest", `unknown field "dryrun": did you mean "dryRun"?`, 0},
			{"extra field execute", `{"deployment":"` + dep + `","execute":true,"confirm":"` + old + `","reason":"latency"}`, "InvalidRollbackRequest", `unknown field "execute"`, 0},
			{"caller in the payload", `{"deployment":"` + dep + `","caller":"root",` + execute + `}`, "InvalidRollbackRequest", `unknown field "caller"`, 0},
			{"confirm as a number", `{"deployment":"` + dep + `","dryRun":false,"confirm":1,"reason":"latency"}`, "InvalidRollbackRequest", `"confirm" must be a string, not a number`, 0},
			{"lag as a string", `{"deployment":"` + dep + `",` + execute + `,"maxLagSeconds":"5"}`, "InvalidRollbackRequest", `"maxLagSeconds" must be an integer, not a string`, 0},
			{"nested unknown", `{"deployment":"` + dep + `",` + execute + `,"repoint":{"route53":{"zone":"Z1"}}}`, "InvalidRollbackRequest", `unknown field "repoint.route53.zone"`, 0},
			// Two JSON values are not a payload Lambda's Invoke accepts
			// (InvalidRequestContentException); given one anyway, the Go
			// runtime decodes the first value only, so the trailing execute
			// never reaches the strict decoder: a plan, nothing changed.
			{"trailing execute", `{"deployment":"` + dep + `"} {` + execute + `}`, "", `"dryRun":true,"outcome":"planned"`, 0},
			{"not a deployment id", `{"deployment":"orders-prod",` + execute + `}`, "InvalidRollbackRequest", `"deployment" "orders-prod" is not a blue/green deployment id`, 0},
			{"array", `[{"deployment":"` + dep + `",` + execute + `}]`, "InvalidRollbackRequest", "must be a JSON object, not an array", 0},
			{"string", `"` + dep + `"`, "InvalidRollbackRequest", "must be a JSON object, not a string", 0},
			// A verify payload is the verify function's: refused here, not
			// read as a dry run, with or without an execute's fields.
			{"verify payload", `{"deployment":"` + dep + `","verify":{}}`, "InvalidRollbackRequest", `unknown field "verify": a verify payload goes to the verify function (switchback-verify)`, 0},
			{"verify payload with an execute's fields", `{"deployment":"` + dep + `",` + execute + `,"verify":{"chunkRows":10}}`, "InvalidRollbackRequest", `unknown field "verify": a verify payload goes to the verify function`, 0},
		},
		"verify": {
			{"unknown deployment", `{"deployment":"bgd-nosuchdeployment","verify":{}}`, "VerifyRefused", "no deployment bgd-nosuchdeployment", 0},
			// A continuation (an asynchronous invocation Lambda would retry)
			// answers its refusal instead of failing.
			{"continuation of an unknown deployment", `{"deployment":"bgd-nosuchdeployment","verify":{"continuation":1}}`, "", "no deployment bgd-nosuchdeployment", 0},
			{"a rollback request", `{"deployment":"` + dep + `",` + execute + `}`, "InvalidVerifyRequest", `unknown field "dryRun" (known here: deployment, verify)`, 0},
			{"a dry run's payload", `{"deployment":"` + dep + `"}`, "InvalidVerifyRequest", `"verify" is required`, 0},
			{"with an execute's fields", `{"deployment":"` + dep + `","verify":{},` + execute + `}`, "InvalidVerifyRequest", `unknown field "dryRun" (known here: deployment, verify)`, 0},
			{"verify null", `{"deployment":"` + dep + `","verify":null,` + execute + `}`, "InvalidVerifyRequest", `"verify" must be an object, not null`, 0},
			{"Verify mis-cased", `{"deployment":"` + dep + `","Verify":{}}`, "InvalidVerifyRequest", `unknown field "Verify": did you mean "verify"?`, 0},
			{"chunkRows zero", `{"deployment":"` + dep + `","verify":{"chunkRows":0}}`, "InvalidVerifyRequest", `"verify.chunkRows" 0 is out of range`, 0},
			{"chunkRows as a string", `{"deployment":"` + dep + `","verify":{"chunkRows":"1"}}`, "InvalidVerifyRequest", `"verify.chunkRows" must be an integer, not a string`, 0},
			{"restart in a continuation", `{"deployment":"` + dep + `","verify":{"continuation":1,"restart":true}}`, "InvalidVerifyRequest", `"verify.restart" is not allowed in a continuation`, 0},
			{"continuation past its bound", `{"deployment":"` + dep + `","verify":{"continuation":3,"maxContinuations":2}}`, "InvalidVerifyRequest", `"verify.continuation" 3 is above "verify.maxContinuations" 2`, 0},
			{"caller in the payload", `{"deployment":"` + dep + `","caller":"root","verify":{}}`, "InvalidVerifyRequest", `unknown field "caller"`, 0},
			{"array", `[{"deployment":"` + dep + `","verify":{}}]`, "InvalidVerifyRequest", "must be a JSON object, not an array", 0},
		},
		"teardown": {
			{"unknown deployment", `{"deployment":"bgd-nosuchdeployment","reason":"done"}`, "", "no record of deployment bgd-nosuchdeployment", 0},
			{"dryRun", `{"deployment":"` + dep + `","dryRun":true}`, "InvalidTeardownRequest", `unknown field "dryRun"`, 0},
			{"releaseFence as a string", `{"deployment":"` + dep + `","releaseFence":"true"}`, "InvalidTeardownRequest", `"releaseFence" must be true or false, not a string`, 0},
			{"Deployment mis-cased", `{"Deployment":"` + dep + `"}`, "InvalidTeardownRequest", `unknown field "Deployment": did you mean "deployment"?`, 0},
			{"due as a string", `{"due":"true"}`, "InvalidTeardownRequest", `"due" must be true or false, not a string`, 0},
			{"nothing named", `{"reason":"done"}`, "InvalidTeardownRequest", `"deployment" is required`, 0},
			{"deployment null", `{"deployment":null}`, "InvalidTeardownRequest", `"deployment" must be a string, not null`, 0},
			{"cluster name", `{"deployment":"orders-prod-old1"}`, "InvalidTeardownRequest", "is not a blue/green deployment id", 0},
		},
		"preflight": {
			{"unknown deployment", `{"deployment":"bgd-nosuchdeployment"}`, "any", "bgd-nosuchdeployment", 0},
			{"unknown source", `{"source":"nosuchcluster"}`, "any", "no blue/green deployment has source cluster nosuchcluster", 0},
			{"both", `{"deployment":"` + dep + `","source":"orders-prod-old1"}`, "any", "give deployment or source, not both", 0},
			{"neither", `{"fix":true}`, "any", "the request names no deployment", 0},
			{"dryRun", `{"deployment":"` + dep + `","dryRun":true}`, "any", `unknown field "dryRun"`, 0},
			{"fix as a string", `{"deployment":"` + dep + `","fix":"true"}`, "any", "fix", 0},
			{"Fix mis-cased", `{"deployment":"` + dep + `","Fix":true}`, "any", `unknown field "Fix"`, 0},
			{"fix null", `{"deployment":"` + dep + `","fix":null}`, "any", `"fix" must be true or false, not null`, 0},
			{"array", `[{"deployment":"` + dep + `"}]`, "any", "payload is not a JSON object", 0},
		},
		"configure": {
			{"unknown deployment", `{"deployment":"bgd-nosuchdeployment"}`, "any", "bgd-nosuchdeployment", 0},
			{"no deployment", `{}`, "any", "the request names no blue/green deployment", 0},
			{"unmatched coordinates", `{"deployment":"unmatched:orders-prod@2026-03-10T14:03:11Z"}`, "any", "names no blue/green deployment", 0},
			{"deployment as a number", `{"deployment":42}`, "any", "deployment", 0},
			{"array", `[]`, "any", "array", 0},
		},
		"capture": {
			{"not an event", `{"deployment":"` + dep + `"}`, "", `not an EventBridge event`, 0},
			{"detail not an object", `{"source":"aws.rds","detail-type":"RDS DB Cluster Event","detail":"Binary log coordinates"}`, "", `"detail" is a JSON string, not an object`, 0},
			{"message of the wrong type", `{"source":"aws.rds","detail-type":"RDS DB Cluster Event","detail":{"Message":42}}`, "", `"detail"`, 0},
			{"unknown deployment", strings.ReplaceAll(string(w.SwitchoverEvent()), dep, "bgd-nosuchdeployment"), "", "bgd-nosuchdeployment is unknown to RDS and to switchback", 0},
			{"coordinates without a file", `{"source":"aws.rds","detail-type":"RDS DB Cluster Event","detail":{"SourceIdentifier":"orders-prod","Message":"Binary log coordinates in green environment after switchover: position 4"}}`, "", "has no file", 0},
		},
	}
	names := []string{"rollback", "verify", "teardown", "preflight", "configure", "capture"}
	fns := map[string]*lambdatest.Function{}
	for _, name := range names {
		fns[name] = lambdatest.Start(t, lambdatest.Build(t, "./"+name), w.Env())
	}
	// A verify continuation would be queued to the verify function itself
	// (here named lambdatest): it exists, so that one would be accepted,
	// and counted, if queued.
	w.Lambda.AddFunction("lambdatest")
	for _, name := range []string{"rollback", "verify"} {
		fns[name].Server().SetClientContext(`{"custom":{"caller":"mallory@oncall"},"env":{},"Client":{}}`)
	}

	for _, name := range names {
		fn := fns[name]
		for _, c := range cases[name] {
			before := readWorldState(t, w)
			res, err := fn.Invoke([]byte(c.payload))
			if err != nil {
				t.Fatalf("%s, %s: %v\n%s", name, c.name, err, fn.Output())
			}
			got := string(res.Response)
			var answer struct {
				Reason string `json:"reason"`
			}
			if json.Unmarshal(res.Response, &answer) == nil && answer.Reason != "" {
				got = answer.Reason // a refusal answered, not failed: its reason names the problem
			}
			if res.Error != nil {
				got = res.Error.Type + ": " + res.Error.Message
			}
			switch {
			case c.errType == "" && res.Error != nil:
				t.Errorf("%s, %s: failed the invocation (%s); want an answer saying %q", name, c.name, got, c.want)
			case c.errType != "" && (res.Error == nil || c.errType != "any" && res.Error.Type != c.errType):
				t.Errorf("%s, %s: answered %s; want a %s error", name, c.name, got, c.errType)
			case !strings.Contains(got, c.want):
				t.Errorf("%s, %s: answered %s; want it to say %q", name, c.name, got, c.want)
			}
			after := readWorldState(t, w)
			d, added := before.diff(after, c.history)
			if d != "" {
				t.Errorf("%s, %s (%s) changed:\n%s", name, c.name, c.payload, d)
			}
			for _, h := range added {
				if !strings.Contains(h, `"step":"rollback"`) || !strings.Contains(h, `"outcome":"refused"`) || !strings.Contains(h, "for mallory@oncall") {
					t.Errorf("%s, %s: history line %s; want the refused rollback with its caller", name, c.name, h)
				}
			}
		}
	}
	// After all of it, the pair is still configured and ready for a real
	// rollback: the fence, the replication and the record as configure left them.
	rec, err := w.Store.Get(t.Context(), dep)
	if err != nil || rec.Phase != orchestrate.PhaseConfigured {
		t.Fatalf("record after the bad input: %+v, %v", rec, err)
	}
	if st := awstest.ReadServerState(t, w.Blue); st.ReadOnly != "1" || len(st.Replicas) != 1 || !strings.Contains(st.Replicas[0], "Slave_IO_Running=Yes Slave_SQL_Running=Yes") {
		t.Errorf("rollback cluster after the bad input: %+v", st)
	}
}
