package orchestrate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/go-sql-driver/mysql"

	"github.com/switchback/switchback/shared/replication"
)

// TLS modes for MySQLConnector.
const (
	// TLSVerify connects with TLS and verifies the server's certificate
	// against the CA bundle (the RDS global bundle) and its name.
	TLSVerify = "verify"
	// TLSSkipVerify connects with TLS without verifying the certificate.
	TLSSkipVerify = "skip-verify"
	// TLSOff connects without TLS (local servers, tests).
	TLSOff = "off"
)

var registerTLS sync.Mutex

// MySQLConnector returns a Connector that opens the cluster's writer
// endpoint with the given TLS mode. With TLSVerify the CA bundle is read
// once, here: a missing or unreadable bundle is an error naming the file.
func MySQLConnector(mode, caBundle string) (Connector, error) {
	tlsName := ""
	switch mode {
	case TLSOff:
	case TLSSkipVerify:
		tlsName = "skip-verify"
	case TLSVerify:
		pem, err := os.ReadFile(caBundle)
		if err != nil {
			return nil, fmt.Errorf("TLS CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA bundle %s holds no PEM certificate", caBundle)
		}
		tlsName = "switchback-rds"
		registerTLS.Lock()
		err = mysql.RegisterTLSConfig(tlsName, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		registerTLS.Unlock()
		if err != nil {
			return nil, fmt.Errorf("register TLS config: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown TLS mode %q: want %s, %s or %s", mode, TLSVerify, TLSSkipVerify, TLSOff)
	}
	return func(ctx context.Context, role string, c Cluster, login Login) (*replication.Server, error) {
		if c.Endpoint == "" || c.Port == 0 {
			return nil, fmt.Errorf("%s cluster %s has no writer endpoint and port", role, c.ID)
		}
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd = login.User, login.Password
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(c.Endpoint, strconv.Itoa(c.Port))
		cfg.TLSConfig = tlsName
		return replication.Connect(ctx, role, cfg.FormatDSN(), replication.DialectAuto)
	}, nil
}
