package stack_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"quamina.net/go/quamina"

	fixtures "github.com/switchback/switchback/events"
	"github.com/switchback/switchback/infra/stack"
	"github.com/switchback/switchback/shared/lambdaenv"
)

// One synthesized stack (the README's context example) shared by the tests:
// synthesizing is the slow part.
var (
	shared   *stack.Switchback
	tmpl     assertions.Template
	template map[string]any
	buildDir string
	outDir   string
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := func() int {
		defer jsii.Close()
		var err error
		if buildDir, err = os.MkdirTemp("", "switchback-infra-build-"); err != nil {
			panic(err)
		}
		defer os.RemoveAll(buildDir)
		if outDir, err = os.MkdirTemp("", "switchback-infra-out-"); err != nil {
			panic(err)
		}
		defer os.RemoveAll(outDir)
		for _, fn := range stack.FunctionNames {
			must(os.MkdirAll(filepath.Join(buildDir, fn), 0o755))
			must(os.WriteFile(filepath.Join(buildDir, fn, "bootstrap"), []byte("#!/bin/sh\necho "+fn+"\n"), 0o755))
		}
		ctx, err := readmeContext()
		if err != nil {
			panic(err)
		}
		shared = synth(outDir, ctx)
		tmpl = assertions.Template_FromStack(shared.Stack, nil)
		raw, _ := json.Marshal(tmpl.ToJSON())
		must(json.Unmarshal(raw, &template))
		return m.Run()
	}()
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// synth builds an app with cdk-nag and the given context.
func synth(out string, ctx map[string]any) *stack.Switchback {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out), Context: &ctx})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	s, err := stack.New(app, "Switchback", &stack.Props{BuildDir: buildDir})
	if err != nil {
		panic(err)
	}
	return s
}

var exampleRe = regexp.MustCompile("(?s)<!-- context-example -->\\s*```json\\n(.*?)```")

// readmeContext is the complete context example in infra/README.md.
func readmeContext() (map[string]any, error) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		return nil, err
	}
	m := exampleRe.FindSubmatch(data)
	if m == nil {
		return nil, fmt.Errorf("infra/README.md: no ```json block after <!-- context-example -->")
	}
	var ctx map[string]any
	if err := json.Unmarshal(m[1], &ctx); err != nil {
		return nil, fmt.Errorf("infra/README.md context example: %w", err)
	}
	return ctx, nil
}

// resources returns the template's resources of type, by logical id.
func resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range template["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func fnLogicalID(name string) string {
	return *shared.Stack.GetLogicalId(shared.Functions[name].Node().DefaultChild().(awscdk.CfnElement))
}

func ruleLogicalID(name string) string {
	return *shared.Stack.GetLogicalId(shared.Rules[name].Node().DefaultChild().(awscdk.CfnElement))
}

func jsonEq(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	var gv, wv any
	_ = json.Unmarshal(g, &gv)
	_ = json.Unmarshal(w, &wv)
	gs, _ := json.Marshal(gv)
	ws, _ := json.Marshal(wv)
	if string(gs) != string(ws) {
		t.Errorf("%s:\n got %s\nwant %s", what, gs, ws)
	}
}

func TestReadmeExampleIsCdkJSONContext(t *testing.T) {
	ctx, err := readmeContext()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "cdk.json context vs infra/README.md example", f.Context, ctx)
	top, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := exampleRe.FindSubmatch(top)
	if m == nil {
		t.Fatal("README.md: no context example")
	}
	var topCtx map[string]any
	if err := json.Unmarshal(m[1], &topCtx); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "README.md example vs infra/README.md example", topCtx, ctx)
	for _, k := range stack.ContextKeys {
		if k == stack.CtxRDSCABundle || k == stack.CtxReplicationSecretARN {
			continue // optional, documented separately (tls verify; an existing secret)
		}
		if _, ok := ctx[k]; !ok {
			t.Errorf("the README example lacks context key %s", k)
		}
	}
}

