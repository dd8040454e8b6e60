package lambdaenv

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testTable  = "switchback-state"
	testTopic  = "arn:aws:sns:eu-west-1:123456789012:switchback-attention"
	testSecret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-admin-AbCdEf"
	testRepl   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:switchback/replication-XyZ123"
)

// env returns a getenv over the minimal valid environment plus vars (an
// empty value removes a variable).
func env(vars map[string]string) func(string) string {
	m := map[string]string{EnvTable: testTable, EnvTopicARN: testTopic}
	for k, v := range vars {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func defaults() Config {
	return Config{
		Table:              testTable,
		TopicARN:           testTopic,
		OptInTagKey:        "switchback:enabled",
		OptInTagValue:      "true",
		AdminSecrets:       map[string]string{},
		TLS:                TLSVerify,
		TLSCABundle:        DefaultTLSCABundle,
		DeleteBlueGreen:    true,
		RetentionHours:     168,
		Lease:              900 * time.Second,
		Stall:              15 * time.Minute,
		MaxLag:             5 * time.Second,
		MinHeadroom:        24 * time.Hour,
		MonitorConcurrency: 4,
		MonitorPairTimeout: 20 * time.Second,
		RollbackWindow:     168 * time.Hour,
	}
}

func TestLoadValid(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "global-bundle.pem")
	if err := os.WriteFile(bundle, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		vars  map[string]string
		needs Needs
		want  func(*Config)
	}{
		{name: "defaults", want: func(*Config) {}},
		{
			// The default bundle path does not exist here: a function
			// that never connects does not need it.
			name:  "verify without database needs no bundle",
			needs: Needs{ConfigureFunction: true},
			vars:  map[string]string{EnvConfigureFunction: "switchback-configure"},
			want:  func(c *Config) { c.ConfigureFunction = "switchback-configure" },
		},
		{
			name:  "database with an existing bundle",
			needs: Needs{Database: true},
			vars:  map[string]string{EnvTLSCABundle: bundle},
			want:  func(c *Config) { c.TLSCABundle = bundle },
		},
		{
			// skip-verify and off never read the bundle.
			name:  "database with skip-verify needs no bundle",
			needs: Needs{Database: true},
			vars:  map[string]string{EnvTLS: "skip-verify"},
			want:  func(c *Config) { c.TLS = TLSSkipVerify },
		},
		{
			name: "everything set",
			vars: map[string]string{
				EnvConfigureFunction:    "arn:aws:lambda:eu-west-1:123456789012:function:switchback-configure:live",
				EnvOptInClusters:        " orders , Billing,,orders ",
				EnvOptInTag:             "team=db",
				EnvAdminSecrets:         "orders=" + testSecret + ", orders-old1=" + testSecret,
				EnvReplicationSecretARN: testRepl,
				EnvTLS:                  "off",
				EnvTLSCABundle:          "/var/task/ca.pem",
				EnvDeleteBlueGreen:      "false",
				EnvRetentionHours:       "2160",
				EnvLeaseSeconds:         "60",
				EnvStallMinutes:         "1",
				EnvMaxLagSeconds:        "0",
			},
			want: func(c *Config) {
				c.ConfigureFunction = "arn:aws:lambda:eu-west-1:123456789012:function:switchback-configure:live"
				c.OptInClusters = []string{"orders", "billing"}
				c.OptInTagKey, c.OptInTagValue = "team", "db"
				c.AdminSecrets = map[string]string{"orders": testSecret, "orders-old1": testSecret}
				c.ReplicationSecretARN = testRepl
				c.TLS = TLSOff
				c.TLSCABundle = "/var/task/ca.pem"
				c.DeleteBlueGreen = false
				c.RetentionHours = 2160
				c.Lease = time.Minute
				c.Stall = time.Minute
				c.MaxLag = 0
			},
		},
		{
			name: "tag opt-in off",
			vars: map[string]string{EnvOptInTag: "none", EnvOptInClusters: "orders"},
			want: func(c *Config) {
				c.OptInTagKey, c.OptInTagValue = "", ""
				c.OptInClusters = []string{"orders"}
			},
		},
		{
			name: "table ARN, partial function ARN, other partition",
			vars: map[string]string{
				EnvTable:             "arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/switchback",
				EnvTopicARN:          "arn:aws-cn:sns:cn-north-1:123456789012:attention",
				EnvConfigureFunction: "123456789012:function:configure",
			},
			want: func(c *Config) {
				c.Table = "arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/switchback"
				c.TopicARN = "arn:aws-cn:sns:cn-north-1:123456789012:attention"
				c.ConfigureFunction = "123456789012:function:configure"
			},
		},
		{
			name: "booleans as ParseBool reads them",
			vars: map[string]string{EnvDeleteBlueGreen: "0"},
			want: func(c *Config) { c.DeleteBlueGreen = false },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(env(tt.vars), tt.needs)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		needs Needs
		// want lists, in order, each problem's variable and a fragment of
		// its reason.
		want [][2]string
	}{
		{
			name: "required missing",
			vars: map[string]string{EnvTable: "", EnvTopicARN: " "},
			want: [][2]string{{EnvTable, "required"}, {EnvTopicARN, "required"}},
		},
		{
			name:  "configure function required when needed",
			needs: Needs{ConfigureFunction: true},
			want:  [][2]string{{EnvConfigureFunction, "required by this function"}},
		},
		{
			name: "malformed values",
			vars: map[string]string{
				EnvTable:             "ab",
				EnvTopicARN:          "arn:aws:sqs:eu-west-1:123456789012:queue",
				EnvConfigureFunction: "configure function",
			},
			want: [][2]string{
				{EnvTable, `"ab" is not a DynamoDB table name`},
				{EnvTopicARN, "is not an SNS topic ARN"},
				{EnvConfigureFunction, `"configure function" is not a Lambda function name`},
			},
		},
		{
			name: "FIFO topic",
			vars: map[string]string{EnvTopicARN: testTopic + ".fifo"},
			want: [][2]string{{EnvTopicARN, "FIFO"}},
		},
		{
			name: "bad cluster ids",
			vars: map[string]string{EnvOptInClusters: "orders,1st,a--b,ends-"},
			want: [][2]string{
				{EnvOptInClusters, `"1st" is not a DB cluster identifier`},
				{EnvOptInClusters, `"a--b"`},
				{EnvOptInClusters, `"ends-"`},
			},
		},
		{
			name: "opt-in tag forms",
			vars: map[string]string{EnvOptInTag: "switchback:enabled"},
			want: [][2]string{{EnvOptInTag, "is not key=value"}},
		},
		{
			name: "opt-in tag empty key",
			vars: map[string]string{EnvOptInTag: "=true"},
			want: [][2]string{{EnvOptInTag, "empty tag key"}},
		},
		{
			name: "admin secrets",
			vars: map[string]string{EnvAdminSecrets: "orders," + "Bad_Id=" + testSecret + ",billing=arn:aws:s3:::bucket,orders=" + testSecret + ",orders=" + testRepl},
			want: [][2]string{
				{EnvAdminSecrets, `"orders" is not cluster=secret-arn`},
				{EnvAdminSecrets, `"Bad_Id" is not a DB cluster identifier`},
				{EnvAdminSecrets, "cluster billing: \"arn:aws:s3:::bucket\" is not a Secrets Manager secret ARN"},
				{EnvAdminSecrets, "cluster orders is listed twice"},
			},
		},
		{
			name: "replication secret",
			vars: map[string]string{EnvReplicationSecretARN: "switchback/replication"},
			want: [][2]string{{EnvReplicationSecretARN, "is not a Secrets Manager secret ARN"}},
		},
		{
			name: "TLS mode",
			vars: map[string]string{EnvTLS: "on"},
			want: [][2]string{{EnvTLS, `"on" is not a TLS mode: want verify (the default), skip-verify or off`}},
		},
		{
			name:  "missing CA bundle when verifying a database connection",
			needs: Needs{Database: true},
			vars:  map[string]string{EnvTLSCABundle: "/nonexistent/global-bundle.pem"},
			want:  [][2]string{{EnvTLSCABundle, "/nonexistent/global-bundle.pem does not exist: SWITCHBACK_TLS=verify needs the RDS CA bundle"}},
		},
		{
			name:  "CA bundle is a directory",
			needs: Needs{Database: true},
			vars:  map[string]string{EnvTLSCABundle: os.TempDir()},
			want:  [][2]string{{EnvTLSCABundle, "is not a regular file"}},
		},
		{
			name: "numbers",
			vars: map[string]string{
				EnvDeleteBlueGreen: "yes",
				EnvRetentionHours:  "2161",
				EnvLeaseSeconds:    "59",
				EnvStallMinutes:    "15m",
				EnvMaxLagSeconds:   "-1",
			},
			want: [][2]string{
				{EnvDeleteBlueGreen, `"yes" is not a boolean`},
				{EnvRetentionHours, "2161 is out of range: want 1 to 2160"},
				{EnvLeaseSeconds, "59 is out of range: want 60 to 86400"},
				{EnvStallMinutes, `"15m" is not a whole number`},
				{EnvMaxLagSeconds, "-1 is out of range: want 0 to 3600"},
			},
		},
		{
			name: "retention zero",
			vars: map[string]string{EnvRetentionHours: "0"},
			want: [][2]string{{EnvRetentionHours, "0 is out of range: want 1 to 2160"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(env(tt.vars), tt.needs)
			var lerr *Error
			if !errors.As(err, &lerr) {
				t.Fatalf("Load = %+v, %v; want an *Error", got, err)
			}
			if !reflect.DeepEqual(got, Config{}) {
				t.Errorf("Load returned a non-zero Config with its error: %+v", got)
			}
			if len(lerr.Problems) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lerr.Problems), len(tt.want), err)
			}
			for i, w := range tt.want {
				p := lerr.Problems[i]
				if p.Variable != w[0] || !strings.Contains(p.Reason, w[1]) {
					t.Errorf("problem %d = %q; want variable %s with reason containing %q", i, p, w[0], w[1])
				}
				if !strings.Contains(err.Error(), p.String()) {
					t.Errorf("Error() = %q does not contain problem %q", err, p)
				}
			}
		})
	}
}

