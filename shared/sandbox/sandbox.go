// Package sandbox starts real, throw-away MariaDB servers on 127.0.0.1 for
// integration tests and for the local demo.
//
// Each server gets its own temporary directory (data, tmpdir, socket, error
// log), a free TCP port, a server id that is unique within the process, and
// Aurora-style binary logging (mysql-bin-changelog.NNNNNN, ROW format,
// log_slave_updates), so servers started by the same process can replicate
// with each other. root logs in over TCP from 127.0.0.1 without a password.
//
// The core API (Start, StartN, Server) does not need a *testing.T; the helpers
// in testing.go (Require, StartT, DBT, ExecT) wrap it for tests. aurora.go
// adds a TEST-ONLY emulation of Aurora MySQL's mysql.rds_* replication
// procedures and admin user.
//
// Processes are torn down by Close; if the owning process dies without calling
// Close (panic outside a test goroutine, SIGKILL), the kernel kills mariadbd
// through PR_SET_PDEATHSIG on Linux.
package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// BinlogBasename is the --log-bin base name every sandbox server uses; it
// yields Aurora-style binary log names such as mysql-bin-changelog.000001.
const BinlogBasename = "mysql-bin-changelog"

const (
	defaultStartTimeout = 10 * time.Second
	defaultStopTimeout  = 15 * time.Second
	startAttempts       = 5 // retries when the chosen port was taken meanwhile
	logTailLines        = 30
)

// Options configures Start and StartN. The zero value gives sensible defaults.
type Options struct {
	// GTID turns on gtid_strict_mode and gives each server its own
	// gtid_domain_id (= ServerID), so GTID positions look like MySQL's
	// per-server GTID sets ("<domain>-<server_id>-<seq>" per origin server).
	// MariaDB always writes GTIDs; without GTID all servers share domain 0
	// and out-of-order GTIDs are tolerated.
	GTID bool
	// ExtraArgs are appended to the mariadbd command line (after the
	// defaults, so they can override them), e.g. "--read-only=ON".
	ExtraArgs []string
	// NamePrefix names the servers StartN starts: "<prefix>-1", "<prefix>-2"…
	// Default "sandbox".
	NamePrefix string
	// StartTimeout bounds how long Start waits for the server to accept a
	// root login over TCP. Default 10 s.
	StartTimeout time.Duration
	// StopTimeout bounds how long Close waits after SIGTERM before it sends
	// SIGKILL. Default 15 s.
	StopTimeout time.Duration
}

func (o Options) startTimeout() time.Duration {
	if o.StartTimeout > 0 {
		return o.StartTimeout
	}
	return defaultStartTimeout
}

func (o Options) stopTimeout() time.Duration {
	if o.StopTimeout > 0 {
		return o.StopTimeout
	}
	return defaultStopTimeout
}

// Server is one running (or killed) mariadbd. Its exported fields are fixed
// when Start returns; the methods are safe for concurrent use.
type Server struct {
	// Name is the name given to Start (used in the directory name and logs).
	Name string
	// Host is always "127.0.0.1".
	Host string
	// Port is the TCP port mariadbd listens on.
	Port int
	// ServerID is the server's @@server_id, unique within this process.
	ServerID uint32
	// Dir is the server's private directory: data/, tmp/, sock, error.log.
	// Close removes it.
	Dir string

	opts     Options
	mariadbd string

	mu     sync.Mutex
	proc   *process // nil before the first launch
	closed bool
}

// serverIDs hands out server ids. It is seeded from the pid so that servers
// of concurrently running test binaries are unlikely to share ids too.
var serverIDs atomic.Uint32

func init() {
	serverIDs.Store(uint32(os.Getpid()%100000)*1000 + 1)
}

func nextServerID() uint32 { return serverIDs.Add(1) }

