package awsfake

// secretsmanager.go: AWS Secrets Manager, awsJson1_1 protocol.

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretsManager is a fake AWS Secrets Manager endpoint speaking the
// awsJson1_1 protocol: POST / with Content-Type application/x-amz-json-1.1
// and X-Amz-Target secretsmanager.<Operation>, a JSON body, JSON answers,
// and errors as {"__type":"<Code>","Message":"…"} with status 400.
//
// It models two operations strictly. GetSecretValue takes SecretId
// (required), VersionId and VersionStage (AWSCURRENT or AWSPREVIOUS).
// PutSecretValue (SecretId, ClientRequestToken, SecretString or
// SecretBinary) stores a new version as Secrets Manager does: the new one
// becomes AWSCURRENT, the one that was AWSCURRENT becomes AWSPREVIOUS (and
// the former AWSPREVIOUS loses its label), a ClientRequestToken that names
// an existing version with the same value changes nothing, and one with
// another value is 400 ResourceExistsException. Any other target is
// 400 UnknownOperationException, a body that is not a JSON object of
// the operation's modeled fields is 400 SerializationException or
// InvalidParameterException, and a request
// without a SigV4 Authorization header scoped to secretsmanager is 400
// MissingAuthenticationTokenException. Such rejections carry a message
// starting "awsfake:" and, on a fake started with StartSecretsManager, also
// fail the test: a request the fake does not understand is a bug in the
// code under test.
//
// Secrets are found by ARN or by name. Unknown secrets are 400
// ResourceNotFoundException, denied ones (Deny) 400 AccessDeniedException,
// as Secrets Manager answers. Every request is recorded (Calls), including
// the ones answered with an injected fault (FailNext).
type SecretsManager struct {
	mu       sync.Mutex
	secrets  []smSecret
	denied   map[string]bool // by ARN
	faults   []smFaultRule
	calls    []SecretsManagerCall
	requests int
	server   *httptest.Server
	t        testing.TB // set by StartSecretsManager: rejections fail it
}

// SecretsManagerCall is one request the fake received.
type SecretsManagerCall struct {
	// Target is the X-Amz-Target header ("secretsmanager.GetSecretValue").
	Target string
	// SecretID, VersionID and VersionStage are the request's fields.
	SecretID     string
	VersionID    string
	VersionStage string
	// ClientRequestToken and SecretString are PutSecretValue's.
	ClientRequestToken string
	SecretString       string
	// Status is the HTTP status answered; Code the error code answered, ""
	// on success.
	Status int
	Code   string
}

// SecretsManagerFault is an error the fake answers with.
type SecretsManagerFault struct {
	Status  int    // HTTP status (Secrets Manager answers 400 for client errors)
	Code    string // __type, e.g. "ThrottlingException"
	Message string
}

// SecretsManagerThrottled is the fault Secrets Manager answers when a caller
// exceeds its request rate (the SDK retries it).
func SecretsManagerThrottled() SecretsManagerFault {
	return SecretsManagerFault{Status: http.StatusBadRequest, Code: "ThrottlingException", Message: "Rate exceeded"}
}

// SecretsManagerAccessDenied is the fault Secrets Manager answers when IAM
// does not allow GetSecretValue on secretARN.
func SecretsManagerAccessDenied(secretARN string) SecretsManagerFault {
	return SecretsManagerFault{Status: http.StatusBadRequest, Code: "AccessDeniedException",
		Message: "User: arn:aws:sts::123456789012:assumed-role/switchback/test is not authorized to perform: secretsmanager:GetSecretValue on resource: " +
			secretARN + " because no identity-based policy allows the secretsmanager:GetSecretValue action"}
}

type smSecret struct {
	arn, name string
	value     string // SecretString
	binary    []byte // SecretBinary, when value is ""
	versionID string
	created   time.Time
	// older are the versions PutSecretValue superseded, newest first; the
	// first is AWSPREVIOUS.
	older []smVersion
}