// TestLoadCollectsAllProblems: one bad environment, every variable reported
// in one error, in the order of the Env* constants.
func TestLoadCollectsAllProblems(t *testing.T) {
	bad := map[string]string{
		EnvTable:                "",
		EnvTopicARN:             "topic",
		EnvConfigureFunction:    "",
		EnvOptInClusters:        "-x",
		EnvOptInTag:             "novalue",
		EnvAdminSecrets:         "a=b",
		EnvReplicationSecretARN: "x",
		EnvTLS:                  "maybe",
		EnvDeleteBlueGreen:      "perhaps",
		EnvRetentionHours:       "x",
		EnvLeaseSeconds:         "x",
		EnvStallMinutes:         "0",
		EnvMaxLagSeconds:        "3601",
	}
	_, err := Load(func(k string) string { return bad[k] }, Needs{ConfigureFunction: true, Database: true})
	var lerr *Error
	if !errors.As(err, &lerr) {
		t.Fatalf("Load error = %v; want an *Error", err)
	}
	want := []string{
		EnvTable, EnvTopicARN, EnvConfigureFunction, EnvOptInClusters, EnvOptInTag,
		EnvAdminSecrets, EnvReplicationSecretARN, EnvTLS, EnvDeleteBlueGreen,
		EnvRetentionHours, EnvLeaseSeconds, EnvStallMinutes, EnvMaxLagSeconds,
	}
	if got := lerr.Variables(); !slices.Equal(got, want) {
		t.Errorf("problems name\n%v\nwant\n%v\n(error: %v)", got, want, err)
	}
}

