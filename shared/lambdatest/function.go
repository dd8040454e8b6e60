package lambdatest

import (
	"bytes"
	"context"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout is an invocation's deadline when Function.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// stopGrace is how long Stop lets the process exit after SIGTERM before it
// kills it.
const stopGrace = 5 * time.Second

// Function is a function binary running against a Server.
type Function struct {
	// Timeout is each invocation's deadline (Lambda-Runtime-Deadline-Ms is
	// now + Timeout) and how long Invoke waits past it for the answer, and
	// Wait for the process to exit. Zero means DefaultTimeout.
	Timeout time.Duration

	t      testing.TB
	server *Server
	path   string
	cmd    *exec.Cmd
	out    *syncBuffer

	ctx    context.Context // cancelled, with an *ExitError cause, when the process exits
	exited chan struct{}

	stopOnce sync.Once
	exit     Exit
}

// Exit is how a function's process ended.
type Exit struct {
	// Code is the exit status, or -1 when a signal ended the process.
	Code int
	// Signaled says the process was ended by a signal (Stop sends SIGTERM,
	// then SIGKILL).
	Signaled bool
	// InitError is what the function posted to …/runtime/init/error.
	InitError *FunctionError
	// Output is everything it wrote to stdout and stderr.
	Output string
}

// ExitError is returned by Invoke and Wait when the process ended first.
type ExitError struct{ Exit Exit }

// Error says how the process ended, with its init error if it reported one.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("the function exited with status %d", e.Exit.Code)
	if e.Exit.Signaled {
		msg = "the function was ended by a signal"
	}
	if e.Exit.InitError != nil {
		msg += " after reporting an init error (" + e.Exit.InitError.Error() + ")"
	}
	return msg
}

// Start starts the function binary at binaryPath with a Lambda-like
// environment (the process's own is not inherited): AWS_LAMBDA_RUNTIME_API
// pointing at a new Server, AWS_LAMBDA_FUNCTION_NAME ("lambdatest"),
// AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
// AWS_LAMBDA_LOG_GROUP_NAME and _STREAM_NAME, LAMBDA_TASK_ROOT (the
// binary's directory), AWS_REGION and AWS_DEFAULT_REGION (us-east-1),
// static test credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), AWS_EC2_METADATA_DISABLED, TZ, PATH and HOME; then
// env ("KEY=value"; a key given there wins). Point the SDK at local fakes
// with AWS_ENDPOINT_URL_<SERVICE> in env.
//
// The process is stopped when t ends, and its output is logged if t failed.
func Start(t testing.TB, binaryPath string, env []string) *Function {
	t.Helper()
	abs, err := filepath.Abs(binaryPath)
	if err != nil {
		t.Fatalf("lambdatest: %v", err)
	}
	s := NewServer(t)
	base := []string{
		"AWS_LAMBDA_RUNTIME_API=" + s.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME=lambdatest",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/lambdatest",
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]lambdatest",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(abs),
		"_HANDLER=bootstrap",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDLAMBDATEST",
		"AWS_SECRET_ACCESS_KEY=lambdatest-secret",
		"AWS_SESSION_TOKEN=lambdatest-session",
		"AWS_EC2_METADATA_DISABLED=true",
		"TZ=:UTC",
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + t.TempDir(),
	}
	env = append(base, env...)
	name, region := "lambdatest", "us-east-1"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "AWS_LAMBDA_FUNCTION_NAME="); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(kv, "AWS_REGION="); ok {
			region = v
		}
	}
	s.FunctionARN = "arn:aws:lambda:" + region + ":123456789012:function:" + name

	f := &Function{t: t, server: s, path: binaryPath, out: &syncBuffer{}, exited: make(chan struct{})}
	f.cmd = exec.Command(abs)
	f.cmd.Env = env
	f.cmd.Dir = filepath.Dir(abs)
	f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
	// A grandchild holding the output pipes must not make Wait hang.
	f.cmd.WaitDelay = stopGrace
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("lambdatest: start %s: %v", binaryPath, err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	f.ctx = ctx
	go func() {
		_ = f.cmd.Wait() // the exit status is in cmd.ProcessState
		close(f.exited)
		cancel(&ExitError{Exit: f.exitInfo()})
	}()
	t.Cleanup(func() {
		exit := f.Stop()
		if t.Failed() {
			t.Logf("lambdatest: output of %s:\n%s", binaryPath, exit.Output)
		}
	})
	return f
}