func TestFunctions(t *testing.T) {
	fns := resources("AWS::Lambda::Function")
	if len(fns) != 8 {
		t.Fatalf("%d functions, want 8", len(fns))
	}
	roles := map[string]bool{}
	for _, name := range stack.FunctionNames {
		t.Run(name, func(t *testing.T) {
			p := props(fns[fnLogicalID(name)])
			if p == nil {
				t.Fatalf("function %s not in the template", name)
			}
			jsonEq(t, "Runtime", p["Runtime"], "provided.al2023")
			jsonEq(t, "Architectures", p["Architectures"], []string{"arm64"})
			jsonEq(t, "Handler", p["Handler"], "bootstrap")
			jsonEq(t, "FunctionName", p["FunctionName"], "switchback-"+name)
			vpc := p["VpcConfig"].(map[string]any)
			jsonEq(t, "SubnetIds", vpc["SubnetIds"], shared.Config.SubnetIDs)
			jsonEq(t, "SecurityGroupIds", vpc["SecurityGroupIds"], []string{shared.Config.SecurityGroupID})
			if mem := p["MemorySize"].(float64); mem < 256 {
				t.Errorf("MemorySize %v", mem)
			}
			if to := p["Timeout"].(float64); to < 30 || to > 900 {
				t.Errorf("Timeout %v", to)
			}
			rc, has := p["ReservedConcurrentExecutions"]
			if name == stack.Configure || name == stack.Rollback || name == stack.Teardown || name == stack.Verify {
				jsonEq(t, "ReservedConcurrentExecutions", rc, 1)
			} else if has {
				t.Errorf("ReservedConcurrentExecutions %v on %s", rc, name)
			}
			if _, ok := p["DeadLetterConfig"].(map[string]any)["TargetArn"]; !ok {
				t.Error("no DeadLetterConfig")
			}
			if _, ok := p["LoggingConfig"].(map[string]any)["LogGroup"]; !ok {
				t.Error("no LoggingConfig.LogGroup")
			}
			env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			for _, v := range []string{lambdaenv.EnvTable, lambdaenv.EnvTopicARN, lambdaenv.EnvOptInClusters, lambdaenv.EnvOptInTag,
				lambdaenv.EnvAdminSecrets, lambdaenv.EnvReplicationSecretARN, lambdaenv.EnvTLS, lambdaenv.EnvTLSCABundle,
				lambdaenv.EnvDeleteBlueGreen, lambdaenv.EnvRetentionHours, lambdaenv.EnvLeaseSeconds, lambdaenv.EnvStallMinutes,
				lambdaenv.EnvMaxLagSeconds, lambdaenv.EnvMinHeadroomHours, lambdaenv.EnvMonitorConcurrency,
				lambdaenv.EnvMonitorPairTimeoutSeconds, lambdaenv.EnvRollbackWindowHours, lambdaenv.EnvPreflightFixRetention} {
				if _, ok := env[v]; !ok {
					t.Errorf("environment lacks %s", v)
				}
			}
			_, hasConfigure := env[lambdaenv.EnvConfigureFunction]
			if want := name == stack.Capture || name == stack.Reconcile; hasConfigure != want {
				t.Errorf("%s set: %v, want %v", lambdaenv.EnvConfigureFunction, hasConfigure, want)
			}
			jsonEq(t, lambdaenv.EnvOptInClusters, env[lambdaenv.EnvOptInClusters], "orders-prod")
			jsonEq(t, lambdaenv.EnvTLS, env[lambdaenv.EnvTLS], shared.Config.TLS)
			role, _ := json.Marshal(p["Role"])
			roles[string(role)] = true
		})
	}
	if len(roles) != 8 {
		t.Errorf("%d distinct roles, want one per function", len(roles))
	}
	// The lease outlives the longest configure run.
	cfgFn := props(fns[fnLogicalID(stack.Configure)])
	lease := cfgFn["Environment"].(map[string]any)["Variables"].(map[string]any)[lambdaenv.EnvLeaseSeconds]
	if fmt.Sprint(lease) != "900" || cfgFn["Timeout"].(float64) >= 900 {
		t.Errorf("lease %v s must exceed configure's timeout %v s", lease, cfgFn["Timeout"])
	}
	tmpl.ResourceCountIs(jsii.String("AWS::Lambda::EventInvokeConfig"), jsii.Number(8))
	tmpl.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), &map[string]any{"RetentionInDays": 90})
	tmpl.AllResourcesProperties(jsii.String("AWS::SQS::Queue"), &map[string]any{"SqsManagedSseEnabled": true})
	tmpl.ResourceCountIs(jsii.String("AWS::SQS::Queue"), jsii.Number(8))
}

