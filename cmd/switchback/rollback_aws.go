package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/switchback/switchback/shared/awsclients"
	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/repoint"
)

// awsRollbackFlags are rollback's flags for a deployment on AWS.
type awsRollbackFlags struct {
	deployment, table, confirm, reason string
	route53Zone, route53Record         string
	route53TTL                         int64
	secret                             string
	rename                             bool
}

func (a *awsRollbackFlags) register(fs *flagSet) {
	fs.StringVar(&a.deployment, "deployment", "", "roll back this blue/green deployment (`bgd-…`) through switchback's state table and RDS instead of DSNs")
	fs.StringVar(&a.table, "table", "", "with --deployment: the DynamoDB `table` of switchback's state (default $"+envTable+")")
	fs.StringVar(&a.confirm, "confirm", "", "with --deployment --execute: the rollback cluster's `identifier`, to confirm")
	fs.StringVar(&a.reason, "reason", "", "with --deployment --execute: why (recorded in the history and sent to on-call)")
	fs.StringVar(&a.route53Zone, "repoint-route53-zone", "", "with --deployment: the hosted zone `id` (Z…) of the application's CNAME")
	fs.StringVar(&a.route53Record, "repoint-route53-record", "", "with --deployment: the CNAME `name` to point at the rollback cluster's writer endpoint")
	fs.Int64Var(&a.route53TTL, "repoint-route53-ttl", orchestrate.DefaultRepointTTL, "with --repoint-route53-*: the CNAME's TTL in `seconds`")
	fs.StringVar(&a.secret, "repoint-secret", "", "with --deployment: the `secret` (ARN or name) whose host and port the application reads")
	fs.BoolVar(&a.rename, "repoint-rename", false, "with --deployment: rename production to <name>-rolledback<N> and the rollback cluster to <name> (about two minutes of DNS change)")
}

func (a awsRollbackFlags) used() bool {
	return a.table != "" || a.confirm != "" || a.reason != "" || a.route53Zone != "" || a.route53Record != "" || a.secret != "" || a.rename
}

// rollbackOptions are rollback's flags shared by both modes.
type rollbackOptions struct {
	execute          bool
	maxLag, catchup  time.Duration
	maxWriteDowntime time.Duration
	reverse          bool
	privileged       string
	output           outputFormat
}

// noTopic stands in for SWITCHBACK_TOPIC_ARN when it is unset: the CLI
// then notifies nobody.
const noTopic = "arn:aws:sns:us-east-1:000000000000:switchback-cli-no-topic"

// runRollbackDeployment is rollback --deployment: the rollback function's
// orchestrator, built from the SDK's default configuration.
func runRollbackDeployment(ctx context.Context, env *cliEnv, a awsRollbackFlags, opts rollbackOptions) error {
	req := orchestrate.RollbackRequest{
		Deployment: a.deployment, DryRun: boolPtr(!opts.execute), Confirm: a.confirm, Reason: a.reason,
		Reverse: opts.reverse, PrivilegedWriters: opts.privileged,
	}
	if opts.maxLag > 0 {
		req.MaxLagSeconds = intPtr(int(math.Ceil(opts.maxLag.Seconds())))
	}
	if opts.catchup > 0 {
		req.CatchupTimeoutSeconds = intPtr(int(math.Ceil(opts.catchup.Seconds())))
	}
	if opts.maxWriteDowntime > 0 {
		req.MaxWriteDowntimeMS = intPtr(int(opts.maxWriteDowntime.Milliseconds()))
	}
	if a.route53Zone != "" || a.route53Record != "" || a.secret != "" || a.rename {
		req.Repoint = &orchestrate.RepointRequest{}
		if a.route53Zone != "" || a.route53Record != "" {
			ttl := a.route53TTL
			req.Repoint.Route53 = &orchestrate.Route53Repoint{ZoneID: a.route53Zone, RecordName: a.route53Record, TTL: &ttl}
		}
		if a.secret != "" {
			req.Repoint.Secret = &orchestrate.SecretRepoint{SecretID: a.secret}
		}
		if a.rename {
			req.Repoint.Rename = &orchestrate.RenameRepoint{}
		}
	}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("%w: %s", errUsage, strings.TrimPrefix(err.Error(), orchestrate.ErrInvalidRequest.Error()+": "))
	}
	o, topicSet, err := cliOrchestrator(ctx, env, a.table)
	if err != nil {
		return err
	}
	req.Caller = cliCaller(env)
	o.Actor = "cli/" + req.Caller
	if opts.output == outputText {
		mode := "Planning (dry run: nothing will change; add --execute --confirm <rollback cluster> --reason … to roll back)"
		if opts.execute {
			mode = "Rolling back"
		}
		fmt.Fprintf(env.stdout, "%s: deployment %s, as %s\n", mode, a.deployment, req.Caller)
		if !topicSet {
			fmt.Fprintf(env.stdout, "(no %s: on-call is not notified)\n", lambdaenv.EnvTopicARN)
		}
		req.OnStep = func(s replication.Step) { printStep(env.stdout, s) }
	}
	out, err := o.Rollback(ctx, req)
	if opts.output == outputJSON {
		if werr := writeJSON(env.stdout, out); werr != nil {
			return werr
		}
	} else {
		writeRollbackOutcome(env.stdout, out)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, orchestrate.ErrInvalidRequest):
		return fmt.Errorf("%w: %v", errUsage, err)
	case errors.Is(err, replication.ErrRefused):
		fmt.Fprintf(env.stderr, "switchback rollback: refused: %s\n", out.Reason)
		return errRefusedExit
	}
	fmt.Fprintf(env.stderr, "switchback rollback: %s: %v\n", out.Outcome, err)
	return errSilent
}

