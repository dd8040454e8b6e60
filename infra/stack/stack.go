// Package stack is switchback's CDK v2 stack: the eight Lambda functions
// from their prebuilt linux/arm64 bootstrap binaries, the EventBridge rules
// and schedules that drive them, the DynamoDB state table, the encrypted
// on-call topic, the generated replication secret, the alarms that page and
// a dashboard. Every setting comes from CDK context (config.go).
package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/switchback/switchback/shared/lambdaenv"
)

// Function names (folders under functions/ and build/).
const (
	Capture   = "capture"
	Reconcile = "reconcile"
	Configure = "configure"
	Monitor   = "monitor"
	Preflight = "preflight"
	Rollback  = "rollback"
	Teardown  = "teardown"
	Verify    = "verify"
)

// FunctionNames lists the eight functions.
var FunctionNames = []string{Capture, Reconcile, Configure, Monitor, Preflight, Rollback, Teardown, Verify}

// Rule names (keys of Switchback.Rules).
const (
	RuleSwitchoverCompleted        = "SwitchoverCompleted"        // RDS-EVENT-0248 → capture
	RuleClusterSwitchoverCompleted = "ClusterSwitchoverCompleted" // RDS-EVENT-0260 → capture
	RuleBinlogCoordinates          = "BinlogCoordinates"          // the coordinates message → capture
	RuleDeploymentCreated          = "DeploymentCreated"          // RDS-EVENT-0244 → preflight
	RuleMonitorSchedule            = "MonitorSchedule"
	RuleReconcileSchedule          = "ReconcileSchedule"
	RuleTeardownSchedule           = "TeardownSchedule"
)

// CoordinatesPrefix starts the message RDS sends with green's binlog
// coordinates after a switchover.
const CoordinatesPrefix = "Binary log coordinates in green environment after switchover"

// MetricsNamespace and DeploymentDimension are the monitor's EMF metrics'.
const (
	MetricsNamespace    = "Switchback"
	DeploymentDimension = "Deployment"
)

// Props are the stack's inputs besides context.
type Props struct {
	StackProps awscdk.StackProps
	// BuildDir holds <function>/bootstrap for every function (make build-functions).
	BuildDir string
	// Config, when set, is used instead of parsing the construct context.
	Config *Config
}

// Switchback is the stack and its main resources (for tests).
type Switchback struct {
	awscdk.Stack
	Config    Config
	Functions map[string]awslambda.Function
	DLQs      map[string]awssqs.Queue
	Rules     map[string]awsevents.Rule
	Table     awsdynamodb.Table
	Topic     awssns.Topic
}

type fnSpec struct {
	memory, timeoutSeconds int
	reserved               bool
	description            string
}

var specs = map[string]fnSpec{
	Capture:   {256, 30, false, "Records RDS blue/green events; invokes configure once a deployment is complete"},
	Reconcile: {256, 120, false, "Every 5 minutes: resumes switched-over deployments with no record or a stalled one"},
	Configure: {512, 600, true, "Fences the old cluster, deletes the blue/green deployment, configures reverse replication"},
	Monitor:   {512, 120, false, "Every minute: observes every rollback pair and publishes its metrics"},
	Preflight: {512, 120, false, "On RDS-EVENT-0244 or by hand: can the rollback path be built and trusted"},
	Rollback:  {512, 900, true, "By hand: plans or performs the cutover back to the rollback cluster, then re-points"},
	Teardown:  {256, 300, true, "On request or hourly for due pairs: ends a pair's rollback path"},
	// Its own function, not a rollback payload: a verify chain holds its
	// execution for hours, and the rollback function's single execution
	// must stay free for a rollback. One chain at a time per account
	// (reserved concurrency 1): a continuation queued while another
	// invocation runs is throttled and retried by Lambda.
	Verify: {512, 900, true, "By hand: compares the rollback cluster with production online, continuing itself until done"},
}

// leaseSeconds stays above the configure function's timeout (lambdaenv).
const leaseSeconds = 900