// smVersion is one superseded version of a secret.
type smVersion struct {
	id      string
	value   string
	binary  []byte
	created time.Time
}

type smFaultRule struct {
	secret string // an ARN or name as sent; "" matches every request
	left   int
	fault  SecretsManagerFault
}

// NewSecretsManager returns a fake with no secrets, to mount as an
// http.Handler. StartSecretsManager also starts a server for it.
func NewSecretsManager() *SecretsManager {
	return &SecretsManager{denied: map[string]bool{}}
}

// StartSecretsManager starts a fake Secrets Manager endpoint on a local
// port, closed when t ends. Requests the fake rejects as malformed fail t.
func StartSecretsManager(t testing.TB) *SecretsManager {
	t.Helper()
	f := NewSecretsManager()
	f.t = t
	f.server = httptest.NewServer(f)
	t.Cleanup(f.server.Close)
	return f
}

// URL is the endpoint (BaseEndpoint, AWS_ENDPOINT_URL_SECRETS_MANAGER) of
// a started fake.
func (f *SecretsManager) URL() string { return f.server.URL }

// EndpointEnv is the environment variable that points an SDK client (a
// function's bootstrap) at the started fake.
func (f *SecretsManager) EndpointEnv() string {
	return "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + f.URL()
}

// Config is an aws.Config for the started fake: region us-east-1, static
// credentials, BaseEndpoint set to the fake, and the SDK's standard retryer
// (3 attempts, the usual throttling rules) with only the backoff shortened
// to a few milliseconds, so retry tests run fast.
func (f *SecretsManager) Config() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDAWSFAKE", "awsfake-secret", ""),
		BaseEndpoint: aws.String(f.URL()),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
					return 5 * time.Millisecond, nil
				})
			})
		},
	}
}

// Client is a real *secretsmanager.Client pointed at the started fake.
func (f *SecretsManager) Client() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(f.Config())
}

// smSuffix is the "-" and six characters Secrets Manager appends to a
// secret's name in its ARN.
var smSuffix = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

// PutSecret adds (or replaces) a secret whose SecretString is value and
// returns its ARN. id is an ARN (arn:…:secretsmanager:…:secret:name-AbCdEf)
// or a name, for which an ARN is made up.
func (f *SecretsManager) PutSecret(id, value string) string {
	return f.put(id, value, nil)
}

// PutBinarySecret adds (or replaces) a secret that has only a SecretBinary
// and returns its ARN.
func (f *SecretsManager) PutBinarySecret(id string, value []byte) string {
	return f.put(id, "", value)
}

func (f *SecretsManager) put(id, value string, binary []byte) string {
	s := smSecret{value: value, binary: binary, created: time.Unix(1767225600, 0)}
	if rest, ok := strings.CutPrefix(id, "arn:"); ok {
		_, name, found := strings.Cut(rest, ":secret:")
		if !found || name == "" {
			panic("awsfake: PutSecret: not a secret ARN: " + id)
		}
		s.arn, s.name = id, smSuffix.ReplaceAllString(name, "")
	} else {
		sum := sha256.Sum256([]byte(id))
		s.arn = fmt.Sprintf("arn:aws:secretsmanager:us-east-1:123456789012:secret:%s-%x", id, sum[:3])
		s.name = id
	}
	sum := sha256.Sum256([]byte(s.arn + "\x00" + value + "\x00" + string(binary)))
	s.versionID = fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.secrets {
		if f.secrets[i].arn == s.arn {
			f.secrets[i] = s
			return s.arn
		}
	}
	f.secrets = append(f.secrets, s)
	return s.arn
}

// Deny makes every GetSecretValue of the secret (ARN or name) fail with
// AccessDeniedException, as when the caller's role may not read it.
func (f *SecretsManager) Deny(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.find(id); s != nil {
		f.denied[s.arn] = true
		return
	}
	f.denied[id] = true
}

