package awsfake_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/switchback/switchback/shared/awsfake"
)

// TestEndpointEnv: the variables EndpointEnv returns point clients built
// from the SDK's default configuration at the fakes, as a function's
// bootstrap builds them.
func TestEndpointEnv(t *testing.T) {
	sm, topic, fn := awsfake.StartSecretsManager(t), awsfake.StartSNS(t), awsfake.StartLambda(t)
	arn := sm.PutSecret("s", `{}`)
	topic.AddTopic(wireTopic)
	fn.AddFunction("configure")

	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{
		sm.EndpointEnv(), topic.EndpointEnv(), fn.EndpointEnv(),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_CONFIG_FILE=" + empty, "AWS_SHARED_CREDENTIALS_FILE=" + empty, "AWS_PROFILE=",
	} {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}); err != nil {
		t.Errorf("Secrets Manager: %v", err)
	}
	if _, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(wireTopic), Message: aws.String("m")}); err != nil {
		t.Errorf("SNS: %v", err)
	}
	if _, err := lambda.NewFromConfig(cfg).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("configure"), InvocationType: types.InvocationTypeEvent}); err != nil {
		t.Errorf("Lambda: %v", err)
	}
	if len(sm.Calls("")) != 1 || len(topic.Published("")) != 1 || len(fn.Calls("")) != 1 {
		t.Error("a request did not reach its fake")
	}
}