func TestEventRules(t *testing.T) {
	rules := resources("AWS::Events::Rule")
	if len(rules) != 7 {
		t.Fatalf("%d rules, want 4 patterns and 3 schedules", len(rules))
	}
	bg, cl, in := "RDS Blue Green Deployment Event", "RDS DB Cluster Event", "RDS DB Instance Event"
	want := map[string]any{
		stack.RuleSwitchoverCompleted:        map[string]any{"source": []string{"aws.rds"}, "detail-type": []string{bg}, "detail": map[string]any{"EventID": []string{"RDS-EVENT-0248"}}},
		stack.RuleClusterSwitchoverCompleted: map[string]any{"source": []string{"aws.rds"}, "detail-type": []string{bg, cl}, "detail": map[string]any{"EventID": []string{"RDS-EVENT-0260"}}},
		stack.RuleBinlogCoordinates:          map[string]any{"source": []string{"aws.rds"}, "detail-type": []string{cl, in}, "detail": map[string]any{"Message": []any{map[string]any{"prefix": "Binary log coordinates in green environment after switchover"}}}},
		stack.RuleDeploymentCreated:          map[string]any{"source": []string{"aws.rds"}, "detail-type": []string{bg}, "detail": map[string]any{"EventID": []string{"RDS-EVENT-0244"}}},
	}
	for name, pattern := range want {
		p := props(rules[ruleLogicalID(name)])
		jsonEq(t, name+" EventPattern", p["EventPattern"], pattern)
		jsonEq(t, name+" State", p["State"], "ENABLED")
		checkTarget(t, name, p)
	}
	schedules := map[string]string{stack.RuleMonitorSchedule: "rate(1 minute)", stack.RuleReconcileSchedule: "rate(5 minutes)", stack.RuleTeardownSchedule: "rate(1 hour)"}
	for name, expr := range schedules {
		p := props(rules[ruleLogicalID(name)])
		jsonEq(t, name+" ScheduleExpression", p["ScheduleExpression"], expr)
		checkTarget(t, name, p)
	}
	tp := props(rules[ruleLogicalID(stack.RuleTeardownSchedule)])["Targets"].([]any)[0].(map[string]any)
	jsonEq(t, "teardown schedule input", tp["Input"], `{"due":true}`)
}

func checkTarget(t *testing.T, name string, p map[string]any) {
	t.Helper()
	targets := p["Targets"].([]any)
	if len(targets) != 1 {
		t.Fatalf("%s: %d targets", name, len(targets))
	}
	tg := targets[0].(map[string]any)
	jsonEq(t, name+" target", tg["Arn"], map[string]any{"Fn::GetAtt": []string{fnLogicalID(stack.RuleTargets[name]), "Arn"}})
	if _, ok := tg["DeadLetterConfig"]; !ok {
		t.Errorf("%s: target without DeadLetterConfig", name)
	}
}