// New builds the stack. A missing or malformed context value is an error
// naming its key; nothing is created then.
func New(scope constructs.Construct, id string, props *Props) (*Switchback, error) {
	var cfg Config
	if props.Config != nil {
		cfg = *props.Config
	} else {
		var err error
		cfg, err = ParseConfig(func(key string) any { return scope.Node().TryGetContext(jsii.String(key)) })
		if err != nil {
			return nil, err
		}
	}
	for _, name := range FunctionNames {
		if fi, err := os.Stat(filepath.Join(props.BuildDir, name, "bootstrap")); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("switchback stack: %s is missing: build the functions first (make build-functions)", filepath.Join(props.BuildDir, name, "bootstrap"))
		}
	}
	var caDir string
	if cfg.TLS == lambdaenv.TLSVerify {
		var err error
		if caDir, err = stageCABundle(props.BuildDir, cfg.RDSCABundle); err != nil {
			return nil, fmt.Errorf("switchback stack: %s: %w", CtxRDSCABundle, err)
		}
	}

	st := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &Switchback{Stack: st, Config: cfg, Functions: map[string]awslambda.Function{}, DLQs: map[string]awssqs.Queue{}, Rules: map[string]awsevents.Rule{}}

	// Network: the functions run in the configured subnets and security group.
	azs := cfg.AvailabilityZones
	vpcAttrs := &awsec2.VpcAttributes{VpcId: jsii.String(cfg.VPCID)}
	if len(azs) > 0 {
		vpcAttrs.AvailabilityZones = jsii.Strings(azs...)
	} else {
		vpcAttrs.AvailabilityZones = st.AvailabilityZones()
	}
	vpc := awsec2.Vpc_FromVpcAttributes(st, jsii.String("Vpc"), vpcAttrs)
	var subnets []awsec2.ISubnet
	for i, sn := range cfg.SubnetIDs {
		subnets = append(subnets, awsec2.Subnet_FromSubnetId(st, jsii.String(fmt.Sprintf("Subnet%d", i)), jsii.String(sn)))
	}
	sg := awsec2.SecurityGroup_FromSecurityGroupId(st, jsii.String("SecurityGroup"), jsii.String(cfg.SecurityGroupID), &awsec2.SecurityGroupImportOptions{Mutable: jsii.Bool(false)})

	// State: deployment records, leases and history (keys pk, sk; no TTL:
	// the store keeps history forever and leases expire by condition).
	s.Table = awsdynamodb.NewTable(st, jsii.String("State"), &awsdynamodb.TableProps{
		PartitionKey:                     &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:                          &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
		DeletionProtection:               jsii.Bool(true),
		RemovalPolicy:                    awscdk.RemovalPolicy_RETAIN,
		Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
	})

	// On-call topic, encrypted with a customer-managed key CloudWatch may use.
	key := awskms.NewKey(st, jsii.String("TopicKey"), &awskms.KeyProps{
		Description:       jsii.String("switchback on-call topic"),
		EnableKeyRotation: jsii.Bool(true),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": st.Account()}},
	}), nil)
	s.Topic = awssns.NewTopic(st, jsii.String("OnCall"), &awssns.TopicProps{
		DisplayName: jsii.String("switchback on-call"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	for _, e := range cfg.OnCallEmails {
		s.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
	for _, u := range cfg.OnCallHTTPS {
		s.Topic.AddSubscription(awssnssubscriptions.NewUrlSubscription(jsii.String(u), &awssnssubscriptions.UrlSubscriptionProps{Protocol: awssns.SubscriptionProtocol_HTTPS}))
	}

	// The replication user's password: configured, or generated here.
	replicationSecretARN := cfg.ReplicationSecretARN
	if replicationSecretARN == "" {
		secret := awssecretsmanager.NewSecret(st, jsii.String("ReplicationSecret"), &awssecretsmanager.SecretProps{
			Description: jsii.String("switchback: password of the replication user configure creates on the new production"),
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				SecretStringTemplate: jsii.String(`{"username":"switchback_repl"}`),
				GenerateStringKey:    jsii.String("password"),
				ExcludePunctuation:   jsii.Bool(true),
				PasswordLength:       jsii.Number(32),
			},
		})
		cdknag.NagSuppressions_AddResourceSuppressions(secret, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-SMG4"),
			Reason: jsii.String("The replication password is set on the new production and in the rollback cluster's replica configuration by configure; rotating it would break the reverse replication it protects."),
		}}, jsii.Bool(true))
		replicationSecretARN = *secret.SecretArn()
	}

	var layers []awslambda.ILayerVersion
	if caDir != "" {
		layers = append(layers, awslambda.NewLayerVersion(st, jsii.String("RdsCaBundle"), &awslambda.LayerVersionProps{
			Code:                    awslambda.Code_FromAsset(jsii.String(caDir), nil),
			CompatibleArchitectures: &[]awslambda.Architecture{awslambda.Architecture_ARM_64()},
			CompatibleRuntimes:      &[]awslambda.Runtime{awslambda.Runtime_PROVIDED_AL2023()},
			Description:             jsii.String("RDS CA bundle at " + lambdaenv.DefaultTLSCABundle),
		}))
	}

	env := s.environment(cfg, replicationSecretARN)

	// The functions. configure first: capture and reconcile invoke it.
	for _, name := range []string{Configure, Capture, Reconcile, Monitor, Preflight, Rollback, Teardown, Verify} {
		fnEnv := map[string]*string{}
		for k, v := range env {
			fnEnv[k] = jsii.String(v)
		}
		if name == Capture || name == Reconcile {
			fnEnv[lambdaenv.EnvConfigureFunction] = s.Functions[Configure].FunctionName()
		}
		s.function(name, props.BuildDir, vpc, subnets, sg, layers, fnEnv, cfg)
	}
	s.grants(cfg, replicationSecretARN, key)
	s.rules()
	s.alarms(cfg)
	s.dashboard()
	s.suppressions()
	return s, nil
}

