package lambdaenv_test

import (
	"testing"

	"github.com/switchback/switchback/shared/lambdaenv"
	"github.com/switchback/switchback/shared/orchestrate"
)

// The TLS modes are handed to orchestrate.MySQLConnector as they are.
func TestTLSModesMatchConnector(t *testing.T) {
	for _, m := range [][2]string{
		{lambdaenv.TLSVerify, orchestrate.TLSVerify},
		{lambdaenv.TLSSkipVerify, orchestrate.TLSSkipVerify},
		{lambdaenv.TLSOff, orchestrate.TLSOff},
	} {
		if m[0] != m[1] {
			t.Errorf("lambdaenv TLS mode %q, orchestrate %q", m[0], m[1])
		}
	}
}

// Config.OptedIn is the orchestrator's opt-in rule.
var _ func(string, map[string]string) (bool, string) = lambdaenv.Config{}.OptedIn