// FindBinaries locates mariadbd and mariadb-install-db: first on PATH, then
// in /usr/sbin, /usr/local/sbin and /usr/bin. The error names every missing
// binary and the apt command that installs them.
func FindBinaries() (mariadbd, installDB string, err error) {
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin"} {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p
			}
		}
		return ""
	}
	mariadbd, installDB = find("mariadbd"), find("mariadb-install-db")
	var missing []string
	if mariadbd == "" {
		missing = append(missing, "mariadbd")
	}
	if installDB == "" {
		missing = append(missing, "mariadb-install-db")
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("sandbox: %s not found on PATH or in /usr/sbin, /usr/local/sbin, /usr/bin; install with: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server",
			strings.Join(missing, " and "))
	}
	return mariadbd, installDB, nil
}

// Start initialises a fresh data directory and starts one mariadbd on a free
// 127.0.0.1 port. It returns once root can log in over TCP. ctx bounds the
// start only; the server runs until Close or Kill. On error nothing is left
// running and the directory is removed; the error includes the tail of the
// install output or the server's error log.
func Start(ctx context.Context, name string, opts Options) (*Server, error) {
	mariadbd, installDB, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = "sandbox"
	}
	dir, err := os.MkdirTemp(tempBase(), "sandbox-"+dirSafe(name)+"-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: start %s: create dir: %w", name, err)
	}
	s := &Server{
		Name:     name,
		Host:     "127.0.0.1",
		ServerID: nextServerID(),
		Dir:      dir,
		opts:     opts,
		mariadbd: mariadbd,
	}
	if err := s.start(ctx, installDB); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("sandbox: start %s: %w", name, err)
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, installDB string) error {
	if err := os.Mkdir(s.tmpDir(), 0o700); err != nil {
		return fmt.Errorf("create tmpdir: %w", err)
	}
	if err := install(ctx, installDB, s.Dir); err != nil {
		return err
	}
	var err error
	for attempt := 0; attempt < startAttempts; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		s.Port = port
		if err = s.launch(ctx); !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}

// StartN starts n servers in parallel (see Start), named
// "<opts.NamePrefix>-1"… with distinct ports, server ids and directories. If
// any start fails, the ones that started are closed and the joined errors are
// returned.
func StartN(ctx context.Context, n int, opts Options) ([]*Server, error) {
	if n <= 0 {
		return nil, fmt.Errorf("sandbox: StartN: n = %d, want > 0", n)
	}
	prefix := opts.NamePrefix
	if prefix == "" {
		prefix = "sandbox"
	}
	servers := make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			servers[i], errs[i] = Start(ctx, fmt.Sprintf("%s-%d", prefix, i+1), opts)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range servers {
			if s != nil {
				err = errors.Join(err, s.Close())
			}
		}
		return nil, err
	}
	return servers, nil
}

// Addr returns "127.0.0.1:<port>".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// RootDSN returns a go-sql-driver/mysql DSN for root (no password) over TCP.
func (s *Server) RootDSN() string { return s.DSN("root", "", "") }

// DSN returns a go-sql-driver/mysql DSN for user/password over TCP, with db
// as the default database ("" for none).
func (s *Server) DSN(user, password, db string) string {
	return s.config(user, password, db).FormatDSN()
}

func (s *Server) config(user, password, db string) *mysql.Config {
	return dsnConfig(s.Addr(), user, password, db)
}

func dsnConfig(addr, user, password, db string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.User = user
	cfg.Passwd = password
	cfg.DBName = db
	cfg.Timeout = 5 * time.Second
	return cfg
}

// Open returns a *sql.DB for root. The caller closes it.
func (s *Server) Open() (*sql.DB, error) {
	c, err := mysql.NewConnector(s.config("root", "", ""))
	if err != nil {
		return nil, fmt.Errorf("sandbox: open %s: %w", s.Name, err)
	}
	return sql.OpenDB(c), nil
}

// PID returns the pid of the current mariadbd process, or 0 if it is not
// running (killed, closed, or exited).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.pid
}

// ErrorLogPath returns the path of the server's error log.
func (s *Server) ErrorLogPath() string { return filepath.Join(s.Dir, "error.log") }

