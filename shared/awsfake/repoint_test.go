package awsfake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/switchback/switchback/shared/awsfake"
)

// PutSecretValue: a new version becomes AWSCURRENT, the old one
// AWSPREVIOUS; a retry with the same token changes nothing; the same token
// with another value is ResourceExistsException.
func TestSecretsManagerPutSecretValue(t *testing.T) {
	f := awsfake.StartSecretsManager(t)
	arn := f.PutSecret("orders/app", `{"host":"a","port":3306}`)
	c := f.Client()
	ctx := context.Background()
	token := "11111111-2222-4333-8444-555555555555"
	put := func(value, token string) (*secretsmanager.PutSecretValueOutput, error) {
		in := &secretsmanager.PutSecretValueInput{SecretId: aws.String("orders/app"), SecretString: aws.String(value)}
		if token != "" {
			in.ClientRequestToken = aws.String(token)
		}
		return c.PutSecretValue(ctx, in)
	}
	out, err := put(`{"host":"b","port":3306}`, token)
	if err != nil || aws.ToString(out.VersionId) != token || aws.ToString(out.ARN) != arn || len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSCURRENT" {
		t.Fatalf("PutSecretValue = %+v, %v", out, err)
	}
	if _, err := put(`{"host":"b","port":3306}`, token); err != nil {
		t.Fatalf("retry with the same token and value: %v", err)
	}
	if _, err := put(`{"host":"c"}`, token); wireCode(err) != "ResourceExistsException" {
		t.Fatalf("same token, other value: %v", err)
	}
	versions := f.SecretVersions(arn)
	if len(versions) != 2 || versions[0].Value != `{"host":"b","port":3306}` || versions[1].Value != `{"host":"a","port":3306}` || versions[1].Stages[0] != "AWSPREVIOUS" {
		t.Fatalf("versions = %+v", versions)
	}
	prev, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != `{"host":"a","port":3306}` || prev.VersionStages[0] != "AWSPREVIOUS" {
		t.Fatalf("AWSPREVIOUS = %+v, %v", prev, err)
	}
	// The SDK fills a token when the caller gives none.
	if out, err := put(`{"host":"d"}`, ""); err != nil || len(aws.ToString(out.VersionId)) < 32 {
		t.Fatalf("SDK token: %+v, %v", out, err)
	}
	if v := f.SecretVersions(arn); len(v) != 3 || v[1].ID != token || len(v[2].Stages) != 0 {
		t.Fatalf("after a third version: %+v", v)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("nope"), SecretString: aws.String("x")}); wireCode(err) != "ResourceNotFoundException" {
		t.Fatalf("unknown secret: %v", err)
	}
	f.Deny(arn)
	if _, err := put(`{}`, ""); wireCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "PutSecretValue") {
		t.Fatalf("denied: %v", err)
	}
}

// ModifyDBCluster renames a cluster (its ARN and endpoint follow), after
// RenameDelay during which it is "renaming"; names in use and clusters that
// are not available are refused as RDS refuses them.
func TestRDSRenameCluster(t *testing.T) {
	f := awsfake.StartRDS(t)
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { return now }
	f.RenameDelay = time.Minute
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod", Endpoint: "orders-prod.cluster-abc.us-east-1.rds.amazonaws.com", Port: 3306})
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod-old1", Endpoint: "orders-prod-old1.cluster-abc.us-east-1.rds.amazonaws.com", Port: 3306})
	c := f.Client()
	ctx := context.Background()
	rename := func(from, to string) error {
		_, err := c.ModifyDBCluster(ctx, &rds.ModifyDBClusterInput{DBClusterIdentifier: aws.String(from), NewDBClusterIdentifier: aws.String(to), ApplyImmediately: aws.Bool(true)})
		return err
	}
	if err := rename("orders-prod", "orders-prod-old1"); wireCode(err) != "DBClusterAlreadyExistsFault" {
		t.Fatalf("rename onto an existing name: %v", err)
	}
	if err := rename("orders-prod", "orders-prod-rolledback1"); err != nil {
		t.Fatal(err)
	}
	if cl, ok := f.Cluster("orders-prod"); !ok || cl.Status != "renaming" {
		t.Fatalf("during the rename: %+v %v", cl, ok)
	}
	if err := rename("orders-prod", "x"); wireCode(err) != "InvalidDBClusterStateFault" {
		t.Fatalf("rename while renaming: %v", err)
	}
	var nf *rdstypes.DBClusterNotFoundFault
	if _, err := c.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("orders-prod-rolledback1")}); !errors.As(err, &nf) {
		t.Fatalf("new name visible before the rename is done: %v", err)
	}
	now = now.Add(time.Minute)
	out, err := c.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("orders-prod-rolledback1")})
	if err != nil {
		t.Fatal(err)
	}
	cl := out.DBClusters[0]
	if aws.ToString(cl.Status) != "available" || aws.ToString(cl.Endpoint) != "orders-prod-rolledback1.cluster-abc.us-east-1.rds.amazonaws.com" ||
		aws.ToString(cl.DBClusterArn) != "arn:aws:rds:us-east-1:123456789012:cluster:orders-prod-rolledback1" {
		t.Fatalf("renamed cluster = %+v", cl)
	}
	if err := rename("orders-prod-old1", "Orders-Prod"); err != nil {
		t.Fatalf("the freed name: %v", err)
	}
	if err := rename("orders-prod-x", "y"); !errors.As(err, &nf) {
		t.Fatalf("unknown cluster: %v", err)
	}
	if err := rename("orders-prod-rolledback1", "bad--name"); wireCode(err) != "InvalidParameterValue" {
		t.Fatalf("invalid identifier: %v", err)
	}
}

// A rename without ApplyImmediately (the maintenance window) is not
// modeled: it fails the test that started the fake.
func TestRDSRenameNeedsApplyImmediately(t *testing.T) {
	spy := &wireSpy{TB: t}
	f := awsfake.StartRDS(spy)
	f.AddCluster(awsfake.RDSCluster{ID: "a"})
	_, err := f.Client().ModifyDBCluster(context.Background(), &rds.ModifyDBClusterInput{DBClusterIdentifier: aws.String("a"), NewDBClusterIdentifier: aws.String("b")})
	if err == nil || len(spy.errors()) != 1 {
		t.Fatalf("err %v, test failures %q", err, spy.errors())
	}
}
