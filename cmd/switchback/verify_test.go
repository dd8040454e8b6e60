package main

import (
	"strings"
	"testing"
)

// A server out of reach proves nothing: exit 3 (refused), never 1, which
// scripts read as "the data differs"; the password stays out of the
// message.
func TestVerifyUnreachableIsARefusal(t *testing.T) {
	env := map[string]string{
		envProductionDSN: "admin:Unreachable-Pw-7@tcp(127.0.0.1:1)/",
		envRollbackDSN:   "admin:Unreachable-Pw-7@tcp(127.0.0.1:2)/",
	}
	code, out, errOut := runCLI(t, "", env, "verify")
	if code != 3 || !strings.Contains(errOut, "refused, nothing compared") || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Fatalf("verify against a closed port: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "Unreachable-Pw-7") {
		t.Fatal("the password appeared in the output")
	}
}
