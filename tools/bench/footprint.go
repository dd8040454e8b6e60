package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/dynalitetest"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/lambdatest"
)

// bootstrapLimit is the size target for every function's arm64
// bootstrap: 15 MB, read strictly as 15 × 10⁶ bytes.
const bootstrapLimit = 15_000_000

// footprintPayload is the cheap invocation every function answers at
// once: a JSON array where each expects an object. Capture drops it as a
// malformed event; configure, teardown, preflight, rollback and verify
// refuse it with an error; reconcile and monitor ignore their payload and
// do a run against empty local fakes (no deployments, no records).
const footprintPayload = "[]"

// benchFootprint builds every function as `make build-functions` does
// (linux/arm64, CGO_ENABLED=0, -tags lambda.norpc -trimpath -ldflags='-s
// -w') and reports each bootstrap's size; then it builds the same code
// with the same flags for this machine and times, repeatedly, a start of
// each bootstrap through a local Lambda Runtime API (shared/lambdatest),
// from the process start to its first answer posted.
func benchFootprint(ctx context.Context, cfg benchConfig) (section, error) {
	started := time.Now()
	reps := max(cfg.Runs, 10)
	if cfg.Quick {
		reps = cfg.Runs
	}
	sec := section{
		Title: "Footprint",
		What: fmt.Sprintf("Each function's `bootstrap` as `make build-functions` builds it (GOOS=linux GOARCH=arm64 CGO_ENABLED=0 "+
			"`go build -tags lambda.norpc -trimpath -ldflags='-s -w'`): its size. Then the same packages built with the same "+
			"flags for this machine (%s/%s), each started %d times (round-robin over the functions) with a Lambda-like "+
			"environment under shared/lambdatest's local Runtime API, pointed at local fakes (RDS, Secrets Manager, SNS, "+
			"Lambda) and dynalite: the time from just before the process is started to its first answer posted, for "+
			"the payload `%s` (see the notes for what each function answers), and its peak RSS (VmHWM) then.",
			runtime.GOOS, runtime.GOARCH, reps, footprintPayload),
		Header: []string{"function", "arm64 bootstrap", "bytes", "runs", "start → first answer median", "p95", "answer", "peak RSS median"},
	}
	fns, err := functionNames()
	if err != nil {
		return sec, err
	}
	cfg.Progress("building %d functions for linux/arm64 (make build-functions' flags)", len(fns))
	armDir := filepath.Join(cfg.WorkDir, "footprint-arm64")
	armBins, err := buildFunctions(ctx, armDir, "linux", "arm64", fns)
	if err != nil {
		return sec, err
	}
	cfg.Progress("building them again for %s/%s, same flags", runtime.GOOS, runtime.GOARCH)
	nativeBins, err := buildFunctions(ctx, filepath.Join(cfg.WorkDir, "footprint-native"), runtime.GOOS, runtime.GOARCH, fns)
	if err != nil {
		return sec, err
	}

	h := newHarness(ctx, "footprint", cfg.WorkDir)
	defer h.close()
	var env []string
	if err := h.do(func() { env = emptyAWS(h) }); err != nil {
		return sec, fmt.Errorf("start the local AWS fakes and dynalite: %w", err)
	}

	type sample struct {
		start time.Duration
		hwm   int64
		kind  string
	}
	samples := map[string][]sample{}
	for i := range reps + 1 { // the first round warms the page cache and is not counted
		for _, fn := range fns {
			var s sample
			err := h.do(func() {
				began := time.Now()
				f := lambdatest.Start(h, nativeBins[fn], append(slices.Clone(env), "AWS_LAMBDA_FUNCTION_NAME=switchback-"+fn))
				defer f.Stop()
				res, err := f.Invoke([]byte(footprintPayload))
				s.start = time.Since(began)
				if err != nil {
					h.Fatalf("invoke %s: %v\noutput:\n%s", fn, err, tail(f.Output(), 20))
				}
				s.kind = answerKind(res)
				pid, err := childPID(nativeBins[fn])
				if err != nil {
					h.Fatalf("%s: %v", fn, err)
				}
				if s.hwm, err = peakRSS(pid); err != nil {
					h.Fatalf("%s: %v", fn, err)
				}
			})
			if err != nil {
				return sec, fmt.Errorf("start %s (round %d): %w", fn, i, err)
			}
			if i > 0 {
				samples[fn] = append(samples[fn], s)
			}
		}
		if i > 0 {
			cfg.Progress("round %d/%d of starts done", i, reps)
		}
	}

	var over []string
	var largest int64
	for _, fn := range fns {
		fi, err := os.Stat(armBins[fn])
		if err != nil {
			return sec, fmt.Errorf("stat %s: %w", armBins[fn], err)
		}
		size := fi.Size()
		largest = max(largest, size)
		if size > bootstrapLimit {
			over = append(over, fmt.Sprintf("%s %s", fn, mib(size)))
		}
		var starts, hwms []float64
		kinds := map[string]int{}
		for _, s := range samples[fn] {
			starts, hwms = append(starts, ms(s.start)), append(hwms, float64(s.hwm))
			kinds[s.kind]++
		}
		st, hw := summarize(starts), summarize(hwms)
		sec.Rows = append(sec.Rows, []string{fn, mib(size), strconv.FormatInt(size, 10), strconv.Itoa(st.N),
			fmtMS(st.Median), fmtMS(st.P95), describeKinds(kinds), mib(int64(hw.Median))})
	}
	sec.Target = footprintTarget(len(fns), over, largest)
	sec.Notes = []string{
		"Answers: capture drops a malformed event (a response, no error); configure, teardown, preflight, rollback and verify " +
			"refuse the payload with an error; reconcile and monitor ignore their payload and run against empty fakes " +
			"(DescribeBlueGreenDeployments on the fake RDS, a scan of an empty dynalite table).",
		"The start time includes starting the local Runtime API server (an httptest server, well under a millisecond), " +
			"the process exec, the Go runtime's start, the function's cold start (configuration, AWS SDK clients) and the " +
			"first invocation. It excludes what Lambda adds (sandbox, code download); the binaries are for " +
			runtime.GOARCH + ", not arm64. One uncounted round first warms the page cache.",
		"Peak RSS is the bootstrap's VmHWM (/proc/<pid>/status) right after its first answer, before it is stopped.",
	}
	sec.Took = time.Since(started)
	return sec, nil
}