func boolPtr(b bool) *bool { return &b }
func intPtr(n int) *int    { return &n }

// cliOrchestrator builds what the rollback function builds, from the
// SWITCHBACK_* variables and the SDK's default configuration. topicSet is
// false when no SNS topic is configured (nobody is notified).
func cliOrchestrator(ctx context.Context, env *cliEnv, table string) (*orchestrate.Orchestrator, bool, error) {
	topicSet := env.getenv(lambdaenv.EnvTopicARN) != ""
	getenv := func(k string) string {
		switch {
		case k == lambdaenv.EnvTable && table != "":
			return table
		case k == lambdaenv.EnvTopicARN && !topicSet:
			return noTopic
		}
		return env.getenv(k)
	}
	cfg, err := lambdaenv.Load(getenv, lambdaenv.Needs{Database: true})
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errUsage, err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("load the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, false, errors.New("no AWS region: set AWS_REGION or a region in your AWS profile")
	}
	connect, err := orchestrate.MySQLConnector(cfg.TLS, cfg.TLSCABundle)
	if err != nil {
		return nil, false, fmt.Errorf("%w (set %s, or %s)", err, lambdaenv.EnvTLSCABundle, lambdaenv.EnvTLS)
	}
	rdsClient := awsrds.New(rds.NewFromConfig(awsCfg))
	o := &orchestrate.Orchestrator{
		Store:    dynamostate.New(dynamodb.NewFromConfig(awsCfg), cfg.Table),
		Topology: rdsClient,
		Fencer:   rdsClient.Fencer,
		Credentials: awsclients.NewSecrets(secretsmanager.NewFromConfig(awsCfg), awsclients.SecretsConfig{
			AdminSecrets: cfg.AdminSecrets, ReplicationSecretARN: cfg.ReplicationSecretARN,
		}),
		Connect: connect,
		Repoint: orchestrate.Repointers{
			DNS:      repoint.NewRoute53(route53.NewFromConfig(awsCfg)),
			Secrets:  repoint.NewSecrets(secretsmanager.NewFromConfig(awsCfg)),
			Clusters: repoint.NewClusters(rds.NewFromConfig(awsCfg)),
		},
		Settings: orchestrate.Settings{Lease: cfg.Lease, MaxLag: cfg.MaxLag},
		Hook:     env.hook,
	}
	if topicSet {
		o.Notifier = awsclients.NewNotifier(sns.NewFromConfig(awsCfg), cfg.TopicARN)
	}
	return o, topicSet, nil
}

// cliCaller names the operator: user@host.
func cliCaller(env *cliEnv) string {
	name := env.getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		name += "@" + host
	}
	return name
}

// writeRollbackOutcome prints the summary of a rollback --deployment run
// (its steps, re-pointing included, were printed as they ended).
func writeRollbackOutcome(w io.Writer, out orchestrate.RollbackOutcome) {
	if out.Report != nil {
		writeRollbackSummary(w, *out.Report, len(out.Repoint) > 0)
	} else {
		fmt.Fprintf(w, "Outcome: %s — %s\n", out.Outcome, out.Reason)
	}
	if out.Outcome == orchestrate.RollbackFailed && out.Report != nil {
		fmt.Fprintf(w, "Failed: %s\n", out.Reason)
	}
	for _, st := range out.Repoint {
		if st.Outcome == replication.StepFailed {
			fmt.Fprintf(w, "Re-pointing FAILED (%s): run the same command again, re-pointing is idempotent\n", strings.TrimPrefix(st.Name, "re-point "))
		}
	}
	switch v := out.Verify; {
	case v != nil:
		fmt.Fprintf(w, "Data verified: %s, %s, compared from %s to %s against %s (run %s): %s\n",
			strings.ToUpper(v.Outcome), scopeText(v.Scope), v.StartedAt.Format(time.RFC3339), v.FinishedAt.Format(time.RFC3339), v.RollbackTarget, v.RunID, v.Reason)
	case out.VerifyError != "":
		fmt.Fprintf(w, "Data verified: cannot tell (%s)\n", out.VerifyError)
	case out.DryRun:
		fmt.Fprintln(w, "Data verified: never — run switchback verify (or the switchback-verify function) to compare the rollback cluster's data with production's")
	}
	if !out.DryRun && out.Outcome != orchestrate.RollbackRefused {
		fmt.Fprintf(w, "History: switchback history --deployment %s\n", out.Deployment)
	}
}
