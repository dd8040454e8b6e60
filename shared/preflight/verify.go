package preflight

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/verify"
)

// CheckLatestVerify is the latest verify result (shared/verify) read from
// production: information about the rollback target's data, not a
// condition of the rollback path. It is in the report only when a verify
// run has finished against production, or when its result could not be
// read.
const CheckLatestVerify = "latest-verify"

const titleLatestVerify = "latest verify of the rollback target's data against production"

// latestVerifyTimeout bounds the read of the latest verify result.
const latestVerifyTimeout = 10 * time.Second

// latestVerifyFrom reads the newest finished verify run from production
// (switchback.verify_run, against any rollback target) and checks it; ok
// is false when there is none (nothing to report).
func latestVerifyFrom(ctx context.Context, prod *replication.Server, now time.Time) (Check, bool) {
	ctx, cancel := context.WithTimeout(ctx, latestVerifyTimeout)
	defer cancel()
	rep, err := verify.Latest(ctx, prod.DB(), "")
	return checkLatestVerify(rep, err, now)
}

// checkLatestVerify judges the latest verify report: pass when every
// table was compared and equal, warn when a table differs, could not be
// compared or was left out (--tables),
// skip when it could not be read; ok is false when there is none.
func checkLatestVerify(rep *verify.Report, err error, now time.Time) (Check, bool) {
	c := Check{ID: CheckLatestVerify, Title: titleLatestVerify}
	switch {
	case err != nil:
		c.Status, c.Evidence = Skip, "not checked: the latest verify result could not be read from production: "+err.Error()
		return c, true
	case rep == nil:
		return c, false
	}
	when := "finished " + rep.FinishedAt.UTC().Format(time.RFC3339)
	if age := now.Sub(rep.FinishedAt); age >= time.Minute {
		when += fmt.Sprintf(" (%s ago)", roundAge(age))
	}
	run := fmt.Sprintf("run %s of %s against production %s, %s", rep.RunID, rep.Rollback, rep.Production, when)
	switch {
	case rep.Outcome == verify.OutcomeEqual && len(rep.Scope) > 0:
		c.Status, c.Evidence = Warn, run+": "+rep.Reason+", but it compared only "+strings.Join(rep.Scope, ", ")
		c.Fix = "run switchback verify without --tables (or the verify function without \"tables\") to compare every table"
	case rep.Outcome == verify.OutcomeEqual:
		c.Status, c.Evidence = Pass, run+": "+rep.Reason
	case rep.Outcome == verify.OutcomeDiffering:
		c.Status, c.Evidence = Warn, run+": "+rep.Reason
		c.Fix = "the rollback target does not hold production's data in those tables: a rollback would make its version production's. " +
			"Find the differing rows (switchback verify --rows, or the verify function's payload with \"rows\": true), " +
			"repair or rebuild the rollback target, then verify again"
	case rep.Outcome == verify.OutcomeUnverified:
		c.Status, c.Evidence = Warn, run+": "+rep.Reason
		c.Fix = "see why each table could not be compared (switchback verify shows the reason per table: no usable key, a sync point " +
			"blocked by long transactions), fix it and verify again; until then the rollback target's copy of those tables is unproven"
	default:
		c.Status, c.Evidence = Warn, run+": outcome "+rep.Outcome+" "+strings.TrimSpace(rep.Reason)
		c.Fix = "run switchback verify again"
	}
	return c, true
}

// roundAge rounds an age for people: minutes under a day, else hours.
func roundAge(d time.Duration) time.Duration {
	if d < 24*time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Hour)
}