// FailNext makes the next n requests for the secret (its ARN or name as
// the client sends it; "" for any request) fail with fault, before they are
// looked at. Rules queue up in order.
func (f *SecretsManager) FailNext(secretID string, n int, fault SecretsManagerFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, smFaultRule{secret: secretID, left: n, fault: fault})
}

// Calls returns the requests received for the secret (its ID as sent; ""
// for all), in order.
func (f *SecretsManager) Calls(secretID string) []SecretsManagerCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SecretsManagerCall
	for _, c := range f.calls {
		if secretID == "" || c.SecretID == secretID {
			out = append(out, c)
		}
	}
	return out
}

// find returns the secret id names (ARN or name), or nil. f.mu is held.
func (f *SecretsManager) find(id string) *smSecret {
	for i := range f.secrets {
		if s := &f.secrets[i]; s.arn == id || s.name == id {
			return s
		}
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (f *SecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	reqID := fmt.Sprintf("00000000-0000-4000-8001-%012d", f.requests)
	f.mu.Unlock()

	call := SecretsManagerCall{Target: r.Header.Get("X-Amz-Target")}
	status, body, rejected := f.serve(r, &call)
	call.Status = status
	f.mu.Lock()
	f.calls = append(f.calls, call)
	t := f.t
	f.mu.Unlock()
	if rejected != "" && t != nil {
		t.Errorf("awsfake: Secrets Manager rejected a request it does not understand (%s %s, X-Amz-Target %q): %s", r.Method, r.URL, call.Target, rejected)
	}

	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serve answers one request; rejected is set when the request is malformed.
func (f *SecretsManager) serve(r *http.Request, call *SecretsManagerCall) (status int, body []byte, rejected string) {
	fail := func(ft SecretsManagerFault) (int, []byte, string) {
		call.Code = ft.Code
		return ft.Status, smErrorJSON(ft), ""
	}
	reject := func(code, msg string) (int, []byte, string) {
		st, b, _ := fail(SecretsManagerFault{Status: http.StatusBadRequest, Code: code, Message: "awsfake: " + msg})
		return st, b, msg
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return reject("UnknownOperationException", "the awsJson1_1 protocol uses POST /, got "+r.Method+" "+r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		return reject("SerializationException", "Content-Type must be application/x-amz-json-1.1, got "+ct)
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "/secretsmanager/aws4_request") {
		return reject("MissingAuthenticationTokenException", "request is not SigV4-signed for the secretsmanager service")
	}
	if call.Target == "secretsmanager.PutSecretValue" {
		return f.putSecretValue(r, call, fail, reject)
	}
	if call.Target != "secretsmanager.GetSecretValue" {
		return reject("UnknownOperationException", fmt.Sprintf("X-Amz-Target %q is not supported by the fake Secrets Manager (only secretsmanager.GetSecretValue and secretsmanager.PutSecretValue)", call.Target))
	}
	var in struct {
		SecretID     *string `json:"SecretId"`
		VersionID    *string `json:"VersionId"`
		VersionStage *string `json:"VersionStage"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return reject("SerializationException", "GetSecretValue body: "+err.Error())
	}
	if dec.More() {
		return reject("SerializationException", "GetSecretValue body: data after the JSON object")
	}
	if in.SecretID == nil || *in.SecretID == "" {
		return reject("InvalidParameterException", "GetSecretValue: SecretId is required")
	}
	call.SecretID = *in.SecretID
	if in.VersionID != nil {
		call.VersionID = *in.VersionID
	}
	if in.VersionStage != nil {
		call.VersionStage = *in.VersionStage
	}

	f.mu.Lock()
	ft, faulted := f.takeFault(call.SecretID)
	var s smSecret
	found := false
	if p := f.find(call.SecretID); p != nil {
		s, found = *p, true
	}
	denied := f.denied[call.SecretID] || (found && f.denied[s.arn])
	f.mu.Unlock()

	switch {
	case faulted:
		return fail(ft)
	case denied:
		arn := call.SecretID
		if found {
			arn = s.arn
		}
		return fail(SecretsManagerAccessDenied(arn))
	case !found:
		return fail(SecretsManagerFault{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."})
	}
	// The version asked for: AWSCURRENT unless a VersionId or the
	// AWSPREVIOUS stage names an older one.
	stages := []string{"AWSCURRENT"}
	if (call.VersionID != "" && call.VersionID != s.versionID) || call.VersionStage == "AWSPREVIOUS" {
		i := slices.IndexFunc(s.older, func(v smVersion) bool { return v.id == call.VersionID })
		if call.VersionStage == "AWSPREVIOUS" && call.VersionID == "" && len(s.older) > 0 {
			i = 0
		}
		switch {
		case i < 0 && call.VersionID != "":
			return fail(SecretsManagerFault{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: " + call.VersionID})
		case i < 0 || (call.VersionStage == "AWSPREVIOUS" && i != 0):
			return fail(SecretsManagerFault{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + call.VersionStage})
		}
		v := s.older[i]
		s.versionID, s.value, s.binary, s.created, stages = v.id, v.value, v.binary, v.created, nil
		if i == 0 {
			stages = []string{"AWSPREVIOUS"}
		}
	}
	if call.VersionStage != "" && !slices.Contains(stages, call.VersionStage) {
		return fail(SecretsManagerFault{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + call.VersionStage})
	}
	out := map[string]any{
		"ARN":           s.arn,
		"Name":          s.name,
		"VersionId":     s.versionID,
		"VersionStages": stages,
		"CreatedDate":   float64(s.created.UnixMilli()) / 1000,
	}
	if s.binary != nil {
		out["SecretBinary"] = s.binary // encoding/json writes base64, as the protocol does
	} else {
		out["SecretString"] = s.value
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic("awsfake: marshal GetSecretValue: " + err.Error())
	}
	return http.StatusOK, b, ""
}

// takeFault pops the first matching fault. f.mu is held.
func (f *SecretsManager) takeFault(secretID string) (SecretsManagerFault, bool) {
	for i := range f.faults {
		rule := &f.faults[i]
		if rule.left > 0 && (rule.secret == "" || rule.secret == secretID) {
			rule.left--
			return rule.fault, true
		}
	}
	return SecretsManagerFault{}, false
}

func smErrorJSON(ft SecretsManagerFault) []byte {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(map[string]string{"__type": ft.Code, "Message": ft.Message}); err != nil {
		panic("awsfake: marshal error: " + err.Error())
	}
	return bytes.TrimSpace(b.Bytes())
}

// SecretVersion is one version of a secret as the fake holds it.
type SecretVersion struct {
	ID     string
	Value  string   // SecretString
	Stages []string // AWSCURRENT, AWSPREVIOUS, or none
}

// SecretVersions returns a secret's versions (ARN or name), current first,
// then the ones PutSecretValue superseded, newest first; nil when there is
// no such secret.
func (f *SecretsManager) SecretVersions(id string) []SecretVersion {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(id)
	if s == nil {
		return nil
	}
	out := []SecretVersion{{ID: s.versionID, Value: s.value, Stages: []string{"AWSCURRENT"}}}
	for i, v := range s.older {
		sv := SecretVersion{ID: v.id, Value: v.value}
		if i == 0 {
			sv.Stages = []string{"AWSPREVIOUS"}
		}
		out = append(out, sv)
	}
	return out
}

// smTokenRe is ClientRequestToken's shape: 32 to 64 characters.
var smTokenRe = regexp.MustCompile(`^[A-Za-z0-9-]{32,64}$`)

// putSecretValue answers PutSecretValue (see SecretsManager).
func (f *SecretsManager) putSecretValue(r *http.Request, call *SecretsManagerCall,
	fail func(SecretsManagerFault) (int, []byte, string), reject func(code, msg string) (int, []byte, string)) (int, []byte, string) {
	var in struct {
		SecretID           *string   `json:"SecretId"`
		ClientRequestToken *string   `json:"ClientRequestToken"`
		SecretString       *string   `json:"SecretString"`
		SecretBinary       []byte    `json:"SecretBinary"`
		VersionStages      *[]string `json:"VersionStages"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return reject("SerializationException", "PutSecretValue body: "+err.Error())
	}
	if dec.More() {
		return reject("SerializationException", "PutSecretValue body: data after the JSON object")
	}
	switch {
	case in.SecretID == nil || *in.SecretID == "":
		return reject("InvalidParameterException", "PutSecretValue: SecretId is required")
	case in.VersionStages != nil && !slices.Equal(*in.VersionStages, []string{"AWSCURRENT"}):
		return reject("InvalidParameterException", "PutSecretValue: VersionStages other than [AWSCURRENT] are not modeled")
	case in.ClientRequestToken == nil:
		// The SDK fills the idempotency token itself when the caller does not.
		return reject("InvalidParameterException", "PutSecretValue: ClientRequestToken is missing (the SDK sends one)")
	case !smTokenRe.MatchString(*in.ClientRequestToken):
		return fail(SecretsManagerFault{http.StatusBadRequest, "InvalidParameterException", "ClientRequestToken must be 32 to 64 characters long."})
	case (in.SecretString == nil) == (in.SecretBinary == nil):
		return fail(SecretsManagerFault{http.StatusBadRequest, "InvalidRequestException", "You must provide either SecretString or SecretBinary, but not both."})
	}
	call.SecretID, call.ClientRequestToken = *in.SecretID, *in.ClientRequestToken
	if in.SecretString != nil {
		call.SecretString = *in.SecretString
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	ft, faulted := f.takeFault(call.SecretID)
	s := f.find(call.SecretID)
	switch {
	case faulted:
		return fail(ft)
	case f.denied[call.SecretID] || (s != nil && f.denied[s.arn]):
		arn := call.SecretID
		if s != nil {
			arn = s.arn
		}
		return fail(SecretsManagerFault{Status: http.StatusBadRequest, Code: "AccessDeniedException",
			Message: "User: arn:aws:sts::123456789012:assumed-role/switchback/test is not authorized to perform: secretsmanager:PutSecretValue on resource: " +
				arn + " because no identity-based policy allows the secretsmanager:PutSecretValue action"})
	case s == nil:
		return fail(SecretsManagerFault{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."})
	}
	token := *in.ClientRequestToken
	value := ""
	if in.SecretString != nil {
		value = *in.SecretString
	}
	answer := func(id string, stages []string) (int, []byte, string) {
		b, err := json.Marshal(map[string]any{"ARN": s.arn, "Name": s.name, "VersionId": id, "VersionStages": stages})
		if err != nil {
			panic("awsfake: marshal PutSecretValue: " + err.Error())
		}
		return http.StatusOK, b, ""
	}
	// A token naming an existing version: the same value is a retry that
	// changes nothing; another value is refused.
	same := func(v string, b []byte) bool { return v == value && bytes.Equal(b, in.SecretBinary) }
	if token == s.versionID {
		if !same(s.value, s.binary) {
			return fail(SecretsManagerFault{http.StatusBadRequest, "ResourceExistsException", "You can't modify an existing version, you can only create a new version."})
		}
		return answer(s.versionID, []string{"AWSCURRENT"})
	}
	for i, v := range s.older {
		if v.id == token {
			if !same(v.value, v.binary) {
				return fail(SecretsManagerFault{http.StatusBadRequest, "ResourceExistsException", "You can't modify an existing version, you can only create a new version."})
			}
			var stages []string
			if i == 0 {
				stages = []string{"AWSPREVIOUS"}
			}
			return answer(v.id, stages)
		}
	}
	s.older = append([]smVersion{{id: s.versionID, value: s.value, binary: s.binary, created: s.created}}, s.older...)
	s.versionID, s.value, s.binary, s.created = token, value, in.SecretBinary, time.Now()
	return answer(token, []string{"AWSCURRENT"})
}
