package replication

import (
	"strings"
	"testing"
)

func TestRedactSecrets(t *testing.T) {
	for _, msg := range []string{
		"Error 'Operation ALTER USER failed for 'switchback_repl'@'%'' on query. Default database: ''. Query: 'ALTER USER 'switchback_repl'@'%' IDENTIFIED BY 'Topsecret-1' /* switchback */'",
		"Query: 'CREATE USER IF NOT EXISTS 'u'@'%' IDENTIFIED BY PASSWORD '*TOPSECRET1HASH' /* switchback */'",
		"CREATE USER 'u'@'%' IDENTIFIED WITH 'caching_sha2_password' AS 'Topsecret-1'",
		"CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='Topsecret-1', MASTER_PORT=3306",
		"CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = 'Top''secret-1'",
		"SET PASSWORD FOR 'u'@'%' = PASSWORD('Topsecret-1')",
	} {
		got := redactSecrets(msg)
		if strings.Contains(strings.ToLower(got), "topsecret") || strings.Contains(got, "secret-1") {
			t.Errorf("redactSecrets(%q) = %q; the secret is still there", msg, got)
		}
		if !strings.Contains(got, "<redacted>") {
			t.Errorf("redactSecrets(%q) = %q; want a <redacted> marker", msg, got)
		}
	}
	plain := "Duplicate entry '77' for key 'PRIMARY' on table shop.orders"
	if got := redactSecrets(plain); got != plain {
		t.Errorf("redactSecrets changed a message without secrets: %q", got)
	}
}

func TestNativePasswordHash(t *testing.T) {
	// MariaDB: SELECT PASSWORD('secret') = *14E65567ABDB5135D0CFD9A70B3032C179A49EE7
	if got := nativePasswordHash("secret"); got != "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7" {
		t.Errorf("nativePasswordHash(secret) = %s", got)
	}
}