// environment is every function's environment, from lambdaenv's names.
func (s *Switchback) environment(cfg Config, replicationSecretARN string) map[string]string {
	ids := make([]string, 0, len(cfg.Clusters))
	admin := make([]string, 0, len(cfg.Clusters))
	for _, c := range cfg.Clusters {
		ids = append(ids, c.ID)
		admin = append(admin, c.ID+"="+c.AdminSecretARN)
	}
	return map[string]string{
		lambdaenv.EnvTable:                     *s.Table.TableName(),
		lambdaenv.EnvTopicARN:                  *s.Topic.TopicArn(),
		lambdaenv.EnvOptInClusters:             strings.Join(ids, ","),
		lambdaenv.EnvOptInTag:                  cfg.OptInTag,
		lambdaenv.EnvAdminSecrets:              strings.Join(admin, ","),
		lambdaenv.EnvReplicationSecretARN:      replicationSecretARN,
		lambdaenv.EnvTLS:                       cfg.TLS,
		lambdaenv.EnvTLSCABundle:               lambdaenv.DefaultTLSCABundle,
		lambdaenv.EnvDeleteBlueGreen:           strconv.FormatBool(cfg.DeleteBlueGreen),
		lambdaenv.EnvRetentionHours:            strconv.Itoa(cfg.RetentionHours),
		lambdaenv.EnvLeaseSeconds:              strconv.Itoa(leaseSeconds),
		lambdaenv.EnvStallMinutes:              "15",
		lambdaenv.EnvMaxLagSeconds:             strconv.Itoa(cfg.MaxLagSeconds),
		lambdaenv.EnvMinHeadroomHours:          strconv.Itoa(cfg.MinHeadroomHours),
		lambdaenv.EnvMonitorConcurrency:        "4",
		lambdaenv.EnvMonitorPairTimeoutSeconds: "20",
		lambdaenv.EnvRollbackWindowHours:       strconv.Itoa(cfg.RollbackWindowHours),
		lambdaenv.EnvPreflightFixRetention:     "false",
	}
}

