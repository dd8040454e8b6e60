// Package awsclients adapts AWS services to the interfaces of
// shared/orchestrate: Secrets Manager to Credentials (Secrets), SNS to
// Notifier (Notifier). Each adapter takes the SDK client through a small
// interface that *secretsmanager.Client and *sns.Client satisfy; the
// functions build the clients once per cold start from the SDK's default
// configuration. The Lambda adapter (Invoker) is shared/awslambda, so that
// only the functions that invoke configure link the Lambda client.
package awsclients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

// AdminSecretTag is the cluster tag whose value is the ARN of the secret
// holding the cluster's admin login, for clusters the configuration does
// not map to a secret.
const AdminSecretTag = "switchback:admin-secret"

// SecretsManagerAPI is the part of *secretsmanager.Client that Secrets uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretsConfig says which secrets hold which logins.
type SecretsConfig struct {
	// AdminSecrets maps a cluster identifier to the ARN of the secret of
	// its admin user (lambdaenv.Config.AdminSecrets).
	AdminSecrets map[string]string
	// ReplicationSecretARN is the secret whose "password" the replication
	// user gets; "" lets configure generate one.
	ReplicationSecretARN string
}

// Secrets implements orchestrate.Credentials over Secrets Manager. A
// secret's SecretString is a JSON object in the RDS convention:
// {"username": …, "password": …} and optionally "host", "port", "engine",
// "dbClusterIdentifier" and other keys, which are ignored.
//
// The secret of a cluster's admin user is, in order: the one
// SecretsConfig.AdminSecrets maps the cluster's identifier to; the one its
// switchback:admin-secret tag names; for a rollback cluster renamed
// "<name>-oldN" by a blue/green switchover, the one AdminSecrets maps
// <name> to (the green cluster was cloned from it, so both share the admin
// user and password).
//
// Each secret is fetched once per process, on first use, and kept: later
// and concurrent callers share that one GetSecretValue. A failed fetch, or
// a secret without the keys a login needs, is not kept; the next caller
// tries again. Errors name the secret and the
// cluster, never the secret's value.
type Secrets struct {
	api SecretsManagerAPI
	cfg SecretsConfig

	mu    sync.Mutex
	cache map[string]*secretEntry // by secret ARN (or name) as configured

	// onWait, when set (tests), is called when a caller starts waiting for
	// another caller's fetch.
	onWait func()
}

// secretEntry is one fetch: done is closed once val or err is set.
type secretEntry struct {
	done chan struct{}
	val  secretValue
	err  error
}

// secretValue is a secret's SecretString, parsed.
type secretValue struct {
	username, password       string
	hasUsername, hasPassword bool
}

var _ orchestrate.Credentials = (*Secrets)(nil)

// NewSecrets returns Secrets reading through api.
func NewSecrets(api SecretsManagerAPI, cfg SecretsConfig) *Secrets {
	return &Secrets{api: api, cfg: cfg, cache: map[string]*secretEntry{}}
}

// oldSuffix is what a blue/green switchover appends to the old (blue)
// cluster's identifier (aws-facts §5: "<name>-old1").
var oldSuffix = regexp.MustCompile(`-old[0-9]+$`)

// AdminSecretARN returns the secret of cluster's admin login and where the
// choice came from, or an error saying how to configure one.
func (s *Secrets) AdminSecretARN(cluster orchestrate.Cluster) (arn, from string, err error) {
	if arn := s.cfg.AdminSecrets[cluster.ID]; arn != "" {
		return arn, lambdaenv.EnvAdminSecrets, nil
	}
	if v, ok := cluster.Tags[AdminSecretTag]; ok {
		if v == "" {
			return "", "", fmt.Errorf("cluster %s: its tag %s is empty: set it to the ARN of the secret of the cluster's admin user", cluster.ID, AdminSecretTag)
		}
		return v, "tag " + AdminSecretTag, nil
	}
	if base := oldSuffix.ReplaceAllString(cluster.ID, ""); base != cluster.ID {
		if arn := s.cfg.AdminSecrets[base]; arn != "" {
			return arn, lambdaenv.EnvAdminSecrets + " (as " + base + ", the cluster it was before the switchover)", nil
		}
	}
	return "", "", fmt.Errorf("no admin secret for cluster %s: map the cluster to the ARN of its admin user's secret in %s (%s=<secret-arn>) or tag the cluster %s=<secret-arn>",
		cluster.ID, lambdaenv.EnvAdminSecrets, cluster.ID, AdminSecretTag)
}

