package awsclients

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/orchestrate"
)

const (
	ordersARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-admin-AbCdEf"
	tagARN    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tagged-admin-GhIjKl"
	replARN   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:switchback/replication-MnOpQr"
	// The secret values the tests look for in every error message.
	ordersPassword = "s3cr3t-Orders!pw"
	tagPassword    = "t4gged-Secret#pw"
	replPassword   = "r3pl-Password$pw"
)

// An RDS-managed-style secret: extra keys (engine, host, port as a number,
// dbClusterIdentifier) are accepted and ignored.
const ordersSecret = `{"username":"admin","password":"` + ordersPassword + `","engine":"mysql","host":"orders.cluster-abc.us-east-1.rds.amazonaws.com","port":3306,"dbClusterIdentifier":"orders"}`

func newSecretsFake(t *testing.T) *awsfake.SecretsManager {
	f := awsfake.StartSecretsManager(t)
	f.PutSecret(ordersARN, ordersSecret)
	f.PutSecret(tagARN, `{"username":"tagadmin","password":"`+tagPassword+`","port":"3306"}`)
	f.PutSecret(replARN, `{"password":"`+replPassword+`"}`)
	return f
}

// assertNoSecret fails when err's text holds any secret value.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, v := range []string{ordersPassword, tagPassword, replPassword, "hunter2", "pa55"} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error reveals a secret value %q: %v", v, err)
		}
	}
}

func TestSecretsAdminSources(t *testing.T) {
	cfg := SecretsConfig{AdminSecrets: map[string]string{"orders": ordersARN}}
	tests := []struct {
		name    string
		cluster orchestrate.Cluster
		want    orchestrate.Login
		secret  string // the secret fetched
	}{
		{"configured", orchestrate.Cluster{ID: "orders"}, orchestrate.Login{User: "admin", Password: ordersPassword}, ordersARN},
		{
			// Configuration wins over the tag.
			"configured and tagged", orchestrate.Cluster{ID: "orders", Tags: map[string]string{AdminSecretTag: tagARN}},
			orchestrate.Login{User: "admin", Password: ordersPassword}, ordersARN,
		},
		{"tagged", orchestrate.Cluster{ID: "billing", Tags: map[string]string{AdminSecretTag: tagARN}}, orchestrate.Login{User: "tagadmin", Password: tagPassword}, tagARN},
		{
			// The old blue cluster's own tag comes before the name it had.
			"old cluster tagged", orchestrate.Cluster{ID: "orders-old1", Tags: map[string]string{AdminSecretTag: tagARN}},
			orchestrate.Login{User: "tagadmin", Password: tagPassword}, tagARN,
		},
		{
			// After a switchover the old blue is "<name>-oldN" and shares
			// <name>'s admin login.
			"old cluster by its former name", orchestrate.Cluster{ID: "orders-old12"},
			orchestrate.Login{User: "admin", Password: ordersPassword}, ordersARN,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSecretsFake(t)
			s := NewSecrets(f.Client(), cfg)
			got, err := s.Admin(context.Background(), tt.cluster)
			if err != nil {
				t.Fatalf("Admin(%s): %v", tt.cluster.ID, err)
			}
			if got != tt.want {
				t.Errorf("Admin(%s) = %+v, want %+v", tt.cluster.ID, got, tt.want)
			}
			calls := f.Calls("")
			if len(calls) != 1 || calls[0].SecretID != tt.secret || calls[0].Target != "secretsmanager.GetSecretValue" {
				t.Errorf("calls = %+v, want one GetSecretValue of %s", calls, tt.secret)
			}
		})
	}
}