func TestRouting(t *testing.T) {
	q, err := quamina.New()
	if err != nil {
		t.Fatal(err)
	}
	patterns := 0
	for name, r := range shared.Rules {
		p := props(resources("AWS::Events::Rule")[*shared.Stack.GetLogicalId(r.Node().DefaultChild().(awscdk.CfnElement))])
		pat, ok := p["EventPattern"]
		if !ok {
			continue // a schedule
		}
		b, _ := json.Marshal(pat)
		if err := q.AddPattern(name, string(b)); err != nil {
			t.Fatalf("%s: quamina: %v (%s)", name, err, b)
		}
		patterns++
	}
	if patterns != 4 {
		t.Fatalf("%d event patterns, want 4", patterns)
	}
	want := map[string][]string{
		"bluegreen-switchover-completed.json": {stack.RuleSwitchoverCompleted},
		"cluster-switchover-completed.json":   {stack.RuleClusterSwitchoverCompleted},
		"cluster-binlog-coordinates.json":     {stack.RuleBinlogCoordinates},
		"instance-binlog-coordinates.json":    {stack.RuleBinlogCoordinates},
		"bluegreen-deployment-created.json":   {stack.RuleDeploymentCreated},
		"bluegreen-deployment-deleted.json":   nil,
		"bluegreen-deployment-failed.json":    nil,
		"bluegreen-switchover-started.json":   nil,
		"bluegreen-switchover-canceled.json":  nil,
		"cluster-switchover-started.json":     nil,
		"cluster-switchover-canceled.json":    nil,
		"cluster-other-event.json":            nil,
		"instance-crash-recovery-binlog.json": nil,
		"malformed/missing-detail.json":       nil,
		"malformed/not-json.json":             nil,
		// The message prefix routes them; capture decodes and drops them.
		"malformed/coordinates-no-file.json":              {stack.RuleBinlogCoordinates},
		"malformed/coordinates-non-numeric-position.json": {stack.RuleBinlogCoordinates},
		"malformed/coordinates-overflow-position.json":    {stack.RuleBinlogCoordinates},
	}
	seen := 0
	err = fs.WalkDir(fixtures.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		seen++
		exp, ok := want[path]
		if !ok {
			t.Errorf("fixture %s has no routing expectation: add it", path)
			return nil
		}
		data, _ := fixtures.FS.ReadFile(path)
		if !json.Valid(data) {
			if exp != nil {
				t.Errorf("%s is not JSON but expected to match %v", path, exp)
			}
			return nil
		}
		checkRoute(t, q, path, data, exp)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(want) {
		t.Errorf("%d fixtures, %d expectations", seen, len(want))
	}
	// Unrelated events match no rule.
	unrelated := map[string]string{
		"ec2 state change":                       `{"version":"0","id":"1","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"123456789012","time":"2026-03-10T09:01:10Z","region":"us-east-1","resources":[],"detail":{"instance-id":"i-0123456789abcdef0","state":"running"}}`,
		"rds instance reboot":                    `{"version":"0","id":"2","detail-type":"RDS DB Instance Event","source":"aws.rds","account":"123456789012","time":"2026-03-10T09:01:10Z","region":"us-east-1","resources":[],"detail":{"EventCategories":["availability"],"SourceType":"DB_INSTANCE","Message":"DB instance restarted","SourceIdentifier":"orders-prod-instance-1","EventID":"RDS-EVENT-0006"}}`,
		"0248 as a cluster event":                `{"version":"0","id":"3","detail-type":"RDS DB Cluster Event","source":"aws.rds","account":"123456789012","time":"2026-03-10T09:01:10Z","region":"us-east-1","resources":[],"detail":{"EventID":"RDS-EVENT-0248","Message":"x"}}`,
		"coordinates from another source":        `{"version":"0","id":"4","detail-type":"RDS DB Cluster Event","source":"custom.app","account":"123456789012","time":"2026-03-10T09:01:10Z","region":"us-east-1","resources":[],"detail":{"Message":"Binary log coordinates in green environment after switchover: file a and position 1"}}`,
		"coordinates as a parameter group event": `{"version":"0","id":"5","detail-type":"RDS DB Parameter Group Event","source":"aws.rds","account":"123456789012","time":"2026-03-10T09:01:10Z","region":"us-east-1","resources":[],"detail":{"Message":"Binary log coordinates in green environment after switchover: file a and position 1"}}`,
		"scheduled event":                        `{"version":"0","id":"6","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-03-10T09:01:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/x"],"detail":{}}`,
	}
	for name, ev := range unrelated {
		checkRoute(t, q, name, []byte(ev), nil)
	}
}

func checkRoute(t *testing.T, q *quamina.Quamina, name string, event []byte, want []string) {
	t.Helper()
	matches, err := q.MatchesForEvent(event)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	var got []string
	for _, m := range matches {
		got = append(got, m.(string))
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s matched %v, want %v", name, got, want)
	}
}

func TestTable(t *testing.T) {
	tmpl.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1))
	tmpl.HasResource(jsii.String("AWS::DynamoDB::Table"), &map[string]any{
		"DeletionPolicy":      "Retain",
		"UpdateReplacePolicy": "Retain",
		"Properties": map[string]any{
			"BillingMode":                      "PAY_PER_REQUEST",
			"DeletionProtectionEnabled":        true,
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"KeySchema": []any{
				map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
				map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
			},
			"AttributeDefinitions": []any{
				map[string]any{"AttributeName": "pk", "AttributeType": "S"},
				map[string]any{"AttributeName": "sk", "AttributeType": "S"},
			},
		},
	})
}

