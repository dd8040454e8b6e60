package orchestrate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/replication"
)

func TestDecodeRollbackRequest(t *testing.T) {
	req, err := DecodeRollbackRequest([]byte(`{"deployment":"bgd-4kq8w2m7r1x9zt3c","dryRun":false,"maxLagSeconds":3,"catchupTimeoutSeconds":20,"maxWriteDowntimeMs":250,
		"confirm":"orders-prod-old1","reason":"p99 latency","reverse":false,"privilegedWriters":"kill",
		"repoint":{"route53":{"zoneId":"/hostedzone/Z0ORDERS","recordName":"db.orders.internal","ttl":0},"secret":{"secretId":"orders/app"},"rename":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.IsDryRun() || *req.MaxLagSeconds != 3 || req.catchupTimeout().Seconds() != 20 || req.maxWriteDowntime() != 250*time.Millisecond || req.Repoint.Route53.ttl() != 0 ||
		req.Repoint.Secret.SecretID != "orders/app" || req.Repoint.Rename == nil || req.Caller != "" {
		t.Fatalf("decoded %+v", req)
	}
	if p, _ := req.privileged(); p != replication.PrivilegedKill {
		t.Errorf("privileged writers %q", p)
	}
	// The defaults: a dry run, refuse privileged writers, TTL 5.
	req, err = DecodeRollbackRequest([]byte(`{"deployment":"bgd-1","repoint":{"route53":{"zoneId":"Z1","recordName":"db.x"}}}`))
	if err != nil || !req.IsDryRun() || req.Repoint.Route53.ttl() != DefaultRepointTTL || req.maxWriteDowntime() != 0 {
		t.Fatalf("defaults: %+v, %v", req, err)
	}
	if p, _ := req.privileged(); p != replication.PrivilegedRefuse {
		t.Errorf("default privileged writers %q", p)
	}
}

// Every malformed payload is refused with an error naming the field; none
// of them can turn into an execute.
func TestDecodeRollbackRequestRefuses(t *testing.T) {
	cases := map[string]struct{ payload, want string }{
		"string for a boolean":  {`{"deployment":"bgd-1","dryRun":"false"}`, `"dryRun" must be true or false, not a string`},
		"number for a boolean":  {`{"deployment":"bgd-1","dryRun":0}`, `"dryRun" must be true or false, not a number`},
		"null":                  {`{"deployment":"bgd-1","dryRun":null}`, `"dryRun" must be true or false, not null`},
		"wrong case":            {`{"deployment":"bgd-1","dryrun":false}`, `unknown field "dryrun": did you mean "dryRun"?`},
		"duplicate":             {`{"deployment":"bgd-1","dryRun":true,"dryRun":false}`, `"dryRun" appears twice`},
		"unknown":               {`{"deployment":"bgd-1","execute":true}`, `unknown field "execute"`},
		"caller in the payload": {`{"deployment":"bgd-1","caller":"root"}`, `unknown field "caller"`},
		"nested unknown":        {`{"deployment":"bgd-1","repoint":{"route53":{"zone":"Z1"}}}`, `unknown field "repoint.route53.zone"`},
		"nested type":           {`{"deployment":"bgd-1","repoint":{"route53":{"zoneId":"Z1","recordName":"a.b","ttl":"5"}}}`, `"repoint.route53.ttl" must be an integer, not a string`},
		"fraction":              {`{"deployment":"bgd-1","maxLagSeconds":1.5}`, `"maxLagSeconds" must be an integer, not 1.5`},
		"rename options":        {`{"deployment":"bgd-1","repoint":{"rename":{"to":"x"}}}`, `unknown field "repoint.rename.to": this object takes no fields`},
		"array":                 {`[{"deployment":"bgd-1"}]`, `must be a JSON object, not an array`},
		"not JSON":              {`deployment=bgd-1`, `not a JSON object`},
		"trailing data":         {`{"deployment":"bgd-1"} {"dryRun":false}`, `data after its JSON object`},
		"object for a string":   {`{"deployment":{"id":"bgd-1"}}`, `"deployment" must be a string, not an object`},
		"missing deployment":    {`{"dryRun":true}`, `"deployment" is required`},
		"not a deployment id":   {`{"deployment":"unmatched:orders-prod"}`, `is not a blue/green deployment id`},
		"lag out of range":      {`{"deployment":"bgd-1","maxLagSeconds":0}`, `"maxLagSeconds" 0 is out of range`},
		"catch-up out of range": {`{"deployment":"bgd-1","catchupTimeoutSeconds":901}`, `"catchupTimeoutSeconds" 901 is out of range`},
		"downtime out of range": {`{"deployment":"bgd-1","maxWriteDowntimeMs":0}`, `"maxWriteDowntimeMs" 0 is out of range`},
		"downtime as duration":  {`{"deployment":"bgd-1","maxWriteDowntimeMs":"1s"}`, `"maxWriteDowntimeMs" must be an integer, not a string`},
		"privileged writers":    {`{"deployment":"bgd-1","privilegedWriters":"ignore"}`, `"privilegedWriters" "ignore" is not one of refuse, kill, allow`},
		"zone id":               {`{"deployment":"bgd-1","repoint":{"route53":{"zoneId":"orders.internal","recordName":"db.orders.internal"}}}`, `is not a hosted zone id`},
		"record name":           {`{"deployment":"bgd-1","repoint":{"route53":{"zoneId":"Z1"}}}`, `"repoint.route53.recordName" is required`},
		"ttl":                   {`{"deployment":"bgd-1","repoint":{"route53":{"zoneId":"Z1","recordName":"a.b","ttl":-1}}}`, `"repoint.route53.ttl" -1 is out of range`},
		"secret id":             {`{"deployment":"bgd-1","repoint":{"secret":{"secretId":" "}}}`, `"repoint.secret.secretId" is required`},
		"reverse and rename":    {`{"deployment":"bgd-1","reverse":true,"repoint":{"rename":{}}}`, `"reverse" and "repoint.rename" exclude each other`},
		// A verify payload is the verify function's: never a rollback's dry run.
		"verify payload":      {`{"deployment":"bgd-1","verify":{}}`, `unknown field "verify": a verify payload goes to the verify function (switchback-verify)`},
		"verify first":        {`{"verify":{"chunkRows":10},"deployment":"bgd-1"}`, `unknown field "verify": a verify payload goes to the verify function`},
		"Verify mis-cased":    {`{"deployment":"bgd-1","Verify":{}}`, `unknown field "Verify": a verify payload goes to the verify function`},
		"verify in a repoint": {`{"deployment":"bgd-1","repoint":{"verify":{}}}`, `unknown field "repoint.verify" (known here: rename, route53, secret)`},
	}
	for name, c := range cases {
		_, err := DecodeRollbackRequest([]byte(c.payload))
		if err == nil || !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an ErrInvalidRequest containing %q", name, err, c.want)
		}
	}
}

func TestRollbackable(t *testing.T) {
	c := Cluster{ID: "x"}
	for phase, want := range map[Phase]bool{
		PhaseCapturing: false, PhaseConfiguring: false, PhaseConfigured: true, PhaseRollingBack: true,
		PhaseRolledBack: true, PhaseClosed: false, PhaseUnmatched: false,
	} {
		if got, why := rollbackable(Record{Deployment: "bgd-1", Phase: phase, Production: &c, Rollback: &c}); got != want {
			t.Errorf("%s: %v (%s); want %v", phase, got, why, want)
		}
	}
	na := Record{Deployment: "bgd-1", Phase: PhaseNeedsAttention, Production: &c, Rollback: &c}
	if ok, _ := rollbackable(na); ok {
		t.Error("needs-attention from configure is rollbackable")
	}
	na.PhaseDetail = "rollback diverged: …"
	if ok, _ := rollbackable(na); !ok {
		t.Error("a rollback that needs attention cannot be run again")
	}
	if ok, why := rollbackable(Record{Deployment: "bgd-1", Phase: PhaseConfigured}); ok || !strings.Contains(why, "no clusters") {
		t.Errorf("no clusters: %v %q", ok, why)
	}
}

func TestPredictEndpoint(t *testing.T) {
	if got := predictEndpoint("orders-prod-old1.cluster-abc.us-east-1.rds.amazonaws.com", "orders-prod-old1", "orders-prod"); got != "orders-prod.cluster-abc.us-east-1.rds.amazonaws.com" {
		t.Errorf("got %q", got)
	}
	if got := predictEndpoint("10.0.0.1", "orders-prod-old1", "orders-prod"); got != "" {
		t.Errorf("got %q", got)
	}
}
