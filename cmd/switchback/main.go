// Command switchback is the operator CLI of switchback: the rollback path that
// Amazon Aurora MySQL blue/green deployments do not ship. It runs the same
// engine as the Lambda functions, from a laptop or a bastion host, against any
// MySQL-compatible server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/switchback/switchback/shared/killpoint"
)

// command is one switchback subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what a command may touch: its streams and environment, so tests
// can run commands in-process.
type cliEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// hook is the engine's kill-point hook (shared/killpoint: set from
	// SWITCHBACK_KILL_AT, a test hook); nil does nothing.
	hook func(point string)
}

// errUsage marks an error caused by how the command was called; it exits 2.
var errUsage = errors.New("usage error")

// errRefusedExit marks a refusal (the command declined to act and changed
// nothing); it exits 3.
var errRefusedExit = errors.New("refused")

// errSilent marks a failure whose explanation has already been printed.
var errSilent = errors.New("failed")

func commands() []command {
	return []command{
		{name: "explain-event", summary: "show what switchback makes of one RDS EventBridge event", run: runExplainEvent},
		{name: "configure", summary: "set up verified reverse replication from production into the rollback target", run: runConfigure},
		{name: "status", summary: "tell whether rollback is possible now: threads, lag, probe, verdict", run: runStatus},
		{name: "demo", summary: "switchover, then rollback under load with zero loss, on two local MariaDB servers", run: runDemo},
		{name: "rollback", summary: "plan, or with --execute perform, the zero-loss cutover to the rollback target", run: runRollback},
		{name: "history", summary: "show a deployment's record and step history from the state table (DynamoDB)", run: runHistory},
		{name: "verify", summary: "compare the rollback target's data with production's, online, chunk by chunk", run: runVerify},
		{name: "preflight", summary: "check both writers before a switchover: binlog format and retention, privileges, newer→older hazards", run: runPreflight},
	}
}

func main() {
	// A test hook, read once: SWITCHBACK_KILL_AT=<point>[#<n>] kills the
	// process at that kill point (see shared/killpoint).
	hook, err := killpoint.FromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "switchback: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, hook: hook})
	stop()
	os.Exit(code)
}

// run executes one CLI invocation and returns the process exit code:
// 0 success, 1 failure, 2 usage error, 3 refused (nothing changed).
func run(ctx context.Context, args []string, env *cliEnv) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, []string{args[1], "--help"}, env)
		}
		printUsage(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errHelp):
			return 0
		case errors.Is(err, errSilent):
			return 1
		case errors.Is(err, errRefusedExit):
			return 3
		case errors.Is(err, errUsage):
			fmt.Fprintf(env.stderr, "switchback %s: %v\nRun 'switchback %s --help' for usage.\n", c.name, err, c.name)
			return 2
		default:
			fmt.Fprintf(env.stderr, "switchback %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "switchback: unknown command %q\n\n", args[0])
	printUsage(env.stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `switchback — a safe, watched rollback path for Aurora MySQL blue/green deployments.

After a blue/green switchover, switchback replicates the new production back
into the old (-oldN) cluster, tells you at any moment whether rollback is
possible, and rolls back with zero data loss when you pull the lever.

Usage:
  switchback <command> [flags]

Commands:
`)
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every command takes --output json for machines and prints a readable form
for people. Run 'switchback <command> --help' for its flags.
`)
}

// outputFormat is the value of --output.
type outputFormat string

const (
	outputText outputFormat = "text"
	outputJSON outputFormat = "json"
)

// String implements flag.Value.
func (o *outputFormat) String() string { return string(*o) }

// Set implements flag.Value.
func (o *outputFormat) Set(s string) error {
	switch strings.ToLower(s) {
	case "text", "":
		*o = outputText
	case "json":
		*o = outputJSON
	default:
		return fmt.Errorf("unknown output format %q (want text or json)", s)
	}
	return nil
}