// footprintTarget states the size target and whether every bootstrap met
// it.
func footprintTarget(n int, over []string, largest int64) string {
	if len(over) == 0 {
		return fmt.Sprintf("every arm64 bootstrap ≤ 15 MB (15 × 10⁶ bytes): **met** (all %d; the largest is %s, %d bytes)", n, mib(largest), largest)
	}
	return fmt.Sprintf("every arm64 bootstrap ≤ 15 MB (15 × 10⁶ bytes): **not met** (%d of %d over: %s)", len(over), n, strings.Join(over, ", "))
}

// mib formats a byte count in MiB with two decimals.
func mib(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64) + " MiB"
}

// answerKind names a function's answer: "response", or "error <type>".
func answerKind(r lambdatest.Result) string {
	if r.Error != nil {
		return "error " + r.Error.Type
	}
	return "response"
}

// describeKinds lists the answers seen, the most frequent first.
func describeKinds(kinds map[string]int) string {
	type kc struct {
		kind  string
		count int
	}
	var all []kc
	total := 0
	for k, c := range kinds {
		all = append(all, kc{k, c})
		total += c
	}
	slices.SortFunc(all, func(a, b kc) int {
		if a.count != b.count {
			return b.count - a.count
		}
		return strings.Compare(a.kind, b.kind)
	})
	var parts []string
	for _, x := range all {
		if x.count == total {
			parts = append(parts, x.kind)
		} else {
			parts = append(parts, fmt.Sprintf("%s ×%d", x.kind, x.count))
		}
	}
	return strings.Join(parts, ", ")
}

// functionNames lists the function packages: the folders under the
// module's functions/ that hold a main.go (functions/internal holds none).
func functionNames() ([]string, error) {
	root, err := benchModuleRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "functions")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list the functions: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "main.go")); err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no function under %s", dir)
	}
	return names, nil
}

// benchModuleRoot is the nearest directory at or above the working
// directory that holds go.mod.
func benchModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory: run from the repository")
		}
		dir = parent
	}
}

// modulePath is the module the functions are built from.
const modulePath = "github.com/switchback/switchback"

// buildFunctions builds the named functions for goos/goarch with the
// Makefile's flags (CGO_ENABLED=0, -tags lambda.norpc, -trimpath,
// -ldflags='-s -w'), in one go build, and returns each one's path,
// dir/<name>/bootstrap.
func buildFunctions(ctx context.Context, dir, goos, goarch string, names []string) (map[string]string, error) {
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, fmt.Errorf("build directory: %w", err)
	}
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, modulePath+"/functions/"+n)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build the functions for %s/%s: %w\n%s", goos, goarch, err, out)
	}
	paths := map[string]string{}
	for _, n := range names {
		d := filepath.Join(dir, n)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("build directory: %w", err)
		}
		p := filepath.Join(d, "bootstrap")
		if err := os.Rename(filepath.Join(bin, n), p); err != nil {
			return nil, fmt.Errorf("place %s's bootstrap: %w", n, err)
		}
		paths[n] = p
	}
	return paths, os.Remove(bin)
}

// benchTable is the DynamoDB table name the benchmarks' functions use.
const benchTable = "switchback-bench"