// function is the one helper that defines every Go function.
func (s *Switchback) function(name, buildDir string, vpc awsec2.IVpc, subnets []awsec2.ISubnet, sg awsec2.ISecurityGroup,
	layers []awslambda.ILayerVersion, env map[string]*string, cfg Config) {
	spec := specs[name]
	id := strings.ToUpper(name[:1]) + name[1:]
	dlq := awssqs.NewQueue(s.Stack, jsii.String(id+"Dlq"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	logs := awslogs.NewLogGroup(s.Stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/switchback-" + name),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	logs.Node().DefaultChild().(awslogs.CfnLogGroup).SetRetentionInDays(jsii.Number(cfg.LogRetentionDays))
	props := &awslambda.FunctionProps{
		FunctionName:    jsii.String("switchback-" + name),
		Description:     jsii.String("switchback " + name + ": " + spec.description),
		Runtime:         awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:    awslambda.Architecture_ARM_64(),
		Handler:         jsii.String("bootstrap"),
		Code:            awslambda.Code_FromAsset(jsii.String(filepath.Join(buildDir, name)), nil),
		MemorySize:      jsii.Number(spec.memory),
		Timeout:         awscdk.Duration_Seconds(jsii.Number(spec.timeoutSeconds)),
		Vpc:             vpc,
		VpcSubnets:      &awsec2.SubnetSelection{Subnets: &subnets},
		SecurityGroups:  &[]awsec2.ISecurityGroup{sg},
		Environment:     &env,
		DeadLetterQueue: dlq,
		RetryAttempts:   jsii.Number(2),
		LogGroup:        logs,
	}
	if len(layers) > 0 {
		props.Layers = &layers
	}
	if spec.reserved {
		props.ReservedConcurrentExecutions = jsii.Number(1)
	}
	s.Functions[name] = awslambda.NewFunction(s.Stack, jsii.String(id), props)
	s.DLQs[name] = dlq
}

func (s *Switchback) arn(service, resource, name string) string {
	return *s.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String(service), Resource: jsii.String(resource), ResourceName: jsii.String(name),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

func stmt(sid string, actions, resources []string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...),
	})
}

// grants gives each function what it calls, scoped to the configured ARNs.
func (s *Switchback) grants(cfg Config, replicationSecretARN string, key awskms.IKey) {
	var clusterARNs, pgARNs, secretARNs, adminSecretARNs []string
	for _, c := range cfg.Clusters {
		// The cluster, and what it becomes: <id>-old1 after a switchover,
		// <id>-green-… while green, <id>-rolledback1 after a rename.
		clusterARNs = append(clusterARNs, s.arn("rds", "cluster", c.ID), s.arn("rds", "cluster", c.ID+"-*"))
		for _, g := range c.ParameterGroups {
			pgARNs = append(pgARNs, s.arn("rds", "cluster-pg", g))
		}
		secretARNs = append(secretARNs, c.AdminSecretARN)
		adminSecretARNs = append(adminSecretARNs, c.AdminSecretARN)
	}
	sort.Strings(pgARNs)
	secretARNs = append(secretARNs, replicationSecretARN)
	deploymentARN := s.arn("rds", "deployment", "bgd-*")

	// RDS reads that cannot be scoped to a resource (DescribeBlueGreenDeployments
	// and DescribeEvents list account-wide; DescribeDBClusters/Instances are
	// called with ARNs from the deployment).
	describe := stmt("RdsDescribe", []string{
		"rds:DescribeBlueGreenDeployments", "rds:DescribeDBClusters", "rds:DescribeDBInstances", "rds:DescribeEvents",
	}, []string{"*"})
	params := stmt("RdsReadParameterGroups", []string{"rds:DescribeDBClusterParameters", "rds:DescribeDBClusterParameterGroups"}, pgARNs)
	fence := stmt("RdsFenceParameterGroups", []string{"rds:ModifyDBClusterParameterGroup"}, pgARNs)
	secrets := stmt("ReadClusterSecrets", []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, secretARNs)

	for name, fn := range s.Functions {
		if name == Verify {
			// The record read, history lines appended (a PutItem each):
			// it never updates or deletes an item.
			s.Table.GrantReadData(fn)
			fn.AddToRolePolicy(stmt("AppendHistory", []string{"dynamodb:PutItem"}, []string{*s.Table.TableArn()}))
		} else {
			s.Table.GrantReadWriteData(fn)
		}
		s.Topic.GrantPublish(fn)
		key.Grant(fn, jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey*"))
		fn.AddToRolePolicy(describe)
		switch name {
		case Capture, Reconcile:
			s.Functions[Configure].GrantInvoke(fn)
		case Configure:
			fn.AddToRolePolicy(params)
			fn.AddToRolePolicy(fence)
			fn.AddToRolePolicy(secrets)
			fn.AddToRolePolicy(stmt("RdsDeleteBlueGreen", []string{"rds:DeleteBlueGreenDeployment"}, []string{deploymentARN}))
		case Monitor, Preflight:
			fn.AddToRolePolicy(params)
			fn.AddToRolePolicy(secrets)
		case Teardown:
			fn.AddToRolePolicy(params)
			fn.AddToRolePolicy(fence)
			fn.AddToRolePolicy(secrets)
		case Rollback:
			fn.AddToRolePolicy(params)
			fn.AddToRolePolicy(fence)
			fn.AddToRolePolicy(secrets)
			if cfg.Repoint.Rename {
				fn.AddToRolePolicy(stmt("RdsRenameClusters", []string{"rds:ModifyDBCluster"}, clusterARNs))
			}
			if len(cfg.Repoint.Route53ZoneIDs) > 0 {
				var zones []string
				for _, z := range cfg.Repoint.Route53ZoneIDs {
					zones = append(zones, "arn:"+*s.Partition()+":route53:::hostedzone/"+z)
				}
				fn.AddToRolePolicy(stmt("Route53Repoint", []string{"route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"}, zones))
				fn.AddToRolePolicy(stmt("Route53WaitForChange", []string{"route53:GetChange"}, []string{"arn:" + *s.Partition() + ":route53:::change/*"}))
			}
			if len(cfg.Repoint.AppSecretARNs) > 0 {
				fn.AddToRolePolicy(stmt("AppSecretRepoint", []string{
					"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:PutSecretValue",
				}, cfg.Repoint.AppSecretARNs))
			}
		case Verify:
			// It logs in to both clusters as their admin (never as the
			// replication user) and changes nothing through AWS.
			fn.AddToRolePolicy(stmt("ReadAdminSecrets", []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, adminSecretARNs))
			// A run that runs out of time continues in another invocation
			// of the function, queued by the function itself (through the
			// alias or version it was invoked by). The ARN is built from the
			// fixed name: the function's own ARN attribute would make its
			// role's policy depend on the function, which depends on the
			// policy.
			self := "switchback-" + Verify
			fn.AddToRolePolicy(stmt("InvokeItselfToContinueVerify", []string{"lambda:InvokeFunction"},
				[]string{s.arn("lambda", "function", self), s.arn("lambda", "function", self+":*")}))
		}
	}
}

// Patterns are the EventBridge patterns of the event rules: exactly what
// capture and preflight act on.
func Patterns() map[string]*awsevents.EventPattern {
	bg := "RDS Blue Green Deployment Event"
	return map[string]*awsevents.EventPattern{
		RuleSwitchoverCompleted: {
			Source: jsii.Strings("aws.rds"), DetailType: jsii.Strings(bg),
			Detail: &map[string]any{"EventID": []string{"RDS-EVENT-0248"}},
		},
		// RDS-EVENT-0260 is listed among the blue/green events; samples also
		// show it as a cluster event: both, for this EventID only.
		RuleClusterSwitchoverCompleted: {
			Source: jsii.Strings("aws.rds"), DetailType: jsii.Strings(bg, "RDS DB Cluster Event"),
			Detail: &map[string]any{"EventID": []string{"RDS-EVENT-0260"}},
		},
		// No documented EventID: matched by the message's prefix, as a
		// cluster or an instance event.
		RuleBinlogCoordinates: {
			Source: jsii.Strings("aws.rds"), DetailType: jsii.Strings("RDS DB Cluster Event", "RDS DB Instance Event"),
			Detail: &map[string]any{"Message": []any{map[string]any{"prefix": CoordinatesPrefix}}},
		},
		RuleDeploymentCreated: {
			Source: jsii.Strings("aws.rds"), DetailType: jsii.Strings(bg),
			Detail: &map[string]any{"EventID": []string{"RDS-EVENT-0244"}},
		},
	}
}

// RuleTargets says which function each rule invokes.
var RuleTargets = map[string]string{
	RuleSwitchoverCompleted:        Capture,
	RuleClusterSwitchoverCompleted: Capture,
	RuleBinlogCoordinates:          Capture,
	RuleDeploymentCreated:          Preflight,
	RuleMonitorSchedule:            Monitor,
	RuleReconcileSchedule:          Reconcile,
	RuleTeardownSchedule:           Teardown,
}

func (s *Switchback) target(fn string, input awsevents.RuleTargetInput) awsevents.IRuleTarget {
	return awseventstargets.NewLambdaFunction(s.Functions[fn], &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: s.DLQs[fn],
		RetryAttempts:   jsii.Number(8),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(2)),
		Event:           input,
	})
}