func TestSecretsAdminNotConfigured(t *testing.T) {
	f := newSecretsFake(t)
	s := NewSecrets(f.Client(), SecretsConfig{AdminSecrets: map[string]string{"orders": ordersARN}})
	tests := []struct {
		name    string
		cluster orchestrate.Cluster
		want    []string
	}{
		{
			"neither", orchestrate.Cluster{ID: "billing", Tags: map[string]string{"team": "db"}},
			[]string{"no admin secret for cluster billing", "SWITCHBACK_ADMIN_SECRETS (billing=<secret-arn>)", "tag the cluster switchback:admin-secret=<secret-arn>"},
		},
		{
			"empty tag", orchestrate.Cluster{ID: "billing", Tags: map[string]string{AdminSecretTag: ""}},
			[]string{"cluster billing", "tag switchback:admin-secret is empty"},
		},
		{
			// Only -oldN is the blue/green rename.
			"not an old cluster", orchestrate.Cluster{ID: "orders-archive"},
			[]string{"no admin secret for cluster orders-archive"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Admin(context.Background(), tt.cluster)
			if err == nil {
				t.Fatal("Admin succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if n := len(f.Calls("")); n != 0 {
		t.Errorf("%d GetSecretValue calls, want none", n)
	}
}

// TestSecretsCache: a cold start fetches each secret once, whoever asks.
func TestSecretsCache(t *testing.T) {
	f := newSecretsFake(t)
	s := NewSecrets(f.Client(), SecretsConfig{
		AdminSecrets:         map[string]string{"orders": ordersARN, "orders-old1": ordersARN},
		ReplicationSecretARN: replARN,
	})
	ctx := context.Background()
	for range 3 {
		for _, id := range []string{"orders", "orders-old1", "orders-old2"} {
			if _, err := s.Admin(ctx, orchestrate.Cluster{ID: id}); err != nil {
				t.Fatalf("Admin(%s): %v", id, err)
			}
		}
		pw, err := s.ReplicationPassword(ctx, orchestrate.Cluster{ID: "orders"})
		if err != nil || pw != replPassword {
			t.Fatalf("ReplicationPassword = %q, %v; want the secret's password", pw, err)
		}
	}
	if n := len(f.Calls(ordersARN)); n != 1 {
		t.Errorf("%d GetSecretValue calls for the admin secret, want 1", n)
	}
	if n := len(f.Calls(replARN)); n != 1 {
		t.Errorf("%d GetSecretValue calls for the replication secret, want 1", n)
	}
}

// gatedSecrets blocks GetSecretValue until release is closed.
type gatedSecrets struct {
	api     SecretsManagerAPI
	entered chan struct{}
	release chan struct{}
}

func (g *gatedSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.api.GetSecretValue(ctx, in, opts...)
}

// TestSecretsConcurrentCallersFetchOnce: callers that arrive while the first
// fetch is in flight wait for it instead of fetching again.
func TestSecretsConcurrentCallersFetchOnce(t *testing.T) {
	f := newSecretsFake(t)
	gate := &gatedSecrets{api: f.Client(), entered: make(chan struct{}, 16), release: make(chan struct{})}
	s := NewSecrets(gate, SecretsConfig{AdminSecrets: map[string]string{"orders": ordersARN}})
	const callers = 10
	waiting := make(chan struct{}, callers)
	s.onWait = func() { waiting <- struct{}{} }

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			login, err := s.Admin(context.Background(), orchestrate.Cluster{ID: "orders"})
			if err == nil && login.Password != ordersPassword {
				err = errors.New("wrong login " + login.User)
			}
			errs <- err
		})
	}
	<-gate.entered // one fetch is in flight …
	for range callers - 1 {
		<-waiting // … and every other caller waits for it
	}
	close(gate.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Admin: %v", err)
		}
	}
	if n := len(f.Calls("")); n != 1 {
		t.Errorf("%d GetSecretValue calls, want 1", n)
	}
}