func TestOptedIn(t *testing.T) {
	listedAndTag := defaults()
	listedAndTag.OptInClusters = []string{"orders"}
	tagOnly := defaults()
	listOnly := defaults()
	listOnly.OptInClusters = []string{"orders"}
	listOnly.OptInTagKey, listOnly.OptInTagValue = "", ""
	nothing := listOnly
	nothing.OptInClusters = nil

	enabled := map[string]string{"switchback:enabled": "true", "team": "db"}
	tests := []struct {
		name    string
		c       Config
		cluster string
		tags    map[string]string
		want    bool
		reason  string
	}{
		{"listed", listedAndTag, "orders", nil, true, "cluster orders is listed in SWITCHBACK_OPT_IN_CLUSTERS"},
		{"listed, any case", listedAndTag, "Orders", nil, true, "cluster Orders is listed in SWITCHBACK_OPT_IN_CLUSTERS"},
		{"tagged", listedAndTag, "billing", enabled, true, "cluster billing is tagged switchback:enabled=true"},
		{"tagged with an empty list", tagOnly, "billing", enabled, true, "cluster billing is tagged switchback:enabled=true"},
		{
			"neither", listedAndTag, "billing", map[string]string{"team": "db"}, false,
			"cluster billing is not listed in SWITCHBACK_OPT_IN_CLUSTERS and has no tag switchback:enabled=true",
		},
		{
			// Tag values are compared exactly: the reason shows the mismatch.
			"tag with another value", tagOnly, "billing", map[string]string{"switchback:enabled": "True"}, false,
			`cluster billing is not listed (SWITCHBACK_OPT_IN_CLUSTERS is empty) and its tag switchback:enabled is "True", not "true"`,
		},
		{
			// Tag keys are case-sensitive in AWS.
			"tag key in another case", tagOnly, "billing", map[string]string{"Switchback:Enabled": "true"}, false,
			"cluster billing is not listed (SWITCHBACK_OPT_IN_CLUSTERS is empty) and has no tag switchback:enabled=true",
		},
		{
			"tag opt-in off ignores the tag", listOnly, "billing", enabled, false,
			"cluster billing is not listed in SWITCHBACK_OPT_IN_CLUSTERS (tag opt-in is off: SWITCHBACK_OPT_IN_TAG=none)",
		},
		{
			"nothing opts in", nothing, "billing", enabled, false,
			"cluster billing is not opted in: SWITCHBACK_OPT_IN_CLUSTERS is empty and tag opt-in is off (SWITCHBACK_OPT_IN_TAG=none)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := tt.c.OptedIn(tt.cluster, tt.tags)
			if got != tt.want || reason != tt.reason {
				t.Errorf("OptedIn(%q, %v) = %v, %q; want %v, %q", tt.cluster, tt.tags, got, reason, tt.want, tt.reason)
			}
		})
	}
}
