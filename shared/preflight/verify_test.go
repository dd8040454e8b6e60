package preflight

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/verify"
)

// The latest verify result is information: pass when equal, warn (with
// the fix) when a table differs or could not be compared, skip when it
// cannot be read, and no check at all when no run has finished.
func TestCheckLatestVerify(t *testing.T) {
	now := time.Date(2026, 3, 9, 14, 33, 0, 0, time.UTC)
	run := func(outcome, reason string) *verify.Report {
		return &verify.Report{RunID: "0123abcd", Outcome: outcome, Reason: reason, Production: "orders-prod:3306",
			Rollback: "orders-prod-old1:3306", FinishedAt: now.Add(-3 * time.Hour)}
	}
	cases := []struct {
		name   string
		rep    *verify.Report
		err    error
		status Status
		want   []string // in the evidence
		fix    string
	}{
		{"equal", run(verify.OutcomeEqual, "all 12 tables are equal"), nil, Pass,
			[]string{"run 0123abcd of orders-prod-old1:3306 against production orders-prod:3306", "finished 2026-03-09T11:33:00Z (3h0m0s ago)", "all 12 tables are equal"}, ""},
		{"differing", run(verify.OutcomeDiffering, "1 of 12 tables differ: shop.orders (differing)"), nil, Warn,
			[]string{"1 of 12 tables differ: shop.orders (differing)"}, "switchback verify --rows"},
		{"unverified", run(verify.OutcomeUnverified, "no difference found, but 1 of 12 tables could not be compared: shop.log"), nil, Warn,
			[]string{"could not be compared: shop.log"}, "see why each table could not be compared"},
		{"equal, but only some tables", func() *verify.Report {
			r := run(verify.OutcomeEqual, "all 1 tables are equal")
			r.Scope = []string{"shop.orders"}
			return r
		}(), nil, Warn, []string{"but it compared only shop.orders"}, "without --tables"},
		{"unreadable", nil, errors.New("read the latest verify result: Error 1142: SELECT command denied"), Skip,
			[]string{"could not be read from production", "SELECT command denied"}, ""},
	}
	for _, c := range cases {
		got, ok := checkLatestVerify(c.rep, c.err, now)
		if !ok || got.ID != CheckLatestVerify || got.Status != c.status {
			t.Errorf("%s: %+v (%v); want %s", c.name, got, ok, c.status)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(got.Evidence, w) {
				t.Errorf("%s: evidence %q lacks %q", c.name, got.Evidence, w)
			}
		}
		if !strings.Contains(got.Fix, c.fix) || (c.fix == "") != (got.Fix == "") {
			t.Errorf("%s: fix %q; want one containing %q", c.name, got.Fix, c.fix)
		}
	}
	if c, ok := checkLatestVerify(nil, nil, now); ok {
		t.Errorf("no verify run: %+v; want no check", c)
	}
	// A warning shows in the notification's WARN line, not as a failure.
	differing, _ := checkLatestVerify(run(verify.OutcomeDiffering, "1 of 1 tables differ"), nil, now)
	rep := Report{Deployment: "bgd-1", Production: "orders-prod", Rollback: "orders-prod-old1", Checks: []Check{differing}}
	rep.Verdict = Verdict(rep.Checks)
	subject, message := rep.Notification("")
	if rep.Verdict != Warn || !strings.Contains(subject, "WARN") || !strings.Contains(message, "WARN "+titleLatestVerify) {
		t.Errorf("verdict %s, notification %q / %q", rep.Verdict, subject, message)
	}
}