func (s *Switchback) rules() {
	descriptions := map[string]string{
		RuleSwitchoverCompleted:        "switchback: blue/green switchover completed (RDS-EVENT-0248) to capture",
		RuleClusterSwitchoverCompleted: "switchback: cluster switchover completed (RDS-EVENT-0260) to capture",
		RuleBinlogCoordinates:          "switchback: green's binlog coordinates after switchover (cluster or instance event) to capture",
		RuleDeploymentCreated:          "switchback: blue/green deployment tasks completed (RDS-EVENT-0244) to preflight",
	}
	for name, pattern := range Patterns() {
		s.Rules[name] = awsevents.NewRule(s.Stack, jsii.String(name), &awsevents.RuleProps{
			Description:  jsii.String(descriptions[name]),
			EventPattern: pattern,
			Targets:      &[]awsevents.IRuleTarget{s.target(RuleTargets[name], nil)},
		})
	}
	schedules := []struct {
		name    string
		minutes float64
		input   awsevents.RuleTargetInput
		desc    string
	}{
		{RuleMonitorSchedule, 1, nil, "switchback: monitor every minute"},
		{RuleReconcileSchedule, 5, nil, "switchback: reconcile every 5 minutes"},
		{RuleTeardownSchedule, 60, awsevents.RuleTargetInput_FromObject(map[string]any{"due": true}), "switchback: teardown of pairs whose rollback window ended, hourly"},
	}
	for _, sc := range schedules {
		s.Rules[sc.name] = awsevents.NewRule(s.Stack, jsii.String(sc.name), &awsevents.RuleProps{
			Description: jsii.String(sc.desc),
			Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(sc.minutes))),
			Targets:     &[]awsevents.IRuleTarget{s.target(RuleTargets[sc.name], sc.input)},
		})
	}
}