// Admin returns the admin login of cluster from its secret, which must
// have a username and a password.
func (s *Secrets) Admin(ctx context.Context, cluster orchestrate.Cluster) (orchestrate.Login, error) {
	arn, from, err := s.AdminSecretARN(cluster)
	if err != nil {
		return orchestrate.Login{}, err
	}
	v, err := s.get(ctx, arn)
	if err != nil {
		return orchestrate.Login{}, fmt.Errorf("admin login of cluster %s from secret %s (%s): %w", cluster.ID, arn, from, err)
	}
	var missing []string
	if !v.hasUsername || v.username == "" {
		missing = append(missing, `"username"`)
	}
	if !v.hasPassword || v.password == "" {
		missing = append(missing, `"password"`)
	}
	if len(missing) > 0 {
		s.forget(arn) // the secret may be fixed: read it again next time
		return orchestrate.Login{}, fmt.Errorf("admin login of cluster %s from secret %s (%s): the secret's JSON has no %s", cluster.ID, arn, from, joinAnd(missing))
	}
	return orchestrate.Login{User: v.username, Password: v.password}, nil
}

// ReplicationPassword returns the "password" of the configured replication
// secret, or "" when none is configured (configure then generates one).
func (s *Secrets) ReplicationPassword(ctx context.Context, production orchestrate.Cluster) (string, error) {
	arn := s.cfg.ReplicationSecretARN
	if arn == "" {
		return "", nil
	}
	v, err := s.get(ctx, arn)
	if err != nil {
		return "", fmt.Errorf("replication password for cluster %s from secret %s (%s): %w", production.ID, arn, lambdaenv.EnvReplicationSecretARN, err)
	}
	if !v.hasPassword || v.password == "" {
		s.forget(arn)
		return "", fmt.Errorf("replication password for cluster %s from secret %s (%s): the secret's JSON has no \"password\"", production.ID, arn, lambdaenv.EnvReplicationSecretARN)
	}
	return v.password, nil
}

// get returns the parsed secret, fetching it on first use. Concurrent
// callers for the same secret wait for one fetch; a failed fetch is
// forgotten so the next caller tries again.
func (s *Secrets) get(ctx context.Context, arn string) (secretValue, error) {
	s.mu.Lock()
	e, ok := s.cache[arn]
	if !ok {
		e = &secretEntry{done: make(chan struct{}), err: errors.New("the fetch of the secret did not finish")}
		s.cache[arn] = e
		s.mu.Unlock()
		defer close(e.done)
		e.val, e.err = s.fetch(ctx, arn)
		if e.err != nil {
			s.mu.Lock()
			delete(s.cache, arn)
			s.mu.Unlock()
		}
		return e.val, e.err
	}
	s.mu.Unlock()
	if s.onWait != nil {
		s.onWait()
	}
	select {
	case <-e.done:
		return e.val, e.err
	case <-ctx.Done():
		return secretValue{}, ctx.Err()
	}
}

// forget drops a fetched secret that turned out unusable.
func (s *Secrets) forget(arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cache[arn]; ok {
		select {
		case <-e.done:
			delete(s.cache, arn)
		default: // a fetch in flight: leave it
		}
	}
}

func (s *Secrets) fetch(ctx context.Context, arn string) (secretValue, error) {
	out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return secretValue{}, fmt.Errorf("GetSecretValue: %w", err)
	}
	if out.SecretString == nil {
		return secretValue{}, errors.New("the secret has no SecretString (a binary secret): store the login as JSON text with \"username\" and \"password\"")
	}
	return parseSecret(*out.SecretString)
}

// parseSecret reads a secret's JSON. Its errors never quote the secret:
// encoding/json's syntax errors name the offending character, which may be
// part of a password.
func parseSecret(text string) (secretValue, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return secretValue{}, fmt.Errorf("the secret is not a JSON object with \"username\" and \"password\" (invalid JSON at byte %d)", syn.Offset)
		}
		return secretValue{}, errors.New("the secret is not a JSON object with \"username\" and \"password\"")
	}
	var v secretValue
	var err error
	if v.username, v.hasUsername, err = stringField(raw, "username"); err != nil {
		return secretValue{}, err
	}
	if v.password, v.hasPassword, err = stringField(raw, "password"); err != nil {
		return secretValue{}, err
	}
	return v, nil
}

func stringField(raw map[string]json.RawMessage, key string) (string, bool, error) {
	m, ok := raw[key]
	if !ok || string(m) == "null" {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(m, &s); err != nil {
		return "", false, fmt.Errorf("the secret's %q is not a JSON string", key)
	}
	return s, true, nil
}

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	out := items[0]
	for _, it := range items[1 : len(items)-1] {
		out += ", " + it
	}
	return out + " nor " + items[len(items)-1]
}
