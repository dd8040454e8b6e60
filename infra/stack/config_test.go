package stack_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchback/switchback/infra/stack"
)

func TestParseConfigMalformed(t *testing.T) {
	base, err := readmeContext()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stack.ParseConfig(func(k string) any { return base[k] }); err != nil {
		t.Fatalf("README example: %v", err)
	}
	cases := []struct {
		key   string
		value any // nil deletes the key
		want  string
	}{
		{stack.CtxVPCID, nil, "required"},
		{stack.CtxVPCID, "vpc-xyz", "is not a VPC id"},
		{stack.CtxSubnetIDs, []any{}, "required"},
		{stack.CtxSubnetIDs, "subnet-0a1b2c3d,sn-1", `"sn-1" is not a subnet id`},
		{stack.CtxSubnetIDs, 42.0, "want a list"},
		{stack.CtxSecurityGroupID, "sg-1", "is not a security group id"},
		{stack.CtxAvailabilityZones, []any{"east"}, "is not an availability zone"},
		{stack.CtxClusters, nil, "required"},
		{stack.CtxClusters, `{"Orders_Prod":{"adminSecretArn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf","parameterGroups":["pg"]}}`, "is not a DB cluster identifier"},
		{stack.CtxClusters, map[string]any{"orders-prod": map[string]any{"adminSecretArn": "nope", "parameterGroups": []any{"pg"}}}, "adminSecretArn"},
		{stack.CtxClusters, map[string]any{"orders-prod": map[string]any{"adminSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"}}, "parameterGroups is required"},
		{stack.CtxClusters, map[string]any{"orders-prod": map[string]any{"adminSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf", "parameterGroups": []any{"default.aurora-mysql8.0"}}}, "not a custom DB cluster parameter group"},
		{stack.CtxClusters, map[string]any{"orders-prod": map[string]any{"adminSecret": "x"}}, "unknown field"},
		{stack.CtxOptInTag, "novalue", "is not key=value"},
		{stack.CtxReplicationSecretARN, "arn:aws:sns:us-east-1:123456789012:x", "is not a Secrets Manager secret ARN"},
		{stack.CtxRollbackWindowHours, 5000.0, "out of range"},
		{stack.CtxRollbackWindowHours, "a week", "not a whole number"},
		{stack.CtxRetentionHours, 0.0, "out of range"},
		{stack.CtxMaxLagSeconds, 1.5, "not a whole number"},
		{stack.CtxMinHeadroomHours, -1.0, "out of range"},
		{stack.CtxDeleteBlueGreen, "maybe", "not a boolean"},
		{stack.CtxTLS, "strict", "not a TLS mode"},
		{stack.CtxTLS, "verify", stack.CtxRDSCABundle},
		{stack.CtxOnCallEmails, []any{"not-an-email"}, "is not an email address"},
		{stack.CtxOnCallHTTPS, []any{"http://insecure.example.com/x"}, "is not an https:// URL"},
		{stack.CtxRepoint, map[string]any{"route53ZoneIds": []any{"zone1"}}, "is not a hosted zone id"},
		{stack.CtxRepoint, `{"appSecretArns":["x"]}`, "is not a Secrets Manager secret ARN"},
		{stack.CtxAlarmDeployments, []any{"bgd-short"}, "is not a blue/green deployment id"},
		{stack.CtxLogRetentionDays, 10.0, "is not a CloudWatch Logs retention"},
	}
	for _, c := range cases {
		t.Run(c.key+"/"+c.want, func(t *testing.T) {
			ctx := clone(base)
			if c.value == nil {
				delete(ctx, c.key)
			} else {
				ctx[c.key] = c.value
			}
			_, err := stack.ParseConfig(func(k string) any { return ctx[k] })
			var ce *stack.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err %v, want a *ConfigError", err)
			}
			name := c.key
			if c.want == stack.CtxRDSCABundle {
				name = stack.CtxRDSCABundle
			}
			p, ok := ce.Problem(name)
			if !ok || !strings.Contains(p, c.want) {
				t.Fatalf("problems %q: want one naming %s with %q", ce.Problems, name, c.want)
			}
		})
	}
	// No on-call endpoint at all.
	ctx := clone(base)
	delete(ctx, stack.CtxOnCallEmails)
	delete(ctx, stack.CtxOnCallHTTPS)
	_, err = stack.ParseConfig(func(k string) any { return ctx[k] })
	if err == nil || !strings.Contains(err.Error(), stack.CtxOnCallEmails+": required") {
		t.Fatalf("no on-call endpoint: %v", err)
	}
	// Strings from `cdk synth -c key=value` are parsed too.
	ctx = clone(base)
	ctx[stack.CtxSubnetIDs] = "subnet-0a1b2c3d4e5f60718, subnet-0f1e2d3c4b5a69788"
	ctx[stack.CtxMaxLagSeconds] = "10"
	ctx[stack.CtxDeleteBlueGreen] = "false"
	cfg, err := stack.ParseConfig(func(k string) any { return ctx[k] })
	if err != nil || len(cfg.SubnetIDs) != 2 || cfg.MaxLagSeconds != 10 || cfg.DeleteBlueGreen {
		t.Fatalf("string context: %+v, %v", cfg, err)
	}
}
