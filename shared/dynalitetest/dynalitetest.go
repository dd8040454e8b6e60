// Package dynalitetest starts dynalite, an in-memory DynamoDB-compatible
// server from npm, for tests: one private server per test on a free
// loopback port, stopped when the test ends. It is a normal package so that
// tests of several packages can share it; only tests import it.
//
// dynalite is installed by `make deps-node` (npm ci in tools/dynalite).
// When it is missing, tests that need it are skipped, or fail when the
// environment variable CI is "true" (CI must install it, so a missing
// server there is a setup bug, not a reason to skip), as shared/sandbox
// does for MariaDB.
package dynalitetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// BinaryPath is where `make deps-node` installs dynalite, relative to the
// module root.
const BinaryPath = "tools/dynalite/node_modules/.bin/dynalite"

// Region is the region clients of the test server use.
const Region = "us-east-1"

// StartTimeout bounds how long Start waits for dynalite to answer.
const StartTimeout = 15 * time.Second

// Server is a running dynalite.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:<port>.
	Endpoint string
	// Client is a DynamoDB client pointed at Endpoint.
	Client *dynamodb.Client
	// Startup is how long dynalite took from exec to its first answer.
	Startup time.Duration
}

// Binary returns the path of the dynalite executable under the module root
// (the nearest directory above the working directory holding go.mod), or
// an error saying how to install it. dynalite is a node script, so node
// must be on PATH too.
func Binary() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, BinaryPath)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("dynalite is not installed (%s missing): run `make deps-node`", bin)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("dynalite needs node, which is not on PATH: %w", err)
	}
	return bin, nil
}

// Require returns the dynalite executable; when it is missing it skips the
// test, or fails it when CI is "true".
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return bin
}

// Start calls Require, starts dynalite on a free loopback port, waits until
// it answers a ListTables call (polling, bounded by StartTimeout), and
// stops it with t.Cleanup. Tables become active as soon as they are
// created. It fails the test if dynalite does not start.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Require(t)
	var err error
	for range 3 {
		var s *Server
		var portTaken bool
		s, portTaken, err = start(t, bin)
		if err == nil {
			t.Logf("dynalite at %s answered %s after start", s.Endpoint, s.Startup.Round(time.Millisecond))
			return s
		}
		if !portTaken {
			break
		}
		// Someone took the free port between our probe and dynalite's
		// listen: pick another.
	}
	t.Fatalf("dynalite: %v", err)
	return nil
}

// NewClient returns a DynamoDB client for a local endpoint: static
// credentials, region us-east-1, base endpoint endpoint.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("dynalite", "dynalite", ""),
		BaseEndpoint: aws.String(endpoint),
	})
}

// start starts one dynalite; portTaken reports a failure to listen.
func start(t testing.TB, bin string) (s *Server, portTaken bool, err error) {
	port, err := freePort()
	if err != nil {
		return nil, false, err
	}
	endpoint := "http://127.0.0.1:" + port
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", port,
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	began := time.Now()
	p, err := spawn(cmd)
	if err != nil {
		return nil, false, fmt.Errorf("start %s: %w", bin, err)
	}

	client := NewClient(endpoint)
	ctx, cancel := context.WithTimeout(t.Context(), StartTimeout)
	defer cancel()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		err := probe(ctx, client)
		if err == nil {
			break
		}
		select {
		case <-p.done:
			text := out.String()
			return nil, strings.Contains(text, "EADDRINUSE"), fmt.Errorf("exited before answering on %s: %v\n%s", endpoint, p.err, text)
		case <-ctx.Done():
			p.stop()
			return nil, false, fmt.Errorf("no answer on %s within %s (last: %v)\n%s", endpoint, StartTimeout, err, out.String())
		case <-poll.C:
		}
	}
	startup := time.Since(began)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("dynalite %s output:\n%s", endpoint, out.String())
		}
	})
	return &Server{Endpoint: endpoint, Client: client, Startup: startup}, false, nil
}

// probe makes one ListTables call without the SDK's retries.
func probe(ctx context.Context, client *dynamodb.Client) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) {
		o.Retryer = aws.NopRetryer{}
	})
	return err
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// moduleRoot is the nearest directory above the working directory that
// holds go.mod (go test runs in the package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: cannot find tools/dynalite")
		}
		dir = parent
	}
}

// process is a started dynalite.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// spawn starts cmd from a goroutine locked to its thread, which lives as
// long as the child: the parent-death signal is tied to that thread.
func spawn(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns the runtime ends the
		// thread, which is harmless because the child has been reaped.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// stop kills dynalite (it keeps everything in memory: nothing to flush)
// and waits until it has exited.
func (p *process) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// lockedBuffer collects dynalite's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