// benchTopicARN is the SNS topic the benchmarks' functions notify.
const benchTopicARN = "arn:aws:sns:us-east-1:123456789012:switchback-bench"

// benchConfigureFn is the configure function capture and reconcile name.
const benchConfigureFn = "switchback-configure"

// emptyAWS starts the local AWS fakes and dynalite (with an empty table)
// and returns the environment that points a function at them. The fakes
// stop with h.
func emptyAWS(h *harness) []string {
	rdsFake := awsfake.StartRDS(h)
	sm := awsfake.StartSecretsManager(h)
	sns := awsfake.StartSNS(h)
	sns.AddTopic(benchTopicARN)
	lam := awsfake.StartLambda(h)
	lam.AddFunction(benchConfigureFn)
	db := dynalitetest.Start(h)
	if err := dynamostate.CreateTable(h.Context(), db.Client, benchTable); err != nil {
		h.Fatalf("create the state table: %v", err)
	}
	return append(functionEnv(db.Endpoint, benchTable, ""),
		rdsFake.EndpointEnv(), sm.EndpointEnv(), sns.EndpointEnv(), lam.EndpointEnv())
}

// functionEnv is switchback's own environment for a function run here:
// the state table on dynalite (none when table is ""), the topic, the
// admin secrets (none when ""), no TLS, and the monitor settings the CDK
// stack deploys.
func functionEnv(dynamoEndpoint, table, adminSecrets string) []string {
	env := []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + dynamoEndpoint,
		lambdaenv.EnvTopicARN + "=" + benchTopicARN,
		lambdaenv.EnvConfigureFunction + "=" + benchConfigureFn,
		lambdaenv.EnvTLS + "=" + lambdaenv.TLSOff,
		lambdaenv.EnvMonitorConcurrency + "=4",
		lambdaenv.EnvMonitorPairTimeoutSeconds + "=20",
	}
	if table != "" {
		env = append(env, lambdaenv.EnvTable+"="+table)
	}
	if adminSecrets != "" {
		env = append(env, lambdaenv.EnvAdminSecrets+"="+adminSecrets)
	}
	return env
}

// childPID finds the running child of this process whose executable is
// binary: lambdatest does not expose its process, and its peak RSS must be
// read before it exits.
func childPID(binary string) (int, error) {
	want, err := filepath.Abs(binary)
	if err == nil {
		want, err = filepath.EvalSymlinks(want) // /proc/<pid>/exe is the resolved path
	}
	if err != nil {
		return 0, fmt.Errorf("find %s's process: %w", binary, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("find %s's process: %w", binary, err)
	}
	me := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		if ppid, ok := parentPID(string(stat)); !ok || ppid != me {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == want {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no running child process of %s", want)
}

// parentPID reads the parent pid from /proc/<pid>/stat: the fourth field,
// counted after the command name, which is in parentheses and may hold
// spaces and parentheses itself.
func parentPID(stat string) (int, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// peakRSS returns a running process's peak resident set size (VmHWM), in
// bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the peak RSS of pid %d: %w", pid, err)
	}
	defer f.Close()
	return parseStatusKB(f, "VmHWM")
}

// parseStatusKB reads the line "<field>: <n> kB" of a /proc/<pid>/status
// and returns n in bytes.
func parseStatusKB(r io.Reader, field string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%s line %q: want \"<n> kB\"", field, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s line %q: %w", field, sc.Text(), err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line in the process status", field)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// harness lets the benchmarks use the repository's test harnesses —
// shared/lambdatest (a local Lambda Runtime API running real bootstraps),
// shared/awsfake (the AWS wire fakes) and shared/dynalitetest — which take
// a testing.TB, from a program. It implements testing.TB as a test does:
// Fatal and Skip end the calling goroutine (do runs each step on its own),
// Cleanup functions run last-in first-out at close, and every failure is
// collected into do's or close's error. The embedded TB is nil; it only
// supplies testing.TB's unexported method.
type harness struct {
	testing.TB

	name   string
	dir    string
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	cleanups []func()
	errs     []string
	logs     []string
	failed   bool
	skipped  bool
	tmp      int
}

// newHarness returns a harness whose Context ends with ctx or at close and
// whose TempDirs are under dir.
func newHarness(ctx context.Context, name, dir string) *harness {
	ctx, cancel := context.WithCancel(ctx)
	return &harness{name: name, dir: dir, ctx: ctx, cancel: cancel}
}

// do runs fn as a test body runs: on its own goroutine, which Fatal and
// Skip end. It returns the failures reported while fn ran.
func (h *harness) do(fn func()) error {
	h.mu.Lock()
	first := len(h.errs)
	h.skipped = false
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) > first {
		return errors.New(strings.Join(h.errs[first:], "; "))
	}
	if h.skipped {
		return errors.New("skipped: " + strings.Join(h.logs, "; "))
	}
	return nil
}

// close ends the Context, runs the cleanups (last registered first) and
// returns the failures reported during them.
func (h *harness) close() error {
	h.cancel()
	h.mu.Lock()
	first := len(h.errs)
	h.mu.Unlock()
	for {
		h.mu.Lock()
		n := len(h.cleanups)
		if n == 0 {
			h.mu.Unlock()
			break
		}
		fn := h.cleanups[n-1]
		h.cleanups = h.cleanups[:n-1]
		h.mu.Unlock()
		done := make(chan struct{})
		go func() { // a cleanup may call Fatal
			defer close(done)
			fn()
		}()
		<-done
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) > first {
		return errors.New(strings.Join(h.errs[first:], "; "))
	}
	return nil
}

func (h *harness) record(msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed = true
	h.errs = append(h.errs, msg)
}

// ArtifactDir implements testing.TB: a fresh directory, as TempDir.
func (h *harness) ArtifactDir() string { return h.TempDir() }

// Attr implements testing.TB; attributes are dropped.
func (h *harness) Attr(key, value string) {}

// Cleanup implements testing.TB.
func (h *harness) Cleanup(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cleanups = append(h.cleanups, fn)
}

// Error implements testing.TB.
func (h *harness) Error(args ...any) { h.record(strings.TrimSuffix(fmt.Sprintln(args...), "\n")) }

// Errorf implements testing.TB.
func (h *harness) Errorf(format string, args ...any) { h.record(fmt.Sprintf(format, args...)) }

// Fail implements testing.TB.
func (h *harness) Fail() { h.record(h.name + " failed") }

// FailNow implements testing.TB: it ends the calling goroutine.
func (h *harness) FailNow() {
	h.Fail()
	runtime.Goexit()
}

// Failed implements testing.TB.
func (h *harness) Failed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed
}

