// Command bench runs switchback's end-to-end benchmarks against real
// MariaDB servers started on this machine, prints a table to stdout and
// rewrites BENCHMARKS.md: configure latency, rollback write downtime at a
// paced and at a saturating write load, lag accuracy, the monitor's cost
// and switchback's footprint. Every figure stands next to its floor — the
// same job done with bare SQL statements, measured in the same run — and
// the ratio between them, because the machine is small and shared.
//
//	go run ./tools/bench -o BENCHMARKS.md        # what `make bench` runs
//	go run ./tools/bench -quick                  # smoke run, writes nothing
//	go run ./tools/bench -only configure -runs 50
//
// Progress goes to stderr. The exit status is 1 when a benchmark failed
// (BENCHMARKS.md is then left as it was), 2 on a usage error.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// quickRuns is the number of runs per figure of a -quick run.
const quickRuns = 3

// benchmarks is the list main runs, in this order.
var benchmarks = []benchmark{
	{Name: "configure", Run: benchConfigure},
	{Name: "downtime-500", Run: benchDowntime500},
	{Name: "downtime-saturating", Run: benchDowntimeSaturating},
	{Name: "lag", Run: benchLagAccuracy},
	{Name: "monitor", Run: benchMonitorCost},
	{Name: "footprint", Run: benchFootprint},
}

// benchmarkNames lists the benchmarks' names in order.
func benchmarkNames() []string {
	names := make([]string, len(benchmarks))
	for i, b := range benchmarks {
		names[i] = b.Name
	}
	return names
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	out       string
	outSet    bool
	runs      int
	quick     bool
	only      []string
	benchList []benchmark
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./tools/bench [flags]\n\nRuns switchback's benchmarks (%s) against real MariaDB servers,\nprints a table and rewrites BENCHMARKS.md.\n\n", strings.Join(benchmarkNames(), ", "))
		fs.PrintDefaults()
	}
	var o options
	fs.StringVar(&o.out, "o", "BENCHMARKS.md", "the Markdown `file` to rewrite (not with -quick; with -only only when given explicitly)")
	fs.IntVar(&o.runs, "runs", 20, "repetitions per figure (default 3 with -quick)")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: few runs, short holds, small loads; prints the table, writes no file")
	fs.BoolVar(&pinCPUs, "pin", true, "downtime benchmarks: run production (with the writers) and the rollback target on separate halves of the CPUs, as separate clusters would")
	only := fs.String("only", "", "comma-separated `names` of the benchmarks to run (default all): "+strings.Join(benchmarkNames(), ","))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	runsSet := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "o":
			o.outSet = true
		case "runs":
			runsSet = true
		}
	})
	if o.quick && !runsSet {
		o.runs = quickRuns
	}
	if o.runs < 1 {
		return o, fmt.Errorf("-runs %d: want at least 1", o.runs)
	}
	o.benchList = benchmarks
	if *only != "" {
		o.benchList = nil
		for _, name := range strings.Split(*only, ",") {
			name = strings.TrimSpace(name)
			i := slices.IndexFunc(benchmarks, func(b benchmark) bool { return b.Name == name })
			if i < 0 {
				return o, fmt.Errorf("-only: no benchmark %q (have %s)", name, strings.Join(benchmarkNames(), ", "))
			}
			o.only = append(o.only, name)
			o.benchList = append(o.benchList, benchmarks[i])
		}
	}
	return o, nil
}

// writesFile reports whether this run rewrites the Markdown file, and why
// not when it does not.
func (o options) writesFile() (bool, string) {
	switch {
	case o.quick:
		return false, "a -quick run writes no file"
	case len(o.only) > 0 && !o.outSet:
		return false, "-only without -o writes no file (it would drop the other benchmarks' sections)"
	case o.out == "":
		return false, "-o is empty"
	}
	return true, ""
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	started := time.Now()
	var mu sync.Mutex
	progress := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "[%7.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, a...))
	}
	work, err := os.MkdirTemp("", "switchback-bench-")
	if err != nil {
		fmt.Fprintf(stderr, "bench: scratch directory: %v\n", err)
		return 1
	}
	defer os.RemoveAll(work)

	rep := report{Machine: readMachine(started), Command: command(o), Runs: o.runs, Quick: o.quick}
	failed := 0
	for i, b := range o.benchList {
		if ctx.Err() != nil {
			break
		}
		progress("== %s (%d/%d)", b.Name, i+1, len(o.benchList))
		cfg := benchConfig{
			Runs:    o.runs,
			Quick:   o.quick,
			WorkDir: work,
			Progress: func(format string, a ...any) {
				progress("%s: %s", b.Name, fmt.Sprintf(format, a...))
			},
		}
		t0 := time.Now()
		sec, err := b.Run(ctx, cfg)
		if sec.Took == 0 {
			sec.Took = time.Since(t0)
		}
		if err != nil {
			failed++
			err = fmt.Errorf("%s: %w", b.Name, err)
			progress("FAILED %v", err)
		} else {
			progress("done %s in %s", b.Name, sec.Took.Round(100*time.Millisecond))
		}
		rep.Results = append(rep.Results, result{Name: b.Name, Section: sec, Err: err})
	}
	rep.Took = time.Since(started)
	writeTable(stdout, rep)

	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "bench: interrupted (%v); %s left as it was\n", context.Cause(ctx), o.out)
		return 1
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "bench: %d of %d benchmarks failed; %s left as it was\n", failed, len(o.benchList), o.out)
		return 1
	}
	if ok, why := o.writesFile(); !ok {
		fmt.Fprintf(stderr, "bench: %s\n", why)
		return 0
	}
	var buf bytes.Buffer
	renderMarkdown(&buf, rep)
	if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "bench: write %s: %v\n", o.out, err)
		return 1
	}
	fmt.Fprintf(stderr, "bench: wrote %s\n", o.out)
	return 0
}

// command is the command line that reproduces this report.
func command(o options) string {
	if len(o.only) == 0 && o.runs == 20 && !o.quick && pinCPUs {
		return "make bench"
	}
	parts := []string{"go run ./tools/bench"}
	if o.quick {
		parts = append(parts, "-quick")
	}
	if len(o.only) > 0 {
		parts = append(parts, "-only "+strings.Join(o.only, ","))
	}
	if o.runs != 20 {
		parts = append(parts, fmt.Sprintf("-runs %d", o.runs))
	}
	if !pinCPUs {
		parts = append(parts, "-pin=false")
	}
	return strings.Join(parts, " ")
}
