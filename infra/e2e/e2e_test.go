//go:build integration

// Package e2e_test runs the deployed shape of switchback on one machine:
// the CDK stack is synthesized from the repository's cdk.json (with the
// functions built for the host as its assets), and its own EventBridge
// rules, schedules and Lambda functions drive a blue/green switchover on
// two real MariaDB servers (shared/awstest). Events are routed by the
// synthesized event patterns (matched with quamina, an EventBridge pattern
// matcher) to the targets the template names; each target is the staged
// bootstrap asset of the cloud assembly, run through a local Lambda Runtime
// API with the environment the template gives it. Only what CloudFormation
// would resolve at deploy time (Ref to the table, the topic, the generated
// secret, the configure function) is substituted, with the world's values.
package e2e_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"quamina.net/go/quamina"

	"github.com/switchback/switchback/infra/stack"
	"github.com/switchback/switchback/shared/awstest"
	"github.com/switchback/switchback/shared/emf"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/lambdatest"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/verify"
)

// The synthesized stack, shared by the tests.
var (
	synth     *stack.Switchback
	template  map[string]any
	outDir    string
	ctxAdapts []string // how cdk.json's context was adapted to the world
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := func() int {
		defer jsii.Close()
		buildDir, err := os.MkdirTemp("", "switchback-e2e-build-")
		must(err)
		defer os.RemoveAll(buildDir)
		outDir, err = os.MkdirTemp("", "switchback-e2e-out-")
		must(err)
		defer os.RemoveAll(outDir)
		t0 := time.Now()
		must(buildFunctions(buildDir))
		t1 := time.Now()
		ctx, err := cdkContext("../../cdk.json")
		must(err)
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outDir), Context: &ctx})
		if synth, err = stack.New(app, "Switchback", &stack.Props{BuildDir: buildDir}); err != nil {
			panic(err)
		}
		raw, err := json.Marshal(assertions.Template_FromStack(synth.Stack, nil).ToJSON())
		must(err)
		must(json.Unmarshal(raw, &template))
		fmt.Fprintf(os.Stderr, "e2e: built the %d functions for %s/%s in %v, synthesized the stack in %v\n",
			len(stack.FunctionNames), runtime.GOOS, runtime.GOARCH, t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		return m.Run()
	}()
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// buildFunctions builds every function for the host into
// dir/<name>/bootstrap, in one go build, as lambdatest.Build builds a
// function (CGO_ENABLED=0, -tags lambda.norpc; no -trimpath, so the build
// cache is shared with the functions' own tests), stripped as make
// build-functions strips them.
func buildFunctions(dir string) error {
	bin := filepath.Join(dir, "bin")
	args := []string{"build", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", bin + string(filepath.Separator)}
	for _, name := range stack.FunctionNames {
		args = append(args, "github.com/switchback/switchback/functions/"+name)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the functions: %v\n%s", err, out)
	}
	for _, name := range stack.FunctionNames {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(bin, name), filepath.Join(dir, name, "bootstrap")); err != nil {
			return err
		}
	}
	return os.RemoveAll(bin)
}

// cdkContext is cdk.json's context, adapted to the world where the world
// cannot be adapted to it: the opted-in cluster is awstest's production,
// and TLS is off (the sandbox servers have no TLS material).
func cdkContext(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ctx := f.Context
	clusters, _ := ctx[stack.CtxClusters].(map[string]any)
	if _, ok := clusters[awstest.ProdID]; !ok {
		if len(clusters) != 1 {
			return nil, fmt.Errorf("%s: context %s has %d clusters and none is %s: cannot map one to awstest's", path, stack.CtxClusters, len(clusters), awstest.ProdID)
		}
		for id, c := range clusters {
			ctxAdapts = append(ctxAdapts, fmt.Sprintf("%s: cluster %s renamed %s (awstest's production; its rollback cluster is %s)", stack.CtxClusters, id, awstest.ProdID, awstest.OldID))
			ctx[stack.CtxClusters] = map[string]any{awstest.ProdID: c}
		}
	} else {
		ctxAdapts = append(ctxAdapts, fmt.Sprintf("%s: %s kept (awstest's production; %s, its rollback cluster, is covered as <id>-*)", stack.CtxClusters, awstest.ProdID, awstest.OldID))
	}
	if tls, _ := ctx[stack.CtxTLS].(string); tls != lambdaenv.TLSOff {
		ctxAdapts = append(ctxAdapts, fmt.Sprintf("%s: %q → %q (the sandbox MariaDB servers have no TLS material)", stack.CtxTLS, tls, lambdaenv.TLSOff))
		ctx[stack.CtxTLS] = lambdaenv.TLSOff
	}
	return ctx, nil
}

