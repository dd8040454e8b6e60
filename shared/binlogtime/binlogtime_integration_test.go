//go:build integration

package binlogtime

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

	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// The creation time of a binlog file comes from the server: the timestamp
// of the file's first event, read over the replication protocol. A new
// file (FLUSH BINARY LOGS) is created now; an older one before it; a file
// the server does not have (never written, or purged) is
// replication.ErrBinlogGone.
func TestIntegrationBinlogFileCreated(t *testing.T) {
	servers := sandbox.StartT(t, 1, sandbox.Options{})
	s := connectRoot(t, "production", servers[0], replication.DialectAuto)
	db := servers[0].DBT(t)
	first, err := s.BinlogPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // event timestamps have one-second resolution
	if _, err := db.Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	second, err := s.BinlogPosition(t.Context())
	if err != nil || second.File == first.File {
		t.Fatalf("FLUSH BINARY LOGS did not start a new file: %v %+v", err, second)
	}
	created1, err := FileCreated(t.Context(), s, first.File)
	if err != nil {
		t.Fatal(err)
	}
	created2, err := FileCreated(t.Context(), s, second.File)
	if err != nil {
		t.Fatal(err)
	}
	var now int64
	if err := db.QueryRow("SELECT UNIX_TIMESTAMP()").Scan(&now); err != nil {
		t.Fatal(err)
	}
	if !created1.Before(created2) || created2.Unix() > now || now-created2.Unix() > 5 || now-created1.Unix() > 120 {
		t.Fatalf("created %s then %s; server clock %s", created1, created2, time.Unix(now, 0))
	}
	if _, err := FileCreated(t.Context(), s, "nosuch-bin.000042"); !errors.Is(err, replication.ErrBinlogGone) {
		t.Fatalf("unknown file: %v; want ErrBinlogGone", err)
	}
	if _, err := db.Exec("PURGE BINARY LOGS TO '" + second.File + "'"); err != nil {
		t.Fatal(err)
	}
	if _, err := FileCreated(t.Context(), s, first.File); !errors.Is(err, replication.ErrBinlogGone) {
		t.Fatalf("purged file: %v; want ErrBinlogGone", err)
	}
	// The pool still works: the dump ran on a connection of its own.
	if _, err := s.BinlogPosition(t.Context()); err != nil {
		t.Fatal(err)
	}
}

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
	var tlsUser *replication.Server
	for _, mode := range []string{"binlogtime-test", "skip-verify", "preferred"} {
		s := connectDSN(t, "production", dsn(srv, "tlsuser", "pw", mode), replication.DialectAuto)
		tlsUser = s
		created, err := FileCreated(t.Context(), s, file)
		if err != nil || created.IsZero() || time.Since(created) > time.Hour {
			t.Fatalf("tls=%s: %s %v", mode, created, err)
		}
	}
	// Sanity: the user cannot log in without TLS.
	cfg, err := mysql.ParseDSN(dsn(srv, "tlsuser", "pw", "false"))
	if err != nil {
		t.Fatal(err)
	}
	noTLS := sourceOf(tlsUser)
	noTLS.cfg = cfg
	if _, err := noTLS.fileCreated(t.Context(), file); !errors.Is(err, replication.ErrUnreachable) {
		t.Fatalf("without TLS: %v; want the login refused", err)
	}
	// A server without TLS: tls=preferred falls back, tls=true fails.
	ps := connectDSN(t, "production", dsn(plain, "root", "", "preferred"), replication.DialectAuto)
	pfile, err := ps.BinlogPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FileCreated(t.Context(), ps, pfile.File); err != nil {
		t.Fatalf("tls=preferred without TLS on the server: %v", err)
	}
	pcfg, err := mysql.ParseDSN(dsn(plain, "root", "", "skip-verify"))
	if err != nil {
		t.Fatal(err)
	}
	strict := sourceOf(ps)
	strict.cfg = pcfg
	if _, err := strict.fileCreated(t.Context(), pfile.File); err == nil || !strings.Contains(err.Error(), "TLS") {
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
	s := connectRoot(t, "production", srv, replication.DialectAuto)
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

	noSlave := connectDSN(t, "production", srv.DSN("noslave", "pw", ""), replication.DialectAuto)
	if _, err := FileCreated(t.Context(), noSlave, first.File); err == nil || !strings.Contains(err.Error(), "REPLICATION SLAVE") || errors.Is(err, replication.ErrUnreachable) {
		t.Fatalf("without REPLICATION SLAVE: %v", err)
	}
	wrong := sourceOf(noSlave)
	wrong.cfg.Passwd = "wrong" // a copy: noSlave's pool keeps its password
	if _, err := wrong.fileCreated(t.Context(), first.File); !errors.Is(err, replication.ErrUnreachable) || !strings.Contains(err.Error(), "1045") {
		t.Fatalf("wrong password: %v; want unreachable, 1045", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := FileCreated(ctx, s, first.File); !errors.Is(err, context.Canceled) {
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
	silent := sourceOf(&replication.Server{Role: "production", Addr: l.Addr().String(), User: "root"})
	silent.cfg = cfg
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := silent.fileCreated(ctx, first.File); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("silent server: %v after %s; want the deadline", err, time.Since(start))
	}

	if err := os.Remove(filepath.Join(srv.Dir, "data", first.File)); err != nil {
		t.Fatal(err)
	}
	if _, err := FileCreated(t.Context(), s, first.File); !errors.Is(err, replication.ErrBinlogGone) {
		t.Fatalf("file deleted from disk: %v; want ErrBinlogGone", err)
	}

	sandbox.WaitFor(t, 5*time.Second, "the end of the dump threads", func() (bool, error) {
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

// connectRoot opens an engine Server for a sandbox server as root.
func connectRoot(t *testing.T, role string, s *sandbox.Server, d replication.Dialect) *replication.Server {
	t.Helper()
	return connectDSN(t, role, s.RootDSN(), d)
}

func connectDSN(t *testing.T, role, dsn string, d replication.Dialect) *replication.Server {
	t.Helper()
	srv, err := replication.Connect(t.Context(), role, dsn, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}
