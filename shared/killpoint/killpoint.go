// Package killpoint is a test hook for the switchback binaries (the CLI and
// the rollback and configure functions): with the environment variable
// SWITCHBACK_KILL_AT=<point>[#<n>] set, the process kills itself with
// SIGKILL — no deferred cleanup, no lock released by hand, no abort — the
// n-th time (default 1) the engine reaches that kill point
// (replication.KillPoints: every step boundary of a rollback or configure
// and every pass of every wait). The tests that kill switchback at every
// point and run the same command again use it (RELIABILITY.md). Unset, it
// does nothing: the hook is nil and the engine skips it.
//
// It is not an operator setting and is not shown in --help.
package killpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/switchback/switchback/shared/replication"
)

// Env is the environment variable the binaries read once at start.
const Env = "SWITCHBACK_KILL_AT"

// Parse reads "<point>[#<n>]": a registered kill point and which time it
// is reached (n ≥ 1, default 1).
func Parse(spec string) (point string, n int, err error) {
	point, count, hasCount := strings.Cut(strings.TrimSpace(spec), "#")
	n = 1
	if hasCount {
		if n, err = strconv.Atoi(count); err != nil || n < 1 {
			return "", 0, fmt.Errorf("%s=%q: the count after # must be a whole number from 1", Env, spec)
		}
	}
	if !replication.IsKillPoint(point) {
		return "", 0, fmt.Errorf("%s=%q: %q is not a kill point (see replication.KillPoints)", Env, spec, point)
	}
	return point, n, nil
}

// New returns a hook for RollbackRequest.Hook and ConfigureRequest.Hook
// that calls kill the n-th time it is called with point. It is safe for
// concurrent use.
func New(point string, n int, kill func()) func(string) {
	var mu sync.Mutex
	seen := 0
	return func(p string) {
		if p != point {
			return
		}
		mu.Lock()
		seen++
		hit := seen == n
		mu.Unlock()
		if hit {
			kill()
		}
	}
}

// FromEnv reads SWITCHBACK_KILL_AT: nil (no hook) when it is unset or
// empty; an error when it names no kill point. The hook it returns writes
// one line to stderr ("switchback: SWITCHBACK_KILL_AT: killed at
// <point>#<n>", so a test can tell where the process died) and sends
// SIGKILL to its own process.
func FromEnv() (func(string), error) {
	spec := os.Getenv(Env)
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	point, n, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	return New(point, n, func() { Kill(fmt.Sprintf("%s#%d", point, n)) }), nil
}

// Kill writes where the process dies to stderr and SIGKILLs it. It does
// not return.
func Kill(where string) {
	fmt.Fprintf(os.Stderr, "switchback: %s: killed at %s\n", Env, where)
	killSelf()
	select {} // the signal is being delivered; never go on
}