// LogTail returns up to the last n lines of the server's error log (and of
// anything mariadbd printed on stderr), for diagnostics.
func (s *Server) LogTail(n int) string {
	var b strings.Builder
	for _, f := range []string{s.consolePath(), s.ErrorLogPath()} {
		if t := tailLines(readFrom(f, 0), n); t != "" {
			b.WriteString(t)
		}
	}
	return b.String()
}

// Close stops the server (SIGTERM, then SIGKILL after Options.StopTimeout),
// waits for it to exit and removes its directory. It is idempotent: later
// calls return nil.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.proc != nil {
		err = s.proc.stop(s.opts.stopTimeout())
	}
	if rmErr := os.RemoveAll(s.Dir); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	if err != nil {
		return fmt.Errorf("sandbox: close %s: %w", s.Name, err)
	}
	return nil
}

// Kill sends SIGKILL to mariadbd immediately (crash simulation) and waits for
// it to exit. The directory is kept, so Restart can bring the server back
// with its data; Close still removes it.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return nil
	}
	s.proc.kill()
	<-s.proc.done
	return nil
}

// Restart starts mariadbd again on the same directory, port and server id,
// after Kill (or an exit). It fails if the server is running or closed, or
// if the port has been taken meanwhile. A configured replica resumes
// replication on restart, as with skip_slave_start=OFF.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("sandbox: restart %s: server is closed", s.Name)
	case s.proc != nil && !s.proc.exited():
		return fmt.Errorf("sandbox: restart %s: server is running (pid %d)", s.Name, s.proc.pid)
	}
	if err := s.launchLocked(ctx); err != nil {
		return fmt.Errorf("sandbox: restart %s: %w", s.Name, err)
	}
	return nil
}

func (s *Server) dataDir() string     { return filepath.Join(s.Dir, "data") }
func (s *Server) tmpDir() string      { return filepath.Join(s.Dir, "tmp") }
func (s *Server) consolePath() string { return filepath.Join(s.Dir, "console.log") }

func (s *Server) args() []string {
	args := []string{
		"--no-defaults", // must come first
		"--user=root",
		"--datadir=" + s.dataDir(),
		"--tmpdir=" + s.tmpDir(),
		"--port=" + strconv.Itoa(s.Port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(s.Dir, "sock"),
		"--pid-file=" + filepath.Join(s.Dir, "mariadbd.pid"),
		"--log-error=" + s.ErrorLogPath(),
		"--server-id=" + strconv.FormatUint(uint64(s.ServerID), 10),
		"--log-bin=" + BinlogBasename,
		"--binlog-format=ROW",
		"--relay-log=relay-bin",
		"--log-slave-updates=ON",
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
	}
	args = append(args, smallAndFastArgs...)
	if s.opts.GTID {
		// Own domain per server, like MySQL's per-server UUIDs: with a shared
		// domain 0, one local write on a replica (e.g. by the admin on the old
		// cluster) makes the next replicated GTID "out of order" and stops
		// the SQL thread under strict mode.
		args = append(args, "--gtid-strict-mode=ON", "--gtid-domain-id="+strconv.FormatUint(uint64(s.ServerID), 10))
	}
	return append(args, s.opts.ExtraArgs...)
}

// smallAndFastArgs keep each server small and quick to start and stop. None
// weakens durability against a process crash (Kill): with
// innodb_flush_log_at_trx_commit=2 every commit is still written to the OS.
var smallAndFastArgs = []string{
	"--innodb-buffer-pool-size=64M",
	"--innodb-log-file-size=16M",
	"--innodb-flush-log-at-trx-commit=2",
	"--innodb-doublewrite=0",
	"--performance-schema=OFF",
	"--max-connections=100",
}

var errAddrInUse = errors.New("address already in use")

// launch starts mariadbd and waits until it is ready.
func (s *Server) launch(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server is closed")
	}
	return s.launchLocked(ctx)
}