// Template access.

func resources() map[string]any { return template["Resources"].(map[string]any) }

func resource(id string) (typ string, props map[string]any) {
	r, _ := resources()[id].(map[string]any)
	if r == nil {
		return "", nil
	}
	typ, _ = r["Type"].(string)
	props, _ = r["Properties"].(map[string]any)
	return typ, props
}

func ofType(typ string) []string {
	var ids []string
	for id := range resources() {
		if t, _ := resource(id); t == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// function is one AWS::Lambda::Function of the template, run locally.
type function struct {
	logicalID, name string // name: the folder under functions/ (FunctionName switchback-<name>)
	props           map[string]any
	asset           string // the staged bootstrap in the cloud assembly
	env             []string
	proc            *lambdatest.Function
}

// rule is one AWS::Events::Rule of the template.
type rule struct {
	logicalID, name string // name: the key of stack.Switchback.Rules
	pattern         string // EventPattern as JSON; "" for a schedule
	schedule        string
	targets         []target
}

type target struct {
	function string // logical id
	input    *string
}

func str(v any) string { s, _ := v.(string); return s }

// e2e is the deployed shape running against a world.
type e2e struct {
	t         *testing.T
	w         *awstest.World
	fns       map[string]*function // by logical id
	byName    map[string]*function // by FunctionName
	rules     map[string]*rule     // by logical id
	q         *quamina.Quamina
	delivered int // Lambda API invocations already delivered
}

func (e *e2e) ruleNames(ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, e.rules[id].name)
	}
	sort.Strings(out)
	return out
}