func TestTopicAndSecret(t *testing.T) {
	topics := resources("AWS::SNS::Topic")
	if len(topics) != 1 {
		t.Fatalf("%d topics", len(topics))
	}
	for _, tp := range topics {
		if _, ok := props(tp)["KmsMasterKeyId"]; !ok {
			t.Error("topic not KMS-encrypted")
		}
	}
	tmpl.HasResourceProperties(jsii.String("AWS::KMS::Key"), &map[string]any{"EnableKeyRotation": true})
	tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), &map[string]any{"Protocol": "email", "Endpoint": "dba-oncall@example.com"})
	tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), &map[string]any{"Protocol": "https", "Endpoint": shared.Config.OnCallHTTPS[0]})
	tmpl.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), &map[string]any{
		"GenerateSecretString": map[string]any{"GenerateStringKey": "password", "SecretStringTemplate": `{"username":"switchback_repl"}`, "PasswordLength": 32, "ExcludePunctuation": true},
	})
	// The key lets CloudWatch alarms publish to the encrypted topic.
	keyPolicy, _ := json.Marshal(tmpl.FindResources(jsii.String("AWS::KMS::Key"), nil))
	if !strings.Contains(string(keyPolicy), "cloudwatch.amazonaws.com") {
		t.Error("the topic key's policy does not allow CloudWatch alarms")
	}
}