func (s *Server) launchLocked(ctx context.Context) error {
	logOffset := fileSize(s.ErrorLogPath())
	console, err := os.OpenFile(s.consolePath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open console log: %w", err)
	}
	consoleOffset := fileSize(s.consolePath())
	cmd := exec.Command(s.mariadbd, s.args()...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = console, console
	p, err := spawn(cmd)
	console.Close() // the child has its own copy
	if err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	s.proc = p
	err = s.waitReady(ctx, p)
	if err == nil {
		return nil
	}
	p.kill()
	<-p.done
	out := readFrom(s.consolePath(), consoleOffset) + readFrom(s.ErrorLogPath(), logOffset)
	if strings.Contains(out, "Address already in use") || strings.Contains(out, "errno: 98") {
		return fmt.Errorf("mariadbd on port %d: %w", s.Port, errAddrInUse)
	}
	return fmt.Errorf("%w\n--- mariadbd output (tail) ---\n%s", err, tailLines(out, logTailLines))
}

// waitReady polls a root login over TCP until it succeeds, the process
// exits, ctx ends or the start timeout passes. It also checks @@server_id, so
// that a foreign server which grabbed the port first is not mistaken for ours.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.startTimeout())
	defer cancel()
	cfg := s.config("root", "", "")
	cfg.Timeout = time.Second
	cfg.Logger = discardLogger{}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxIdleConns(0)

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = probe(ctx, db, s.ServerID)
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("mariadbd exited before it was ready: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("mariadbd not ready after %s: %w (last probe: %v)", s.opts.startTimeout(), ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, db *sql.DB, wantID uint32) error {
	var id uint32
	if err := db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil {
		return err
	}
	if id != wantID {
		return fmt.Errorf("port answered by server_id %d, not ours (%d)", id, wantID)
	}
	return nil
}

type discardLogger struct{}

func (discardLogger) Print(...any) {}

// install runs mariadb-install-db into dir/data with its own tmpdir (shared
// tmpdirs make parallel installs fail now and then) and checks its exit code:
// a failed install leaves a datadir that starts but refuses every login.
func install(ctx context.Context, installDB, dir string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, installDB,
		"--no-defaults",
		"--user=root",
		"--datadir="+filepath.Join(dir, "data"),
		"--tmpdir="+filepath.Join(dir, "tmp"),
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		// passed through to the bootstrap mariadbd; keeps the first redo log small
		"--innodb-log-file-size=16M",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	p, err := spawn(cmd)
	if err != nil {
		return fmt.Errorf("run mariadb-install-db: %w", err)
	}
	<-p.done
	if p.err != nil {
		return fmt.Errorf("mariadb-install-db: %w\n--- output (tail) ---\n%s", p.err, tailLines(out.String(), logTailLines))
	}
	return nil
}

// process is a started child. Its goroutine holds a locked OS thread for the
// child's whole life because PR_SET_PDEATHSIG fires when the *thread* that
// forked the child exits, not the process: were the thread released, the Go
// runtime could end it and kill a healthy server.
type process struct {
	pid  int
	done chan struct{} // closed after Wait returned
	err  error         // Wait's result, valid after done
}

func spawn(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = sysProcAttr()
	p := &process{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns the runtime ends the
		// thread, which is harmless because the child has been reaped.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the child's process group (mariadbd is its own group leader).
func (p *process) kill() { _ = killGroup(p.pid, syscall.SIGKILL) }

// stop sends SIGTERM, waits up to timeout, then SIGKILL, and waits for exit.
func (p *process) stop(timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := killGroup(p.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGTERM pid %d: %w", p.pid, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	p.kill()
	<-p.done
	return fmt.Errorf("pid %d ignored SIGTERM for %s; killed", p.pid, timeout)
}

func killGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err == nil || !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return syscall.Kill(pid, sig)
}

// freePort asks the kernel for a free port. Another process may take it
// before mariadbd binds it; Start retries on "address in use".
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tempBase is os.TempDir, unless that is so long that the unix socket path
// would exceed the 107-byte sun_path limit.
func tempBase() string {
	if base := os.TempDir(); len(base) <= 60 {
		return base
	}
	return "/tmp"
}

func dirSafe(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 24 {
		b = b[len(b)-24:]
	}
	return string(b)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns the content of path from offset on, at most the last 64 KiB.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if size := fileSize(path); size-offset > 64<<10 {
		offset = size - 64<<10
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func tailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
