package repoint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/switchback/switchback/shared/orchestrate"
)

// SecretsAPI is the part of *secretsmanager.Client Secrets uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// Secrets implements orchestrate.SecretEndpoints over Secrets Manager. A
// secret is a JSON object in the RDS convention ("host", "port",
// "username", "password", …); PointAt rewrites "host" and "port" and keeps
// every other key, its value and the keys' order.
type Secrets struct {
	api SecretsAPI
}

var _ orchestrate.SecretEndpoints = (*Secrets)(nil)

// NewSecrets returns the adapter over api (secretsmanager.NewFromConfig(cfg)).
func NewSecrets(api SecretsAPI) *Secrets { return &Secrets{api: api} }

// secretDoc is a secret's JSON object with its keys in order.
type secretDoc struct {
	keys   []string
	values map[string]json.RawMessage
}

// parseSecretDoc reads a JSON object, keeping the order of its keys. Its
// errors never quote the secret.
func parseSecretDoc(text string) (*secretDoc, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, errors.New("the secret is not a JSON object")
	}
	doc := &secretDoc{values: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return nil, errors.New("the secret is not a valid JSON object")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("the secret's %q is not valid JSON", key)
		}
		if _, dup := doc.values[key]; !dup {
			doc.keys = append(doc.keys, key)
		}
		doc.values[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("the secret is not a valid JSON object")
	}
	if dec.More() {
		return nil, errors.New("the secret has data after its JSON object")
	}
	return doc, nil
}

func (d *secretDoc) set(key string, raw json.RawMessage) {
	if _, ok := d.values[key]; !ok {
		d.keys = append(d.keys, key)
	}
	d.values[key] = raw
}

func (d *secretDoc) String() string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range d.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(d.values[k])
	}
	b.WriteByte('}')
	return b.String()
}

// endpoint reads "host" (a string) and "port" (a number or a numeric
// string; 0 when absent).
func (d *secretDoc) endpoint() (host string, port int, portIsString bool, err error) {
	raw, ok := d.values["host"]
	if !ok {
		return "", 0, false, errors.New(`the secret has no "host": is it the secret the application reads its endpoint from?`)
	}
	if err := json.Unmarshal(raw, &host); err != nil {
		return "", 0, false, errors.New(`the secret's "host" is not a JSON string`)
	}
	raw, ok = d.values["port"]
	if !ok || string(raw) == "null" {
		return host, 0, false, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", 0, false, errors.New(`the secret's "port" is not valid JSON`)
	}
	switch x := v.(type) {
	case json.Number:
		n = x
	case string:
		n, portIsString = json.Number(x), true
	default:
		return "", 0, false, errors.New(`the secret's "port" is neither a number nor a numeric string`)
	}
	p, err := strconv.Atoi(n.String())
	if err != nil {
		return "", 0, false, errors.New(`the secret's "port" is not an integer`)
	}
	return host, p, portIsString, nil
}

// current reads the secret's AWSCURRENT version.
func (s *Secrets) current(ctx context.Context, secretID string) (*secretDoc, string, error) {
	out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return nil, "", fmt.Errorf("secret %s: GetSecretValue: %w", secretID, err)
	}
	if out.SecretString == nil {
		return nil, "", fmt.Errorf("secret %s has no SecretString (a binary secret): switchback rewrites JSON text only", secretID)
	}
	doc, err := parseSecretDoc(*out.SecretString)
	if err != nil {
		return nil, "", fmt.Errorf("secret %s: %w", secretID, err)
	}
	return doc, aws.ToString(out.VersionId), nil
}

// Endpoint implements orchestrate.SecretEndpoints.
func (s *Secrets) Endpoint(ctx context.Context, secretID string) (string, int, error) {
	doc, _, err := s.current(ctx, secretID)
	if err != nil {
		return "", 0, err
	}
	host, port, _, err := doc.endpoint()
	if err != nil {
		return "", 0, fmt.Errorf("secret %s: %w", secretID, err)
	}
	return host, port, nil
}

// PointAt implements orchestrate.SecretEndpoints: GetSecretValue, then,
// unless it already points there, PutSecretValue of the same JSON with
// "host" and "port" replaced ("port" keeps its JSON type, and is added when
// absent and port is not 3306). The version's ClientRequestToken is
// derived from the version it replaces and the new value, so a retried put
// is the same version, and the new version is read back as AWSCURRENT.
func (s *Secrets) PointAt(ctx context.Context, secretID, host string, port int) (string, bool, error) {
	doc, base, err := s.current(ctx, secretID)
	if err != nil {
		return "", false, err
	}
	curHost, curPort, portIsString, err := doc.endpoint()
	if err != nil {
		return "", false, fmt.Errorf("secret %s: %w", secretID, err)
	}
	_, hasPort := doc.values["port"]
	if strings.EqualFold(curHost, host) && (curPort == port || (!hasPort && port == 3306)) {
		return base, false, nil
	}
	hb, _ := json.Marshal(host)
	doc.set("host", hb)
	if hasPort || port != 3306 {
		pb := []byte(strconv.Itoa(port))
		if portIsString {
			pb, _ = json.Marshal(strconv.Itoa(port))
		}
		doc.set("port", pb)
	}
	value := doc.String()
	sum := sha256.Sum256([]byte(secretID + "\x00" + base + "\x00" + value))
	token := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	out, err := s.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(secretID), ClientRequestToken: aws.String(token), SecretString: aws.String(value),
	})
	if err != nil {
		return "", false, fmt.Errorf("secret %s: PutSecretValue: %w", secretID, err)
	}
	// A token Secrets Manager already knew moves no label: check the
	// application now reads the new endpoint.
	now, version, err := s.current(ctx, secretID)
	if err != nil {
		return "", false, err
	}
	if h, p, _, err := now.endpoint(); err != nil || !strings.EqualFold(h, host) || (p != port && p != 0) {
		return "", false, fmt.Errorf("secret %s: version %s was written but AWSCURRENT (%s) does not point at %s:%d", secretID, aws.ToString(out.VersionId), version, host, port)
	}
	return aws.ToString(out.VersionId), true, nil
}
