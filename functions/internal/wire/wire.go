// Package wire builds, once per cold start, what every switchback Lambda
// function needs: its configuration from the environment, the SDK's default
// AWS configuration (so AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
// point the clients at any AWS-compatible endpoint), a JSON logger, and the
// orchestrator with the adapters every function uses: RDS (topology,
// events, fencing, blue/green deletion) and SNS (on-call), and, for a
// function that connects to clusters, the admin logins (Secrets Manager)
// and the MySQL connector.
//
// The adapters only some functions use — the state store (DynamoDB), the
// Lambda invoker (of configure; of the verify function itself, to
// continue a verify run), re-pointing (Route 53, Secrets Manager, RDS),
// binlog file creation times (go-mysql) — each function's main.go adds to
// Runtime.Orchestrator itself: a package this one imported would be linked
// into every function, used or not.
package wire

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/switchback/switchback/shared/awsclients"
	"github.com/switchback/switchback/shared/awsrds"
	"github.com/switchback/switchback/shared/emf"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

// Runtime is one function's dependencies, built once per cold start.
type Runtime struct {
	Function string
	Config   lambdaenv.Config
	Log      *slog.Logger
	// AWS is the SDK's default configuration, for the clients a function
	// adds in its main.go.
	AWS aws.Config
	// RDS is the RDS adapter the orchestrator uses (preflight reads
	// parameter groups through it).
	RDS *awsrds.Client
	// Orchestrator holds the adapters Load built; main.go adds the ones
	// only its function uses before lambda.Start, and For copies it for
	// each invocation.
	Orchestrator orchestrate.Orchestrator
}

// Load reads the configuration (every problem named by its variable) and
// builds the clients and adapters every function uses; with needs.Database
// also the admin logins and the MySQL connector.
func Load(ctx context.Context, function string, needs lambdaenv.Needs) (*Runtime, error) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", function)
	cfg, err := lambdaenv.FromOS(needs)
	if err != nil {
		return nil, fmt.Errorf("%s: configuration: %w", function, err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: AWS configuration: %w", function, err)
	}
	rdsClient := awsrds.New(rds.NewFromConfig(awsCfg))
	rdsClient.Logger = log
	o := orchestrate.Orchestrator{
		Topology: rdsClient,
		Events:   rdsClient,
		Deleter:  rdsClient,
		Fencer:   rdsClient.Fencer,
		Notifier: awsclients.NewNotifier(sns.NewFromConfig(awsCfg), cfg.TopicARN),
		OptedIn:  cfg.OptedIn,
		Settings: orchestrate.Settings{
			DeleteBlueGreen: cfg.DeleteBlueGreen,
			RetentionHours:  cfg.RetentionHours,
			Lease:           cfg.Lease,
			Stall:           cfg.Stall,
			// Monitor and teardown.
			MaxLag:             cfg.MaxLag,
			MinHeadroom:        cfg.MinHeadroom,
			MonitorConcurrency: cfg.MonitorConcurrency,
			MonitorPairTimeout: cfg.MonitorPairTimeout,
			RollbackWindow:     cfg.RollbackWindow,
		},
	}
	if needs.Database {
		o.Credentials = awsclients.NewSecrets(secretsmanager.NewFromConfig(awsCfg), awsclients.SecretsConfig{
			AdminSecrets: cfg.AdminSecrets, ReplicationSecretARN: cfg.ReplicationSecretARN,
		})
		if o.Connect, err = orchestrate.MySQLConnector(cfg.TLS, cfg.TLSCABundle); err != nil {
			return nil, fmt.Errorf("%s: %w", function, err)
		}
	}
	log.Info("cold start", "config", cfg)
	return &Runtime{Function: function, Config: cfg, Log: log, AWS: awsCfg, RDS: rdsClient, Orchestrator: o}, nil
}

// For returns the orchestrator for one invocation: its history entries name
// the function and request id, its logs carry the request id (and the
// deployment, when the caller knows it).
func (r *Runtime) For(ctx context.Context, deployment string) (orchestrate.Orchestrator, *slog.Logger) {
	requestID := "local"
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		requestID = lc.AwsRequestID
	}
	log := r.Log.With("request_id", requestID)
	if deployment != "" {
		log = log.With("deployment", deployment)
	}
	o := r.Orchestrator
	o.Actor, o.Log = r.Function+"/"+requestID, log
	o.Metric = func(name string, value float64, deployment string) {
		emf.Publish(ctx, log, deployment, map[string]float64{name: value})
	}
	return o, log
}

// Caller is who invoked the function, as far as Lambda tells it: the
// client context's custom "caller" or "user", else the client
// application's installation id or title, else the Cognito identity, else
// "unknown" (Lambda does not pass the invoking IAM identity to a function;
// CloudTrail records it).
func Caller(ctx context.Context) string {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return "unknown"
	}
	cc := lc.ClientContext
	for _, k := range []string{"caller", "user"} {
		if v := strings.TrimSpace(cc.Custom[k]); v != "" {
			return v
		}
	}
	for _, v := range []string{cc.Client.InstallationID, cc.Client.AppTitle, lc.Identity.CognitoIdentityID} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return "unknown"
}

// Fail logs a cold-start failure and exits: Lambda reports it as an init
// error.
func Fail(function string, err error) {
	slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("cold start failed", "function", function, "error", err.Error())
	os.Exit(1)
}