func TestAlarms(t *testing.T) {
	alarms := resources("AWS::CloudWatch::Alarm")
	byDesc := func(sub string) map[string]any {
		for _, a := range alarms {
			if strings.Contains(fmt.Sprint(props(a)["AlarmDescription"]), sub) {
				return props(a)
			}
		}
		t.Fatalf("no alarm whose description contains %q", sub)
		return nil
	}
	query := func(p map[string]any) string {
		return fmt.Sprint(p["Metrics"].([]any)[0].(map[string]any)["Expression"])
	}
	ready := byDesc("(RollbackReady < 1) for 3")
	jsonEq(t, "ready op", ready["ComparisonOperator"], "LessThanThreshold")
	jsonEq(t, "ready threshold", ready["Threshold"], 1)
	jsonEq(t, "ready periods", ready["EvaluationPeriods"], 3)
	jsonEq(t, "ready datapoints", ready["DatapointsToAlarm"], 3)
	jsonEq(t, "ready query", query(ready), `SELECT MIN(RollbackReady) FROM SCHEMA("Switchback", Deployment)`)
	lag := byDesc("(ReplicaLagSeconds)")
	jsonEq(t, "lag op", lag["ComparisonOperator"], "GreaterThanThreshold")
	jsonEq(t, "lag threshold", lag["Threshold"], shared.Config.MaxLagSeconds)
	jsonEq(t, "lag query", query(lag), `SELECT MAX(ReplicaLagSeconds) FROM SCHEMA("Switchback", Deployment)`)
	head := byDesc("(BinlogRetentionHeadroomHours)")
	jsonEq(t, "headroom op", head["ComparisonOperator"], "LessThanThreshold")
	jsonEq(t, "headroom threshold", head["Threshold"], shared.Config.MinHeadroomHours)
	na := byDesc("needs-attention")
	jsonEq(t, "needs-attention query", query(na), `SELECT MAX(NeedsAttention) FROM SCHEMA("Switchback", Deployment)`)
	dead := byDesc("monitor function has not run")
	jsonEq(t, "dead monitor missing data", dead["TreatMissingData"], "breaching")
	jsonEq(t, "dead monitor metric", dead["MetricName"], "Invocations")
	// Per-deployment alarms from context treat missing data as breaching.
	for _, d := range shared.Config.AlarmDeployments {
		for _, m := range []string{"RollbackReady", "ReplicaLagSeconds", "BinlogRetentionHeadroomHours"} {
			found := false
			for _, a := range alarms {
				p := props(a)
				if p["MetricName"] == m && p["Namespace"] == "Switchback" {
					dims, _ := json.Marshal(p["Dimensions"])
					if strings.Contains(string(dims), d) {
						found = true
						jsonEq(t, d+" "+m+" missing data", p["TreatMissingData"], "breaching")
					}
				}
			}
			if !found {
				t.Errorf("no %s alarm for %s", m, d)
			}
		}
	}
	for _, name := range stack.FunctionNames {
		byDesc("the " + name + " function failed")
		byDesc("the " + name + " function's dead-letter queue")
	}
	// Every alarm pages through the topic.
	topicID := ""
	for id := range resources("AWS::SNS::Topic") {
		topicID = id
	}
	for id, a := range alarms {
		actions, _ := json.Marshal(props(a)["AlarmActions"])
		if !strings.Contains(string(actions), topicID) {
			t.Errorf("alarm %s does not notify the topic: %s", id, actions)
		}
	}
	if n := len(alarms); n != 5+2*len(stack.FunctionNames)+3*len(shared.Config.AlarmDeployments) {
		t.Errorf("%d alarms", n)
	}
}

func TestDashboard(t *testing.T) {
	dash := resources("AWS::CloudWatch::Dashboard")
	if len(dash) != 1 {
		t.Fatalf("%d dashboards", len(dash))
	}
	body, _ := json.Marshal(dash)
	for _, want := range []string{"ReplicaLagSeconds", "ProbeLagSeconds", "RollbackReady", "BinlogRetentionHeadroomHours", "Errors", "Duration", "Function errors"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
}

func TestNagClean(t *testing.T) {
	errs := assertions.Annotations_FromStack(shared.Stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, e := range *errs {
		t.Errorf("cdk-nag: %s: %v", *e.Id, e.Entry.Data)
	}
	warns := assertions.Annotations_FromStack(shared.Stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, e := range *warns {
		t.Errorf("cdk-nag warning: %s: %v", *e.Id, e.Entry.Data)
	}
}

// mutating reports whether an IAM action changes something: anything but
// reads (Describe, Get, List) and KMS data-key use.
func mutating(action string) bool {
	_, op, _ := strings.Cut(action, ":")
	for _, p := range []string{"Describe", "Get", "List", "BatchGet", "Query", "Scan", "ConditionCheck"} {
		if strings.HasPrefix(op, p) {
			return false
		}
	}
	return true
}

func TestNoMutatingActionOnWildcard(t *testing.T) {
	for id, pol := range resources("AWS::IAM::Policy") {
		for _, st := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			res := asList(s["Resource"])
			if !slices.Contains(res, "*") {
				continue
			}
			for _, a := range asList(s["Action"]) {
				if mutating(a) {
					t.Errorf("%s: %s allowed on *", id, a)
				}
			}
		}
	}
	// RDS mutations are scoped to the configured parameter groups, clusters and deployments.
	pol, _ := json.Marshal(resources("AWS::IAM::Policy"))
	for _, want := range []string{":cluster-pg:orders-prod-mysql57", ":cluster-pg:orders-prod-mysql80", ":deployment:bgd-*", ":cluster:orders-prod-*", "hostedzone/Z0123456789ABC", "secret:orders/app-GhIjKl", "secret:orders-prod/admin-AbCdEf"} {
		if !strings.Contains(string(pol), want) {
			t.Errorf("no IAM statement on %s", want)
		}
	}
}

func asList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			} else {
				b, _ := json.Marshal(e)
				out = append(out, string(b))
			}
		}
		return out
	}
	b, _ := json.Marshal(v)
	return []string{string(b)}
}