// insightsAlarm is an alarm on a CloudWatch Metrics Insights query that
// aggregates a metric over every deployment (alarms cannot use SEARCH).
func (s *Switchback) insightsAlarm(id, desc, query, op string, threshold float64, periods int, missing string) {
	awscloudwatch.NewCfnAlarm(s.Stack, jsii.String(id), &awscloudwatch.CfnAlarmProps{
		AlarmDescription:   jsii.String(desc),
		ComparisonOperator: jsii.String(op),
		Threshold:          jsii.Number(threshold),
		EvaluationPeriods:  jsii.Number(periods),
		DatapointsToAlarm:  jsii.Number(periods),
		TreatMissingData:   jsii.String(missing),
		AlarmActions:       jsii.Strings(*s.Topic.TopicArn()),
		OkActions:          jsii.Strings(*s.Topic.TopicArn()),
		Metrics: &[]any{&awscloudwatch.CfnAlarm_MetricDataQueryProperty{
			Id: jsii.String("q"), Expression: jsii.String(query), Period: jsii.Number(60), ReturnData: jsii.Bool(true),
			Label: jsii.String(id),
		}},
	})
}

func (s *Switchback) page(a awscloudwatch.Alarm) {
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(s.Topic))
	a.AddOkAction(awscloudwatchactions.NewSnsAction(s.Topic))
}

