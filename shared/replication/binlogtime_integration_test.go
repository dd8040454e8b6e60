//go:build integration

package replication

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchback/switchback/shared/sandbox"
)

// The binlog is read with the pool's TLS settings: a user that must log in
// over TLS reads it with a verified certificate (a registered TLS config)
// and with skip-verify, and is refused without TLS. tls=preferred against a
// server without TLS falls back to a plain connection, as the pool does.
func TestIntegrationBinlogFileCreatedTLS(t *testing.T) {
	dir := t.TempDir()
	caPEM := writeTestCerts(t, dir)
	plain := sandbox.StartT(t, 1, sandbox.Options{})[0]
	tlsServers := sandbox.StartT(t, 1, sandbox.Options{ExtraArgs: []string{
		"--ssl-ca=" + filepath.Join(dir, "ca.pem"),
		"--ssl-cert=" + filepath.Join(dir, "server.pem"),
		"--ssl-key=" + filepath.Join(dir, "server-key.pem"),
	}})
	srv := tlsServers[0]
	db := srv.DBT(t)
	for _, q := range []string{
		"CREATE USER 'tlsuser'@'%' IDENTIFIED BY 'pw' REQUIRE SSL",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'tlsuser'@'%'",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var file string
	var pos any
	if err := db.QueryRow("SHOW BINARY LOGS").Scan(&file, &pos); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	if err := mysql.RegisterTLSConfig("binlogtime-test", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig("binlogtime-test") })
	dsn := func(s *sandbox.Server, user, password, tlsMode string) string {
		cfg, err := mysql.ParseDSN(s.DSN(user, password, ""))
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLSConfig = tlsMode
		return cfg.FormatDSN()
	}
	for _, mode := range []string{"binlogtime-test", "skip-verify", "preferred"} {
		s := connectDSN(t, "production", dsn(srv, "tlsuser", "pw", mode), DialectAuto)
		created, err := s.BinlogFileCreated(t.Context(), file)
		if err != nil || created.IsZero() || time.Since(created) > time.Hour {
			t.Fatalf("tls=%s: %s %v", mode, created, err)
		}
	}
	// Sanity: the user cannot log in without TLS.
	cfg, err := mysql.ParseDSN(dsn(srv, "tlsuser", "pw", "false"))
	if err != nil {
		t.Fatal(err)
	}
	noTLS := &Server{Role: "production", Addr: srv.Addr(), User: "tlsuser", Dialect: MariaDB, cfg: cfg}
	if _, err := noTLS.BinlogFileCreated(t.Context(), file); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("without TLS: %v; want the login refused", err)
	}
	// A server without TLS: tls=preferred falls back, tls=true fails.
	ps := connectDSN(t, "production", dsn(plain, "root", "", "preferred"), DialectAuto)
	pfile, err := ps.BinlogPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.BinlogFileCreated(t.Context(), pfile.File); err != nil {
		t.Fatalf("tls=preferred without TLS on the server: %v", err)
	}
	pcfg, err := mysql.ParseDSN(dsn(plain, "root", "", "skip-verify"))
	if err != nil {
		t.Fatal(err)
	}
	strict := &Server{Role: "production", Addr: plain.Addr(), User: "root", Dialect: MariaDB, cfg: pcfg}
	if _, err := strict.BinlogFileCreated(t.Context(), pfile.File); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("tls=skip-verify without TLS on the server: %v; want a TLS error", err)
	}
}

// Errors say what went wrong: a file still in the index but no longer on
// disk is gone; a user without REPLICATION SLAVE is told so; a wrong
// password is an unreachable server; a cancelled or expired context ends
// the call at once, also against a server that never answers. No dump
// thread is left behind.
func TestIntegrationBinlogFileCreatedErrors(t *testing.T) {
	srv := sandbox.StartT(t, 1, sandbox.Options{})[0]
	s := connectRoot(t, "production", srv, DialectAuto)
	db := srv.DBT(t)
	first, err := s.BinlogPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"FLUSH BINARY LOGS",
		"CREATE USER 'noslave'@'%' IDENTIFIED BY 'pw'",
		"GRANT REPLICATION CLIENT ON *.* TO 'noslave'@'%'",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	noSlave := connectDSN(t, "production", srv.DSN("noslave", "pw", ""), DialectAuto)
	if _, err := noSlave.BinlogFileCreated(t.Context(), first.File); err == nil || !strings.Contains(err.Error(), "REPLICATION SLAVE") || errors.Is(err, ErrUnreachable) {
		t.Fatalf("without REPLICATION SLAVE: %v", err)
	}
	wrong := *noSlave
	wrong.cfg = noSlave.cfg.Clone()
	wrong.cfg.Passwd = "wrong"
	if _, err := wrong.BinlogFileCreated(t.Context(), first.File); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "1045") {
		t.Fatalf("wrong password: %v; want unreachable, 1045", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.BinlogFileCreated(ctx, first.File); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// A server that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	cfg, err := mysql.ParseDSN("root@tcp(" + l.Addr().String() + ")/")
	if err != nil {
		t.Fatal(err)
	}
	silent := &Server{Role: "production", Addr: l.Addr().String(), User: "root", cfg: cfg}
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := silent.BinlogFileCreated(ctx, first.File); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("silent server: %v after %s; want the deadline", err, time.Since(start))
	}

	if err := os.Remove(filepath.Join(srv.Dir, "data", first.File)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BinlogFileCreated(t.Context(), first.File); !errors.Is(err, ErrBinlogGone) {
		t.Fatalf("file deleted from disk: %v; want ErrBinlogGone", err)
	}

	waitFor(t, 5*time.Second, "the end of the dump threads", func() (bool, error) {
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Scan(&n)
		return n == 0, err
	})
}

// writeTestCerts writes a CA and a server certificate for 127.0.0.1 into
// dir (ca.pem, server.pem, server-key.pem) and returns the CA's PEM.
func writeTestCerts(t *testing.T, dir string) []byte {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "switchback test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for name, data := range map[string][]byte{
		"ca.pem":         caPEM,
		"server.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server-key.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caPEM
}