// TestSecretsWaiterContext: a waiting caller whose context ends stops
// waiting; the fetch goes on for the others.
func TestSecretsWaiterContext(t *testing.T) {
	f := newSecretsFake(t)
	gate := &gatedSecrets{api: f.Client(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	s := NewSecrets(gate, SecretsConfig{AdminSecrets: map[string]string{"orders": ordersARN}})
	waiting := make(chan struct{}, 1)
	s.onWait = func() { waiting <- struct{}{} }
	first := make(chan error, 1)
	go func() {
		_, err := s.Admin(context.Background(), orchestrate.Cluster{ID: "orders"})
		first <- err
	}()
	<-gate.entered
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := s.Admin(ctx, orchestrate.Cluster{ID: "orders"})
		second <- err
	}()
	<-waiting
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v, want context.Canceled", err)
	}
	close(gate.release)
	if err := <-first; err != nil {
		t.Errorf("first caller: %v", err)
	}
}

func TestSecretsErrors(t *testing.T) {
	cluster := orchestrate.Cluster{ID: "orders"}
	tests := []struct {
		name  string
		setup func(f *awsfake.SecretsManager)
		// calls is how many requests reach the fake (the SDK retries
		// throttling, not the others).
		calls int
		code  string   // the API error code, if any
		want  []string // in the error text
	}{
		{
			name:  "not found",
			setup: func(f *awsfake.SecretsManager) {},
			calls: 1, code: "ResourceNotFoundException",
			want: []string{"cluster orders", ordersARN, "ResourceNotFoundException"},
		},
		{
			name:  "access denied",
			setup: func(f *awsfake.SecretsManager) { f.PutSecret(ordersARN, ordersSecret); f.Deny(ordersARN) },
			calls: 1, code: "AccessDeniedException",
			want: []string{"cluster orders", ordersARN, "AccessDeniedException", "secretsmanager:GetSecretValue"},
		},
		{
			name: "throttled on every attempt",
			setup: func(f *awsfake.SecretsManager) {
				f.PutSecret(ordersARN, ordersSecret)
				f.FailNext(ordersARN, 5, awsfake.SecretsManagerThrottled())
			},
			calls: 3, code: "ThrottlingException",
			want: []string{"cluster orders", ordersARN, "ThrottlingException"},
		},
		{
			name:  "not JSON",
			setup: func(f *awsfake.SecretsManager) { f.PutSecret(ordersARN, "hunter2") },
			calls: 1,
			want:  []string{"cluster orders", ordersARN, "not a JSON object", "invalid JSON at byte 1"},
		},
		{
			name:  "JSON but not an object",
			setup: func(f *awsfake.SecretsManager) { f.PutSecret(ordersARN, `["admin","hunter2"]`) },
			calls: 1,
			want:  []string{ordersARN, "not a JSON object"},
		},
		{
			name:  "no username",
			setup: func(f *awsfake.SecretsManager) { f.PutSecret(ordersARN, `{"user":"admin","password":"hunter2"}`) },
			calls: 1,
			want:  []string{ordersARN, `has no "username"`},
		},
		{
			name:  "neither username nor password",
			setup: func(f *awsfake.SecretsManager) { f.PutSecret(ordersARN, `{"password":null}`) },
			calls: 1,
			want:  []string{ordersARN, `has no "username" nor "password"`},
		},
		{
			name:  "password not a string",
			setup: func(f *awsfake.SecretsManager) { f.PutSecret(ordersARN, `{"username":"admin","password":["pa55"]}`) },
			calls: 1,
			want:  []string{ordersARN, `"password" is not a JSON string`},
		},
		{
			name: "binary secret",
			setup: func(f *awsfake.SecretsManager) {
				f.PutBinarySecret(ordersARN, []byte(`{"username":"admin","password":"pa55"}`))
			},
			calls: 1,
			want:  []string{ordersARN, "no SecretString"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := awsfake.StartSecretsManager(t)
			tt.setup(f)
			s := NewSecrets(f.Client(), SecretsConfig{AdminSecrets: map[string]string{"orders": ordersARN}})
			_, err := s.Admin(context.Background(), cluster)
			if err == nil {
				t.Fatal("Admin succeeded, want an error")
			}
			assertNoSecret(t, err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.code != "" {
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
					t.Errorf("error %v: want an API error %s", err, tt.code)
				}
			}
			if n := len(f.Calls("")); n != tt.calls {
				t.Errorf("%d GetSecretValue calls, want %d", n, tt.calls)
			}
			// A failure is not cached: the next caller asks again.
			before := len(f.Calls(""))
			_, _ = s.Admin(context.Background(), cluster)
			if after := len(f.Calls("")); after == before {
				t.Errorf("a second Admin after a failure did not fetch again")
			}
		})
	}
}