func metric(name, deployment, stat string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(MetricsNamespace), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{DeploymentDimension: jsii.String(deployment)},
		Statistic:     jsii.String(stat), Period: awscdk.Duration_Minutes(jsii.Number(1)),
	})
}

func insights(stat, name string) string {
	return fmt.Sprintf(`SELECT %s(%s) FROM SCHEMA("%s", %s)`, stat, name, MetricsNamespace, DeploymentDimension)
}

func (s *Switchback) alarms(cfg Config) {
	lag, headroom := float64(cfg.MaxLagSeconds), float64(cfg.MinHeadroomHours)
	// Every deployment, without a redeploy per switchover: Metrics Insights
	// aggregates over the Deployment dimension. With no configured pair
	// there is no data, which is fine; a dead monitor is caught by
	// MonitorNotRunning, and by the per-deployment alarms below.
	s.insightsAlarm("RollbackNotReady", "switchback: a deployment's rollback has not been ready (RollbackReady < 1) for 3 consecutive minutes",
		insights("MIN", "RollbackReady"), "LessThanThreshold", 1, 3, "notBreaching")
	s.insightsAlarm("ReplicaLagHigh", fmt.Sprintf("switchback: a rollback replica lags more than %d s (ReplicaLagSeconds) for 3 consecutive minutes", cfg.MaxLagSeconds),
		insights("MAX", "ReplicaLagSeconds"), "GreaterThanThreshold", lag, 3, "notBreaching")
	s.insightsAlarm("BinlogHeadroomLow", fmt.Sprintf("switchback: production's binlog retention headroom is under %d h for a rollback pair (BinlogRetentionHeadroomHours)", cfg.MinHeadroomHours),
		insights("MIN", "BinlogRetentionHeadroomHours"), "LessThanThreshold", headroom, 3, "notBreaching")
	s.insightsAlarm("NeedsAttention", "switchback: a deployment is in needs-attention (NeedsAttention metric): see the on-call message and `switchback history`",
		insights("MAX", "NeedsAttention"), "GreaterThanOrEqualToThreshold", 1, 1, "notBreaching")

	// A dead monitor pages: no invocation for 3 minutes, missing data breaching.
	mon := s.Functions[Monitor].MetricInvocations(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(1))})
	s.page(mon.CreateAlarm(s.Stack, jsii.String("MonitorNotRunning"), &awscloudwatch.CreateAlarmOptions{
		AlarmDescription:   jsii.String("switchback: the monitor function has not run for 3 minutes: readiness is unknown"),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(3),
		DatapointsToAlarm:  jsii.Number(3),
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	}))

	// Deployments named in context: missing monitor data is breaching.
	for _, d := range cfg.AlarmDeployments {
		s.page(metric("RollbackReady", d, "Minimum").CreateAlarm(s.Stack, jsii.String("RollbackNotReady-"+d), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String("switchback: rollback of " + d + " not ready (or not observed) for 3 consecutive minutes"),
			Threshold:          jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(3), DatapointsToAlarm: jsii.Number(3),
			TreatMissingData: awscloudwatch.TreatMissingData_BREACHING,
		}))
		s.page(metric("ReplicaLagSeconds", d, "Maximum").CreateAlarm(s.Stack, jsii.String("ReplicaLagHigh-"+d), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String("switchback: replica lag of " + d + " above threshold (or not observed)"),
			Threshold:          jsii.Number(lag),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(3), DatapointsToAlarm: jsii.Number(3),
			TreatMissingData: awscloudwatch.TreatMissingData_BREACHING,
		}))
		s.page(metric("BinlogRetentionHeadroomHours", d, "Minimum").CreateAlarm(s.Stack, jsii.String("BinlogHeadroomLow-"+d), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String("switchback: binlog retention headroom of " + d + " below threshold (or not observed)"),
			Threshold:          jsii.Number(headroom),
			ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(3), DatapointsToAlarm: jsii.Number(3),
			TreatMissingData: awscloudwatch.TreatMissingData_BREACHING,
		}))
	}

	for _, name := range FunctionNames {
		id := strings.ToUpper(name[:1]) + name[1:]
		s.page(s.Functions[name].MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}).
			CreateAlarm(s.Stack, jsii.String(id+"Errors"), &awscloudwatch.CreateAlarmOptions{
				AlarmDescription:   jsii.String("switchback: the " + name + " function failed"),
				Threshold:          jsii.Number(1),
				ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
				EvaluationPeriods:  jsii.Number(1),
				TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			}))
		s.page(s.DLQs[name].MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}).
			CreateAlarm(s.Stack, jsii.String(id+"DlqNotEmpty"), &awscloudwatch.CreateAlarmOptions{
				AlarmDescription:   jsii.String("switchback: the " + name + " function's dead-letter queue holds events it could not process"),
				Threshold:          jsii.Number(1),
				ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
				EvaluationPeriods:  jsii.Number(1),
				TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			}))
	}
}