// readTemplate reads the rules and functions and checks the functions are
// what Lambda would run: provided.al2023, arm64, handler bootstrap, code
// from a staged asset.
func (e *e2e) readTemplate() {
	t := e.t
	names := map[string]string{} // logical id → rule name
	for name, r := range synth.Rules {
		names[*synth.Stack.GetLogicalId(r.Node().DefaultChild().(awscdk.CfnElement))] = name
	}
	e.fns, e.byName, e.rules = map[string]*function{}, map[string]*function{}, map[string]*rule{}
	for _, id := range ofType("AWS::Lambda::Function") {
		_, p := resource(id)
		fn := &function{logicalID: id, props: p, name: strings.TrimPrefix(str(p["FunctionName"]), "switchback-")}
		if !slices.Contains(stack.FunctionNames, fn.name) {
			t.Fatalf("function %s: FunctionName %q is not switchback-<one of %v>", id, p["FunctionName"], stack.FunctionNames)
		}
		if rt, h, arch := str(p["Runtime"]), str(p["Handler"]), fmt.Sprint(p["Architectures"]); rt != "provided.al2023" || h != "bootstrap" || arch != "[arm64]" {
			t.Fatalf("function %s: Runtime %s, Handler %s, Architectures %s; want provided.al2023, bootstrap, [arm64]", fn.name, rt, h, arch)
		}
		// The code is the asset staged in the cloud assembly:
		// S3Key <hash>.zip, staged as asset.<hash>/ (its bootstrap, here
		// built for the host).
		code, _ := p["Code"].(map[string]any)
		hash, ok := strings.CutSuffix(str(code["S3Key"]), ".zip")
		if !ok {
			t.Fatalf("function %s: Code %v is not an S3 asset", fn.name, code)
		}
		fn.asset = filepath.Join(outDir, "asset."+hash, "bootstrap")
		if fi, err := os.Stat(fn.asset); err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Fatalf("function %s: staged asset %s: %v (mode %v); want an executable bootstrap", fn.name, fn.asset, err, fi)
		}
		e.fns[id] = fn
		e.byName[str(p["FunctionName"])] = fn
	}
	if len(e.fns) != len(stack.FunctionNames) {
		t.Fatalf("%d functions in the template; want %d", len(e.fns), len(stack.FunctionNames))
	}
	var err error
	if e.q, err = quamina.New(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ofType("AWS::Events::Rule") {
		_, p := resource(id)
		r := &rule{logicalID: id, name: names[id], schedule: str(p["ScheduleExpression"])}
		if r.name == "" {
			t.Fatalf("rule %s is not one of the stack's rules", id)
		}
		if str(p["State"]) != "ENABLED" {
			t.Fatalf("rule %s: State %v", r.name, p["State"])
		}
		if pat, ok := p["EventPattern"]; ok {
			b, _ := json.Marshal(pat)
			r.pattern = string(b)
			if err := e.q.AddPattern(id, r.pattern); err != nil {
				t.Fatalf("rule %s: quamina refuses its pattern %s: %v", r.name, b, err)
			}
		}
		targets, _ := p["Targets"].([]any)
		for _, tg := range targets {
			tm := tg.(map[string]any)
			ga, _ := tm["Arn"].(map[string]any)["Fn::GetAtt"].([]any)
			if len(ga) != 2 || ga[1] != "Arn" || e.fns[str(ga[0])] == nil {
				t.Fatalf("rule %s: target %v is not a function of the template", r.name, tm["Arn"])
			}
			tgt := target{function: str(ga[0])}
			if in, ok := tm["Input"].(string); ok {
				tgt.input = &in
			}
			r.targets = append(r.targets, tgt)
		}
		if len(r.targets) == 0 || (r.pattern == "") == (r.schedule == "") {
			t.Fatalf("rule %s: %d targets, pattern %q, schedule %q", r.name, len(r.targets), r.pattern, r.schedule)
		}
		e.rules[id] = r
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tTRIGGER\tTARGET\tINPUT")
	for _, id := range ofType("AWS::Events::Rule") {
		r := e.rules[id]
		trigger := r.schedule
		if trigger == "" {
			trigger = r.pattern
		}
		for _, tg := range r.targets {
			in := "(the event)"
			if tg.input != nil {
				in = *tg.input
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, trigger, e.fns[tg.function].name, in)
		}
	}
	tw.Flush()
	t.Logf("the template's rules:\n%s", b.String())
}

// substitution is one value the test gives a function instead of the
// template's (CloudFormation would resolve it at deploy time).
type substitution struct{ variable, template, used, why string }

// environments resolves every function's environment: the template's
// literal values as they are, the intrinsics CloudFormation resolves at
// deploy time with the world's values. It adds the Lambda-set variables
// (function name, memory) and the endpoints of the world's local AWS APIs,
// prints what was substituted, and makes the world serve the secrets the
// template names.
func (e *e2e) environments() {
	t, w := e.t, e.w
	var subs []substitution
	seen := map[string]bool{}
	sub := func(s substitution) {
		if k := s.variable + "\x00" + s.template; !seen[k] {
			seen[k] = true
			subs = append(subs, s)
		}
	}
	replicationSecret := ""
	resolve := func(fn *function, name string, v any) string {
		if s, ok := v.(string); ok {
			return s
		}
		raw, _ := json.Marshal(v)
		ref, _ := v.(map[string]any)["Ref"].(string)
		typ, p := resource(ref)
		var used, why string
		switch {
		case ref == "":
			t.Fatalf("%s: %s is %s, an intrinsic this test does not resolve", fn.name, name, raw)
		case typ == "AWS::DynamoDB::Table":
			used, why = awstest.Table, "the world's dynalite table"
		case typ == "AWS::SNS::Topic":
			used, why = awstest.TopicARN, "the world's SNS topic"
		case typ == "AWS::Lambda::Function" && str(p["FunctionName"]) != "":
			used, why = str(p["FunctionName"]), "the referenced function's FunctionName in the template"
			if used != awstest.ConfigureFn {
				w.Lambda.AddFunction(used)
			}
		case typ == "AWS::SecretsManager::Secret":
			if replicationSecret == "" {
				replicationSecret = generatedSecret(t, w, ref, p)
			}
			used, why = replicationSecret, "a secret generated per its GenerateSecretString, in the world's Secrets Manager"
		default:
			t.Fatalf("%s: %s refers to %s (%s): not resolved by this test", fn.name, name, ref, typ)
		}
		sub(substitution{name, string(raw), used, why})
		return used
	}
	var endpoints []string
	for _, kv := range w.Env() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL_") {
			endpoints = append(endpoints, kv)
		}
	}
	for _, fn := range e.sorted() {
		vars, _ := fn.props["Environment"].(map[string]any)["Variables"].(map[string]any)
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fn.env = []string{
			"AWS_LAMBDA_FUNCTION_NAME=" + str(fn.props["FunctionName"]),
			fmt.Sprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%v", fn.props["MemorySize"]),
			"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + str(fn.props["FunctionName"]),
		}
		fn.env = append(fn.env, endpoints...)
		for _, k := range keys {
			fn.env = append(fn.env, k+"="+resolve(fn, k, vars[k]))
		}
		// The admin secrets are literal ARNs: the world serves them.
		for _, kv := range fn.env {
			if v, ok := strings.CutPrefix(kv, lambdaenv.EnvAdminSecrets+"="); ok {
				for item := range strings.SplitSeq(v, ",") {
					_, arn, _ := strings.Cut(item, "=")
					if arn != "" && len(w.SM.SecretVersions(arn)) == 0 {
						admin, _ := json.Marshal(map[string]string{"username": awstest.AdminUser, "password": awstest.AdminPassword})
						w.SM.PutSecret(arn, string(admin))
						sub(substitution{lambdaenv.EnvAdminSecrets + " (served)", arn, "the world's admin login", "literal ARN kept; the world's Secrets Manager serves it"})
					}
				}
			}
		}
	}
	for _, a := range ctxAdapts {
		sub(substitution{"context", a, "", "synthesized that way"})
	}
	sub(substitution{"Architectures", "[arm64]", runtime.GOARCH, "the bootstrap assets are built for the host, to run here"})
	sub(substitution{"Timeout", "per function", fmt.Sprintf("deadline min(Timeout, %v)", maxDeadline), "a hung function fails the test sooner"})
	for _, kv := range endpoints {
		k, v, _ := strings.Cut(kv, "=")
		sub(substitution{k, "(none: the real endpoint)", v, "the world's local wire fake"})
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tTEMPLATE\tUSED\tWHY")
	for _, s := range subs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.variable, s.template, s.used, s.why)
	}
	tw.Flush()
	t.Logf("substituted (every other variable is the template's literal value):\n%s", b.String())
}