// Server is the Runtime API the function polls.
func (f *Function) Server() *Server { return f.server }

// Output returns what the function wrote to stdout and stderr so far.
func (f *Function) Output() string { return f.out.String() }

func (f *Function) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return DefaultTimeout
}

// Invoke hands payload to the function and returns its answer. It returns
// an error (an *ExitError when the process ended) when the function does
// not answer: it exited, or did not answer within Timeout and a little
// more.
func (f *Function) Invoke(payload []byte) (Result, error) {
	deadline := time.Now().Add(f.timeout())
	ctx, cancel := context.WithDeadlineCause(f.ctx, deadline.Add(2*time.Second),
		fmt.Errorf("no answer within the %v invocation timeout", f.timeout()))
	defer cancel()
	return f.server.Invoke(ctx, payload, deadline)
}

// Wait waits for the process to exit on its own (after an init failure,
// say) and returns how it ended; an error if it is still running after
// Timeout (it is left running: Stop ends it).
func (f *Function) Wait() (Exit, error) {
	timer := time.NewTimer(f.timeout())
	defer timer.Stop()
	select {
	case <-f.exited:
		return f.exitInfo(), nil
	case <-timer.C:
		return Exit{}, fmt.Errorf("lambdatest: %s still runs after %v", f.path, f.timeout())
	}
}

// Stop ends the process if it still runs (SIGTERM, then SIGKILL after a
// grace period), closes the Server and returns how the process ended. It
// may be called more than once.
func (f *Function) Stop() Exit {
	f.stopOnce.Do(func() {
		select {
		case <-f.exited:
		default:
			_ = f.cmd.Process.Signal(syscall.SIGTERM)
			timer := time.NewTimer(stopGrace)
			select {
			case <-f.exited:
			case <-timer.C:
				_ = f.cmd.Process.Kill()
				<-f.exited
			}
			timer.Stop()
		}
		f.server.Close()
		f.exit = f.exitInfo()
	})
	return f.exit
}

// exitInfo describes the ended process; f.exited is closed.
func (f *Function) exitInfo() Exit {
	e := Exit{Code: f.cmd.ProcessState.ExitCode(), InitError: f.server.InitError(), Output: f.out.String()}
	if ws, ok := f.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signaled = true
	}
	return e
}

// Run starts the function binary (as Start does, with env), hands it each
// payload in turn, waiting for each answer, then stops it and returns the
// answers in order. The test fails, with the function's output, when the
// function exits or does not answer.
func Run(t testing.TB, binaryPath string, env []string, payloads ...[]byte) []Result {
	t.Helper()
	f := Start(t, binaryPath, env)
	defer f.Stop()
	results := make([]Result, 0, len(payloads))
	for i, p := range payloads {
		r, err := f.Invoke(p)
		if err != nil {
			t.Fatalf("lambdatest: invocation %d of %s: %v\noutput:\n%s", i+1, binaryPath, err, f.Output())
		}
		results = append(results, r)
	}
	return results
}

// Build compiles the function package pkg (an import path, or a path
// relative to the test's package directory such as "./testdata/echo") for
// the host, as the deployed function is built but for the host's OS and
// architecture so it runs here: CGO_ENABLED=0, -tags lambda.norpc. It
// returns the path of the binary, named bootstrap, in t.TempDir().
func Build(t testing.TB, pkg string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command(goTool, "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lambdatest: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the two output copiers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