// Fatal implements testing.TB: it records the failure and ends the calling
// goroutine.
func (h *harness) Fatal(args ...any) {
	h.Error(args...)
	runtime.Goexit()
}

// Fatalf implements testing.TB: it records the failure and ends the
// calling goroutine.
func (h *harness) Fatalf(format string, args ...any) {
	h.Errorf(format, args...)
	runtime.Goexit()
}

// Helper implements testing.TB.
func (h *harness) Helper() {}

// Log implements testing.TB: lines are kept for a skip's error.
func (h *harness) Log(args ...any) { h.Logf("%s", strings.TrimSuffix(fmt.Sprintln(args...), "\n")) }

// Logf implements testing.TB.
func (h *harness) Logf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, fmt.Sprintf(format, args...))
	if len(h.logs) > 50 {
		h.logs = h.logs[len(h.logs)-50:]
	}
}

// Name implements testing.TB.
func (h *harness) Name() string { return h.name }

// Setenv implements testing.TB: it sets the variable for the process and
// restores it at close.
func (h *harness) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		h.Fatalf("setenv %s: %v", key, err)
	}
	h.Cleanup(func() {
		if had {
			_ = os.Setenv(key, old)
		} else {
			_ = os.Unsetenv(key)
		}
	})
}

// Chdir implements testing.TB; a benchmark must not change the process's
// directory, so it fails.
func (h *harness) Chdir(dir string) { h.Fatalf("harness: Chdir(%q) is not supported", dir) }

// Skip implements testing.TB: a harness that skips (a missing tool) fails
// the step with the reason.
func (h *harness) Skip(args ...any) {
	h.Log(args...)
	h.SkipNow()
}

// SkipNow implements testing.TB.
func (h *harness) SkipNow() {
	h.mu.Lock()
	h.skipped = true
	h.mu.Unlock()
	runtime.Goexit()
}

// Skipf implements testing.TB.
func (h *harness) Skipf(format string, args ...any) {
	h.Logf(format, args...)
	h.SkipNow()
}

// Skipped implements testing.TB.
func (h *harness) Skipped() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.skipped
}

// TempDir implements testing.TB: a fresh directory under the benchmark's
// scratch directory, removed at close.
func (h *harness) TempDir() string {
	h.mu.Lock()
	h.tmp++
	n := h.tmp
	h.mu.Unlock()
	d, err := os.MkdirTemp(h.dir, fmt.Sprintf("%s-%03d-", h.name, n))
	if err != nil {
		h.Fatalf("harness: TempDir: %v", err)
	}
	h.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// Context implements testing.TB: it ends at close.
func (h *harness) Context() context.Context { return h.ctx }

// Output implements testing.TB: output is kept as log lines.
func (h *harness) Output() io.Writer { return harnessWriter{h} }

type harnessWriter struct{ h *harness }

func (w harnessWriter) Write(p []byte) (int, error) {
	w.h.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