// TestSecretsThrottledThenSuccess: the SDK retries throttling; the value
// is then cached.
func TestSecretsThrottledThenSuccess(t *testing.T) {
	f := newSecretsFake(t)
	f.FailNext(ordersARN, 2, awsfake.SecretsManagerThrottled())
	s := NewSecrets(f.Client(), SecretsConfig{AdminSecrets: map[string]string{"orders": ordersARN}})
	for range 2 {
		login, err := s.Admin(context.Background(), orchestrate.Cluster{ID: "orders"})
		if err != nil {
			t.Fatalf("Admin: %v", err)
		}
		if login.User != "admin" || login.Password != ordersPassword {
			t.Fatalf("Admin = %+v", login)
		}
	}
	calls := f.Calls(ordersARN)
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3 (two throttled, one answered, then cached)", len(calls))
	}
	for i, want := range []string{"ThrottlingException", "ThrottlingException", ""} {
		if calls[i].Code != want {
			t.Errorf("call %d answered %q, want %q", i, calls[i].Code, want)
		}
	}
}

func TestReplicationPassword(t *testing.T) {
	prod := orchestrate.Cluster{ID: "orders"}
	t.Run("not configured", func(t *testing.T) {
		f := newSecretsFake(t)
		pw, err := NewSecrets(f.Client(), SecretsConfig{}).ReplicationPassword(context.Background(), prod)
		if pw != "" || err != nil {
			t.Errorf("ReplicationPassword = %q, %v; want \"\", nil", pw, err)
		}
		if n := len(f.Calls("")); n != 0 {
			t.Errorf("%d calls, want none", n)
		}
	})
	t.Run("configured", func(t *testing.T) {
		f := newSecretsFake(t)
		pw, err := NewSecrets(f.Client(), SecretsConfig{ReplicationSecretARN: replARN}).ReplicationPassword(context.Background(), prod)
		if pw != replPassword || err != nil {
			t.Errorf("ReplicationPassword = %q, %v; want the secret's password", pw, err)
		}
	})
	t.Run("no password", func(t *testing.T) {
		f := newSecretsFake(t)
		f.PutSecret(replARN, `{"username":"repl"}`)
		_, err := NewSecrets(f.Client(), SecretsConfig{ReplicationSecretARN: replARN}).ReplicationPassword(context.Background(), prod)
		if err == nil || !strings.Contains(err.Error(), replARN) || !strings.Contains(err.Error(), "cluster orders") || !strings.Contains(err.Error(), `no "password"`) {
			t.Errorf("ReplicationPassword error = %v; want one naming the secret, the cluster and the missing password", err)
		}
	})
	t.Run("denied", func(t *testing.T) {
		f := newSecretsFake(t)
		f.Deny(replARN)
		_, err := NewSecrets(f.Client(), SecretsConfig{ReplicationSecretARN: replARN}).ReplicationPassword(context.Background(), prod)
		assertNoSecret(t, err)
		if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "SWITCHBACK_REPLICATION_SECRET_ARN") {
			t.Errorf("ReplicationPassword error = %v; want AccessDeniedException naming the variable", err)
		}
	})
}

func TestParseSecretNeverQuotesTheValue(t *testing.T) {
	for _, text := range []string{
		"hunter2", `{"username":"admin","password":"hunter2"`, `{"username":"admin","password":hunter2}`,
		`{"username":1,"password":"hunter2"}`, `"hunter2"`, "",
	} {
		_, err := parseSecret(text)
		if err == nil {
			t.Errorf("parseSecret(%q) succeeded", text)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "'h'") {
			t.Errorf("parseSecret(%q) error quotes the secret: %v", text, err)
		}
	}
}