func search(name, stat, label string) awscloudwatch.IMetric {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(fmt.Sprintf(`SEARCH('{%s,%s} MetricName="%s"', '%s', 60)`, MetricsNamespace, DeploymentDimension, name, stat)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{},
		Label:        jsii.String(label),
		Period:       awscdk.Duration_Minutes(jsii.Number(1)),
	})
}

func (s *Switchback) dashboard() {
	d := awscloudwatch.NewDashboard(s.Stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{DashboardName: jsii.String("switchback")})
	graph := func(title string, left []awscloudwatch.IMetric) awscloudwatch.GraphWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &left, Width: jsii.Number(12), Height: jsii.Number(6)})
	}
	var errs, durs []awscloudwatch.IMetric
	for _, name := range FunctionNames {
		fn := s.Functions[name]
		errs = append(errs, fn.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Label: jsii.String(name)}))
		durs = append(durs, fn.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Label: jsii.String(name)}))
	}
	d.AddWidgets(
		graph("Replica lag and probe lag (s)", []awscloudwatch.IMetric{search("ReplicaLagSeconds", "Maximum", "lag"), search("ProbeLagSeconds", "Maximum", "probe")}),
		graph("Rollback ready (1) / replication running (1)", []awscloudwatch.IMetric{search("RollbackReady", "Minimum", "ready"), search("ReplicationRunning", "Minimum", "running")}),
	)
	d.AddWidgets(
		graph("Binlog retention headroom (h)", []awscloudwatch.IMetric{search("BinlogRetentionHeadroomHours", "Minimum", "headroom")}),
		graph("Bytes behind / needs attention", []awscloudwatch.IMetric{search("BytesBehind", "Maximum", "bytes"), search("NeedsAttention", "Maximum", "needs-attention")}),
	)
	d.AddWidgets(graph("Function errors", errs), graph("Function duration p99 (ms)", durs))
}

// suppressions: each cdk-nag finding accepted, with why.
func (s *Switchback) suppressions() {
	cdknag.NagSuppressions_AddStackSuppressions(s.Stack, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-IAM4"), Reason: jsii.String("AWSLambdaBasicExecutionRole and AWSLambdaVPCAccessExecutionRole are the AWS-maintained minimum for a function's logs and its VPC network interfaces.")},
		{Id: jsii.String("AwsSolutions-IAM5"), Reason: jsii.String("Wildcards only where the resource is not known at deploy time or not scopable: RDS Describe* (account-wide lists), blue/green deployment ids (deployment:bgd-*, created by RDS), the clusters' renamed forms (<id>-*), the table's indexes, KMS GenerateDataKey*, Route 53 change ids, the verify function's own versions and aliases (function:switchback-verify:*, which it invokes to continue a verify run).")},
	}, jsii.Bool(true))
}

// stageCABundle copies the RDS CA bundle into a layer directory as
// rds/global-bundle.pem (extracted under /opt), under the build directory.
func stageCABundle(buildDir, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(data), "BEGIN CERTIFICATE") {
		return "", fmt.Errorf("%s holds no PEM certificate", path)
	}
	dir := filepath.Join(buildDir, "layers", "rds-ca")
	if err := os.MkdirAll(filepath.Join(dir, "rds"), 0o755); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "rds", "global-bundle.pem"), data, 0o644)
}