func TestTLSVerifyShipsCABundle(t *testing.T) {
	ctx, _ := readmeContext()
	pem := filepath.Join(t.TempDir(), "global-bundle.pem")
	must(os.WriteFile(pem, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644))
	ctx["tls"] = "verify"
	ctx["rdsCaBundle"] = pem
	ctx["replicationSecretArn"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:switchback/repl-MnOpQr"
	s := synth(t.TempDir(), ctx)
	tp := assertions.Template_FromStack(s.Stack, nil)
	tp.ResourceCountIs(jsii.String("AWS::Lambda::LayerVersion"), jsii.Number(1))
	tp.ResourceCountIs(jsii.String("AWS::SecretsManager::Secret"), jsii.Number(0))
	tp.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
		"Layers": assertions.Match_AnyValue(),
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			lambdaenv.EnvTLS: "verify", lambdaenv.EnvTLSCABundle: lambdaenv.DefaultTLSCABundle,
			lambdaenv.EnvReplicationSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:switchback/repl-MnOpQr",
		})},
	})
	if errs := assertions.Annotations_FromStack(s.Stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))); len(*errs) > 0 {
		t.Errorf("%d cdk-nag errors", len(*errs))
	}
}

func TestMissingContextFailsNamingKey(t *testing.T) {
	ctx, _ := readmeContext()
	for _, key := range []string{stack.CtxVPCID, stack.CtxSubnetIDs, stack.CtxSecurityGroupID, stack.CtxClusters} {
		t.Run(key, func(t *testing.T) {
			c := clone(ctx)
			delete(c, key)
			app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: &c})
			_, err := stack.New(app, "Switchback", &stack.Props{BuildDir: buildDir})
			if err == nil || !strings.Contains(err.Error(), key+": required") {
				t.Fatalf("missing %s: err %v", key, err)
			}
		})
	}
	// No build output: the error says how to build it.
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: &ctx})
	if _, err := stack.New(app, "Switchback", &stack.Props{BuildDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "make build-functions") {
		t.Fatalf("missing bootstrap: %v", err)
	}
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// policyStatements returns the IAM statements attached to function name's
// role.
func policyStatements(t *testing.T, name string) []map[string]any {
	t.Helper()
	role := props(resources("AWS::Lambda::Function")[fnLogicalID(name)])["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0]
	var out []map[string]any
	for _, pol := range resources("AWS::IAM::Policy") {
		attached := false
		for _, r := range props(pol)["Roles"].([]any) {
			if ref, _ := r.(map[string]any)["Ref"]; ref == role {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, st.(map[string]any))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no policy statement on %s's role", name)
	}
	return out
}

// The verify function may invoke itself, and only itself (as it was
// invoked: by name, version or alias), to continue a verify run; capture
// and reconcile invoke configure; no other function invokes any: the
// rollback function, whose single execution must stay free for a
// rollback, invokes nothing (not even itself).
func TestOnlyVerifyInvokesItself(t *testing.T) {
	for _, name := range stack.FunctionNames {
		var invokes []string
		for _, s := range policyStatements(t, name) {
			for _, a := range asList(s["Action"]) {
				if strings.HasPrefix(a, "lambda:") {
					if a != "lambda:InvokeFunction" {
						t.Errorf("%s may %s", name, a)
					}
					invokes = append(invokes, asList(s["Resource"])...)
				}
			}
		}
		switch name {
		case stack.Verify:
			if len(invokes) != 2 || !strings.HasSuffix(invokes[0], `:function:switchback-verify"]]}`) || !strings.HasSuffix(invokes[1], `:function:switchback-verify:*"]]}`) {
				t.Errorf("verify may invoke %v; want only itself and its versions and aliases", invokes)
			}
		case stack.Capture, stack.Reconcile:
			for _, r := range invokes {
				if !strings.Contains(r, `{"Fn::GetAtt":["`+fnLogicalID(stack.Configure)+`","Arn"]}`) {
					t.Errorf("%s may invoke %s; want configure only", name, r)
				}
			}
			if len(invokes) == 0 {
				t.Errorf("%s may not invoke configure", name)
			}
		default:
			if len(invokes) != 0 {
				t.Errorf("%s may invoke %v; want nothing", name, invokes)
			}
		}
	}
}

// The verify function: one chain at a time (reserved concurrency 1), a
// 15-minute timeout for long runs, in the VPC like every function that
// connects to the clusters; and a role that reads, appends history,
// publishes to on-call and invokes itself, and changes nothing else: no
// DynamoDB update or delete, no RDS change (parameter groups, clusters,
// deployments), no secret written, no replication secret read.
func TestVerifyFunction(t *testing.T) {
	p := props(resources("AWS::Lambda::Function")[fnLogicalID(stack.Verify)])
	jsonEq(t, "FunctionName", p["FunctionName"], "switchback-verify")
	jsonEq(t, "Timeout", p["Timeout"], 900)
	jsonEq(t, "ReservedConcurrentExecutions", p["ReservedConcurrentExecutions"], 1)
	jsonEq(t, "SubnetIds", p["VpcConfig"].(map[string]any)["SubnetIds"], shared.Config.SubnetIDs)
	tmpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), &map[string]any{"LogGroupName": "/aws/lambda/switchback-verify", "RetentionInDays": 90})

	var actions []string
	for _, s := range policyStatements(t, stack.Verify) {
		res := strings.Join(asList(s["Resource"]), " ")
		for _, a := range asList(s["Action"]) {
			actions = append(actions, a)
			switch {
			case !mutating(a), a == "kms:Decrypt", strings.HasPrefix(a, "kms:GenerateDataKey"), a == "sns:Publish", a == "lambda:InvokeFunction":
			case a == "sqs:SendMessage": // its dead-letter queue (Lambda's, for a failed asynchronous invocation)
				if res != `{"Fn::GetAtt":["`+*shared.Stack.GetLogicalId(shared.DLQs[stack.Verify].Node().DefaultChild().(awscdk.CfnElement))+`","Arn"]}` {
					t.Errorf("verify may SendMessage to %s; want its dead-letter queue only", res)
				}
			case a == "dynamodb:PutItem": // a history line
				if table := `{"Fn::GetAtt":["` + *shared.Stack.GetLogicalId(shared.Table.Node().DefaultChild().(awscdk.CfnElement)) + `","Arn"]}`; res != table {
					t.Errorf("verify may PutItem on %s; want the state table %s only", res, table)
				}
			default:
				t.Errorf("verify may %s on %s; want reads, history appends, on-call and itself only", a, res)
			}
			if strings.HasPrefix(a, "secretsmanager:") && (strings.Contains(res, "ReplicationSecret") || strings.Contains(res, "repl")) {
				t.Errorf("verify may read the replication secret: %s", res)
			}
		}
	}
	for _, want := range []string{"dynamodb:GetItem", "dynamodb:PutItem", "secretsmanager:GetSecretValue", "sns:Publish", "lambda:InvokeFunction"} {
		if !slices.Contains(actions, want) {
			t.Errorf("verify's role lacks %s (has %v)", want, actions)
		}
	}
	pol, _ := json.Marshal(policyStatements(t, stack.Verify))
	if !strings.Contains(string(pol), "secret:orders-prod/admin-AbCdEf") {
		t.Errorf("verify may not read the admin secret: %s", pol)
	}
}