const maxDeadline = 90 * time.Second

// generatedSecret makes the secret the template's secret resource would
// generate (its SecretStringTemplate plus a random GenerateStringKey) in
// the world's Secrets Manager and returns its ARN.
func generatedSecret(t *testing.T, w *awstest.World, id string, p map[string]any) string {
	t.Helper()
	gen, _ := p["GenerateSecretString"].(map[string]any)
	var value map[string]any
	if err := json.Unmarshal([]byte(str(gen["SecretStringTemplate"])), &value); err != nil || str(gen["GenerateStringKey"]) == "" {
		t.Fatalf("secret %s: GenerateSecretString %v: %v", id, gen, err)
	}
	n := 32
	if l, ok := gen["PasswordLength"].(float64); ok {
		n = int(l)
	}
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	pw := make([]byte, n)
	for i := range pw {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		pw[i] = alnum[k.Int64()]
	}
	value[str(gen["GenerateStringKey"])] = string(pw)
	b, _ := json.Marshal(value)
	return w.SM.PutSecret("Switchback"+id, string(b))
}

func (e *e2e) sorted() []*function {
	out := make([]*function, 0, len(e.fns))
	for _, fn := range e.fns {
		out = append(out, fn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// start starts a function's staged bootstrap, once, with its environment.
func (e *e2e) start(fn *function) *lambdatest.Function {
	if fn.proc == nil {
		fn.proc = lambdatest.Start(e.t, fn.asset, fn.env)
		fn.proc.Timeout = maxDeadline
		if to, ok := fn.props["Timeout"].(float64); ok && time.Duration(to)*time.Second < maxDeadline {
			fn.proc.Timeout = time.Duration(to) * time.Second
		}
	}
	return fn.proc
}

// invoke runs payload through fn and fails the test on a function error.
func (e *e2e) invoke(fn *function, payload []byte) []byte {
	e.t.Helper()
	p := e.start(fn)
	res, err := p.Invoke(payload)
	if err != nil || res.Error != nil {
		e.t.Fatalf("%s: %v %+v\npayload %s\noutput:\n%s", fn.name, err, res.Error, payload, p.Output())
	}
	return res.Response
}

func (e *e2e) byFunctionName(name string) *function {
	for _, fn := range e.fns {
		if fn.name == name {
			return fn
		}
	}
	e.t.Fatalf("no function %s in the template", name)
	return nil
}

// delivery is one invocation EventBridge or Lambda made.
type delivery struct {
	rule, function string
	response       []byte
}

// publish is EventBridge: the event goes to every rule whose pattern
// matches it, which must be exactly want (rule names); each matching
// rule's targets get the event (or the target's Input). Every Lambda API
// invocation the functions make meanwhile is then delivered, as Lambda
// delivers an asynchronous invocation.
func (e *e2e) publish(what string, event []byte, want ...string) []delivery {
	e.t.Helper()
	matches, err := e.q.MatchesForEvent(event)
	if err != nil {
		e.t.Fatalf("%s: quamina: %v", what, err)
	}
	var ids []string
	for _, m := range matches {
		ids = append(ids, m.(string))
	}
	sort.Strings(ids)
	sort.Strings(want)
	if got := e.ruleNames(ids); !slices.Equal(got, want) {
		e.t.Fatalf("%s matched the rules %v; want %v", what, got, want)
	}
	var out []delivery
	for _, id := range ids {
		out = append(out, e.fire(e.rules[id], event)...)
	}
	return out
}

// fire delivers to a rule's targets.
func (e *e2e) fire(r *rule, event []byte) []delivery {
	var out []delivery
	for _, tg := range r.targets {
		payload := event
		if tg.input != nil {
			payload = []byte(*tg.input)
		}
		fn := e.fns[tg.function]
		out = append(out, delivery{rule: r.name, function: fn.name, response: e.invoke(fn, payload)})
		out = append(out, e.drainLambda()...)
	}
	return out
}

// drainLambda delivers the Lambda API invocations the functions made to
// the template's function of that name: asynchronous (Event) ones, as
// Lambda runs them.
func (e *e2e) drainLambda() []delivery {
	var out []delivery
	for {
		calls := e.w.Lambda.Calls("")
		if e.delivered >= len(calls) {
			return out
		}
		c := calls[e.delivered]
		e.delivered++
		fn := e.byName[c.Function]
		if fn == nil {
			e.t.Fatalf("a function invoked %q, which the template does not define", c.FunctionName)
		}
		if c.InvocationType != "Event" || c.Status/100 != 2 {
			e.t.Fatalf("%s invoked with type %q (status %d); want an asynchronous (Event) invocation", fn.name, c.InvocationType, c.Status)
		}
		out = append(out, delivery{rule: "(Lambda async)", function: fn.name, response: e.invoke(fn, c.Payload)})
	}
}

// only is the response of the one delivery in ds.
func (e *e2e) only(ds []delivery) []byte {
	e.t.Helper()
	if len(ds) != 1 {
		e.t.Fatalf("%d deliveries %+v; want one", len(ds), ds)
	}
	return ds[0].response
}

// schedule fires the schedule rule that targets function fn, as
// EventBridge fires it: its Input, or a Scheduled Event.
func (e *e2e) schedule(fn string, expr string) []delivery {
	e.t.Helper()
	for _, r := range e.rules {
		if r.schedule == "" || e.fns[r.targets[0].function].name != fn {
			continue
		}
		if r.schedule != expr {
			e.t.Fatalf("rule %s: schedule %s; want %s", r.name, r.schedule, expr)
		}
		now := time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339)
		event := fmt.Appendf(nil, `{"version":"0","id":"%d","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"%s","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/Switchback-%s"],"detail":{}}`,
			time.Now().UnixNano(), now, r.logicalID)
		// A scheduled event matches no event pattern.
		if m, _ := e.q.MatchesForEvent(event); len(m) != 0 {
			e.t.Fatalf("the scheduled event of %s matches the rules %v", r.name, m)
		}
		return e.fire(r, event)
	}
	e.t.Fatalf("no schedule rule targets %s", fn)
	return nil
}

// The whole serverless path on one machine: the switchover's events,
// routed by the synthesized patterns to capture, which invokes configure
// through the Lambda API; the pair is configured once. The monitor
// schedule's run publishes EMF that says the rollback is ready; reconcile
// and teardown schedules find nothing to do. The verify function finds
// the rollback cluster equal. A dry-run rollback changes nothing and shows
// that result; an executed one completes: the rollback cluster takes
// writes, production is read-only.
func TestDeployedShape(t *testing.T) {
	start := time.Now()
	w := awstest.New(t)
	t.Logf("world ready in %v", time.Since(start).Round(time.Millisecond))
	e := &e2e{t: t, w: w}
	e.readTemplate()
	e.environments()

	// Production keeps its binlogs 2 h: configure must raise that to the
	// template's retention, or the monitor (at the template's minimum
	// headroom) says the rollback is not ready.
	w.Green.ExecT(t, "SET GLOBAL binlog_expire_logs_seconds = 7200")

	// The switchover: RDS's events, in the order RDS sends them.
	step := time.Now()
	var configured []orchestrate.ConfigureOutcome
	captures := 0
	for _, ev := range []struct {
		what  string
		event []byte
		rule  string
	}{
		{"coordinates (cluster event)", w.CoordinatesEvent(false, w.Coords.File, w.Coords.Position), stack.RuleBinlogCoordinates},
		{"coordinates (instance event)", w.CoordinatesEvent(true, w.Coords.File, w.Coords.Position), stack.RuleBinlogCoordinates},
		{"RDS-EVENT-0260", w.ClusterSwitchoverEvent(), stack.RuleClusterSwitchoverCompleted},
		{"RDS-EVENT-0248", w.SwitchoverEvent(), stack.RuleSwitchoverCompleted},
	} {
		for _, d := range e.publish(ev.what, ev.event, ev.rule) {
			switch d.function {
			case stack.Capture:
				captures++
				var out orchestrate.CaptureResult
				if err := json.Unmarshal(d.response, &out); err != nil || out.Action == "needs-attention" || out.Action == "" {
					t.Fatalf("%s: capture answered %s (%v)", ev.what, d.response, err)
				}
				t.Logf("%-30s → %s → capture: %s %s %s", ev.what, d.rule, out.Action, out.Deployment, out.Reason)
			case stack.Configure:
				var out orchestrate.ConfigureOutcome
				if err := json.Unmarshal(d.response, &out); err != nil {
					t.Fatalf("configure answered %s (%v)", d.response, err)
				}
				t.Logf("%-30s → Lambda async → configure: %s", "", out.Outcome)
				configured = append(configured, out)
			default:
				t.Fatalf("%s was delivered to %s", ev.what, d.function)
			}
		}
	}
	if captures != 4 || len(configured) != 1 || configured[0].Outcome != "configured" {
		t.Fatalf("%d capture runs, configure runs %+v; want 4, and one configure run that configured", captures, configured)
	}
	w.SkipInvocations() // the binaries ran them
	w.AssertConfiguredOnce(w.Coords)
	t.Logf("switchover → configured in %v", time.Since(step).Round(time.Millisecond))

	// The monitor schedule.
	step = time.Now()
	resp := e.only(e.schedule(stack.Monitor, "rate(1 minute)"))
	var rep orchestrate.MonitorReport
	if json.Unmarshal(resp, &rep) != nil || len(rep.Pairs) != 1 || !rep.Pairs[0].Ready {
		t.Fatalf("monitor answered %s; want one ready pair", resp)
	}
	monitor := e.byFunctionName(stack.Monitor)
	logs := monitor.proc.Stop().Output // every line copied once the process ended
	monitor.proc = nil
	if strings.Contains(logs, awstest.AdminPassword) {
		t.Error("monitor logged the admin password")
	}
	var docs []emf.Document
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("monitor logged a line that is not JSON: %q", line)
			continue
		}
		if _, ok := entry["_aws"]; !ok {
			continue
		}
		doc, err := emf.Validate([]byte(line))
		if err != nil {
			t.Fatalf("EMF line does not validate: %v\n%s", err, line)
		}
		docs = append(docs, doc)
	}
	if len(docs) != 1 || docs[0].Dimensions[stack.DeploymentDimension] != awstest.DeploymentID || !slices.Contains(docs[0].Namespaces, stack.MetricsNamespace) {
		t.Fatalf("EMF documents %+v; want one in %s for %s=%s", docs, stack.MetricsNamespace, stack.DeploymentDimension, awstest.DeploymentID)
	}
	if v, ok := docs[0].Value("RollbackReady"); !ok || v != 1 {
		t.Fatalf("RollbackReady = %v (present %v); want 1\n%s", v, ok, logs)
	}
	lag, _ := docs[0].Value("ReplicaLagSeconds")
	// Configure set production's retention to the template's retention,
	// raised to its rollback window plus its minimum headroom: the
	// headroom is that less the age of the binlog the replica needs
	// (minutes here), above the template's minimum.
	headroom, _ := docs[0].Value("BinlogRetentionHeadroomHours")
	vars := e.byFunctionName(stack.Configure).props["Environment"].(map[string]any)["Variables"].(map[string]any)
	hours := func(name string) float64 {
		var h float64
		if _, err := fmt.Sscan(str(vars[name]), &h); err != nil {
			t.Fatalf("template: %s = %v: %v", name, vars[name], err)
		}
		return h
	}
	minHeadroom := hours(lambdaenv.EnvMinHeadroomHours)
	retention := max(hours(lambdaenv.EnvRetentionHours), hours(lambdaenv.EnvRollbackWindowHours)+minHeadroom)
	if headroom <= minHeadroom || headroom > retention || headroom < retention-1 {
		t.Fatalf("BinlogRetentionHeadroomHours %v; want about %v h (the template's retention, or rollback window plus minimum headroom), above its minimum %v h\n%s",
			headroom, retention, minHeadroom, logs)
	}
	t.Logf("monitor: EMF RollbackReady=1 ReplicaLagSeconds=%v BinlogRetentionHeadroomHours=%v (%v)", lag, headroom, time.Since(step).Round(time.Millisecond))

	// The other schedules find nothing to do.
	resp = e.only(e.schedule(stack.Reconcile, "rate(5 minutes)"))
	var rec orchestrate.ReconcileReport
	if json.Unmarshal(resp, &rec) != nil || len(rec.Items) != 0 || len(rec.Errors) != 0 {
		t.Fatalf("reconcile answered %s; want nothing to do", resp)
	}
	resp = e.only(e.schedule(stack.Teardown, "rate(1 hour)"))
	var td orchestrate.TeardownOutcome
	if json.Unmarshal(resp, &td) != nil || td.Outcome != orchestrate.TeardownSkipped || !td.Unchanged {
		t.Fatalf("teardown (due) answered %s; want skipped, unchanged", resp)
	}
	if n := len(w.Lambda.Calls("")); n != 1 {
		t.Fatalf("%d Lambda API invocations in all; want the one of configure", n)
	}

	// Verify, invoked by hand by on-call: the small tables compare equal
	// in one invocation (nothing queued); the rollback dry run shows it.
	step = time.Now()
	vfn := e.byFunctionName(stack.Verify)
	e.start(vfn).Server().SetClientContext(`{"custom":{"caller":"alice@oncall"},"env":{},"Client":{}}`)
	var vout orchestrate.VerifyOutcome
	if resp := e.invoke(vfn, []byte(`{"deployment":"`+awstest.DeploymentID+`","verify":{}}`)); json.Unmarshal(resp, &vout) != nil ||
		vout.Outcome != verify.OutcomeEqual || vout.Continued || vout.Caller != "alice@oncall" || vout.Verify == nil {
		t.Fatalf("verify answered %s\n%s", resp, vfn.proc.Output())
	}
	if n := len(w.Lambda.Calls("")); n != 1 {
		t.Fatalf("%d Lambda API invocations in all after verify; want the one of configure", n)
	}
	t.Logf("verify: %s in %v (run %s, %d tables, %d rows)", vout.Outcome, time.Since(step).Round(time.Millisecond), vout.Verify.RunID, vout.Verify.Tables, vout.Verify.Rows)

	// Rollback, invoked by hand by on-call.
	step = time.Now()
	rollback := e.byFunctionName(stack.Rollback)
	e.start(rollback).Server().SetClientContext(`{"custom":{"caller":"alice@oncall"},"env":{},"Client":{}}`)
	outcome := func(resp []byte) orchestrate.RollbackOutcome {
		t.Helper()
		var out orchestrate.RollbackOutcome
		if err := json.Unmarshal(resp, &out); err != nil {
			t.Fatalf("rollback answered %s: %v", resp, err)
		}
		return out
	}
	before := w.Snapshot()
	out := outcome(e.invoke(rollback, []byte(`{"deployment":"`+awstest.DeploymentID+`","repoint":{"secret":{"secretId":"`+awstest.AppSecret+`"}}}`)))
	if !out.DryRun || out.Outcome != replication.OutcomePlanned || out.Report == nil || out.Caller != "alice@oncall" || out.Rollback != awstest.OldID ||
		out.Verify == nil || out.Verify.RunID != vout.Verify.RunID || out.Verify.Outcome != verify.OutcomeEqual {
		t.Fatalf("dry run answered %+v (verify %+v)", out, out.Verify)
	}
	if diff := before.Diff(w.Snapshot()); diff != "" {
		t.Fatalf("the dry run changed:\n%s", diff)
	}
	t.Logf("rollback dry run: %s, %d steps planned, nothing changed", out.Outcome, len(out.Report.Steps))
	out = outcome(e.invoke(rollback, []byte(`{"deployment":"`+awstest.DeploymentID+`","dryRun":false,"confirm":"`+out.Rollback+`","reason":"e2e: p99 latency doubled","repoint":{"secret":{"secretId":"`+awstest.AppSecret+`"}}}`)))
	if out.DryRun || out.Report == nil || out.Outcome != replication.OutcomeCompleted || len(out.Repoint) != 1 || out.Repoint[0].Outcome != replication.StepDone {
		t.Fatalf("execute answered %+v\n%s", out, rollback.proc.Output())
	}
	blue, green := awstest.ReadServerState(t, w.Blue), awstest.ReadServerState(t, w.Green)
	if blue.ReadOnly != "0" || green.ReadOnly != "1" {
		t.Fatalf("rollback cluster read_only %s, production read_only %s; want 0 and 1", blue.ReadOnly, green.ReadOnly)
	}
	w.Blue.ExecT(t, "INSERT INTO shop.orders VALUES (1000, 'after rollback')")
	if r, err := w.Store.Get(t.Context(), awstest.DeploymentID); err != nil || r.Phase != orchestrate.PhaseRolledBack {
		t.Fatalf("record after rollback: %v %+v", err, r.Phase)
	}
	if v := w.SM.SecretVersions(awstest.AppSecret); len(v) < 2 || !strings.Contains(v[0].Value, fmt.Sprintf(`"port":%d`, w.Blue.Port)) {
		t.Errorf("application secret not re-pointed to the rollback cluster: %+v", v)
	}
	t.Logf("rollback executed: %s in %v (writes unavailable %d ms, production stopped at %s), rollback cluster writable, production read-only",
		out.Outcome, time.Since(step).Round(time.Millisecond), out.Report.WriteUnavailableMS, out.Report.ProductionPosition)
	for _, fn := range e.sorted() {
		if fn.proc != nil && strings.Contains(fn.proc.Output(), awstest.AdminPassword) {
			t.Errorf("%s logged the admin password", fn.name)
		}
	}
	t.Logf("deployed shape end to end in %v", time.Since(start).Round(time.Millisecond))
}
