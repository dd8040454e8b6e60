//go:build integration

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/leaktest"
	"github.com/switchback/switchback/shared/sandbox"
)

// generatedPassword is what replication.generatePassword and the demo's
// application password look like: crypto/rand.Text, 26 characters of the
// base32 alphabet.
var generatedPassword = regexp.MustCompile(`(^|[^A-Z2-7])[A-Z2-7]{26}($|[^A-Z2-7])`)

// A generated password is recognized (the detector itself is tested in
// shared/leaktest).
func TestGeneratedPasswordShape(t *testing.T) {
	if !generatedPassword.MatchString("password " + rand.Text() + ".") {
		t.Error("a generated password is not recognized")
	}
}

// TestIntegrationSecretsEverywhereCLI runs the real switchback binary
// through preflight, configure, status, the rollback dry run, the cutover
// with --reverse, status of the reversed pair and error paths (a wrong
// admin password, a malformed DSN, a DSN with a password as a flag), with
// distinctive passwords for the admin login of both servers, the
// replication user and a wrong login; then the demo, whose application
// and replication passwords are generated. No password appears, in any
// common encoding, in any line of stdout or stderr; the demo prints
// nothing shaped like a generated password.
func TestIntegrationSecretsEverywhereCLI(t *testing.T) {
	secrets := map[string]string{
		"admin":       leaktest.Password("admin"),
		"replication": leaktest.Password("repl"),
		"wrong":       leaktest.Password("wrong"),
	}
	const admin = "sbadmin"
	s := sandbox.StartT(t, 2, sandbox.Options{})
	blue, green := s[0], s[1]
	coords, err := sandbox.SimulateSwitchover(t.Context(), blue, green, func(db *sql.DB) error {
		for _, q := range []string{
			"CREATE USER '" + admin + "'@'%' IDENTIFIED BY '" + secrets["admin"] + "'",
			"GRANT ALL ON *.* TO '" + admin + "'@'%' WITH GRANT OPTION",
			"CREATE DATABASE shop",
			"CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(64))",
			"INSERT INTO shop.orders VALUES (1, 'seed')",
		} {
			if _, err := db.Exec(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bin := buildCLI(t)
	prodDSN, rbDSN := green.DSN(admin, secrets["admin"], ""), blue.DSN(admin, secrets["admin"], "")
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "USER=secrets-test"}
	pair := append([]string{"SWITCHBACK_PRODUCTION_DSN=" + prodDSN, "SWITCHBACK_ROLLBACK_DSN=" + rbDSN,
		"SWITCHBACK_REPLICATION_PASSWORD=" + secrets["replication"]}, base...)
	reversed := append([]string{"SWITCHBACK_PRODUCTION_DSN=" + rbDSN, "SWITCHBACK_ROLLBACK_DSN=" + prodDSN,
		"SWITCHBACK_REPLICATION_PASSWORD=" + secrets["replication"]}, base...)

	var transcript bytes.Buffer
	lines := 0
	// cli runs the binary and checks its exit status (anyPreflight: 0 or 3,
	// pass or warn, or fail: a preflight verdict is not what this tests).
	const anyPreflight = -1
	cli := func(env []string, wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := cmd.ProcessState.ExitCode()
		// The header names the command, not its arguments: a DSN flag's
		// password is the test's own input, not switchback's output.
		transcript.WriteString("$ switchback " + args[0] + "\n" + out.String() + errOut.String())
		lines += strings.Count(out.String()+errOut.String(), "\n")
		if code != wantCode && !(wantCode == anyPreflight && (code == 0 || code == 3)) {
			t.Fatalf("switchback %s: exit %d (%v); want %d\n%s\n%s", args[0], code, err, wantCode, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	position := strconv.FormatUint(coords.Position, 10)

	cli(pair, anyPreflight, "preflight", "--retention-hours", "1")
	cli(pair, anyPreflight, "preflight", "--retention-hours", "1", "--output", "json")
	if out := cli(pair, 0, "configure", "--binlog-file", coords.File, "--binlog-position", position); !strings.Contains(out, "created 'switchback_repl'") {
		t.Fatalf("configure did not create the replication user:\n%s", out)
	}
	cli(pair, 0, "configure", "--binlog-file", coords.File, "--binlog-position", position, "--output", "json")
	cli(pair, 0, "status")
	cli(pair, 0, "status", "--output", "json")
	cli(pair, 0, "rollback", "--allow-privileged-writers")
	cli(pair, 0, "rollback", "--allow-privileged-writers", "--output", "json")
	// Error paths: a wrong admin password, malformed DSNs that carry the
	// password, the password in a flag.
	wrong := append([]string{"SWITCHBACK_PRODUCTION_DSN=" + green.DSN(admin, secrets["wrong"], ""), "SWITCHBACK_ROLLBACK_DSN=" + rbDSN}, base...)
	if out := cli(wrong, 1, "status"); !strings.Contains(out, admin) {
		t.Errorf("a refused login is not named:\n%s", out)
	}
	cli(wrong, 1, "status", "--output", "json")
	cli(wrong, 1, "configure", "--binlog-file", coords.File, "--binlog-position", position)
	for _, dsn := range []string{
		admin + ":" + secrets["wrong"] + "@tcp(" + green.Addr(),
		admin + ":" + secrets["wrong"] + "@" + green.Addr() + "/",
		admin + ":" + secrets["wrong"] + "@tcp(" + green.Addr() + ")/?allowNativePasswords=maybe",
		admin + ":" + secrets["wrong"] + "@tcp(" + green.Addr() + ")/?no_such_variable=1",
	} {
		env := append([]string{"SWITCHBACK_PRODUCTION_DSN=" + dsn, "SWITCHBACK_ROLLBACK_DSN=" + rbDSN}, base...)
		cmd := exec.CommandContext(t.Context(), bin, "status", "--output", "json")
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() == 0 {
			t.Errorf("status with a malformed DSN exited 0:\n%s", out)
		}
		transcript.WriteString("$ switchback status (malformed DSN)\n" + string(out))
		lines += bytes.Count(out, []byte("\n"))
	}
	if out := cli(base, 0, "status", "--production", prodDSN, "--rollback", rbDSN, "--output", "json"); !strings.Contains(out, "carries a password") {
		t.Errorf("no warning for a password in --production:\n%s", out)
	}

	out := cli(pair, 0, "rollback", "--execute", "--reverse", "--allow-privileged-writers")
	if !strings.Contains(out, "Outcome: completed") {
		t.Fatalf("rollback --execute --reverse did not complete:\n%s", out)
	}
	cli(reversed, 0, "status", "--no-probe")
	cli(reversed, 0, "status", "--output", "json")

	// The passwords were in play: the old production replicates from the
	// new one as switchback_repl, which logs in with the replication password.
	repl, err := sql.Open("mysql", blue.DSN("switchback_repl", secrets["replication"], ""))
	if err != nil {
		t.Fatal(err)
	}
	defer repl.Close()
	if err := repl.PingContext(t.Context()); err != nil {
		t.Errorf("the replication user does not log in with the replication password: %v", err)
	}

	if found := leaktest.Find(transcript.String(), secrets); len(found) > 0 {
		t.Errorf("passwords in the CLI's output: %v\n%s", found, transcript.String())
	}
	if lines < 100 {
		t.Errorf("only %d lines of output collected", lines)
	}

	// The demo takes no password: the application's and the replication
	// user's are generated (crypto/rand.Text). None is printed.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	demo := exec.CommandContext(ctx, bin, "demo", "--phase-time", "300ms")
	demo.Env = base
	demoOut, err := demo.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, demoOut)
	}
	if !bytes.Contains(demoOut, []byte("(password generated)")) || !bytes.Contains(demoOut, []byte("PASS")) {
		t.Fatalf("the demo did not generate a replication password, or did not pass:\n%s", demoOut)
	}
	if m := generatedPassword.Find(demoOut); m != nil {
		t.Errorf("the demo printed something shaped like a generated password: %q\n%s", m, demoOut)
	}
	t.Logf("%d lines of CLI output and %d of the demo checked", lines, bytes.Count(demoOut, []byte("\n")))
}
