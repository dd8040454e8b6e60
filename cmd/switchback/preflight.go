package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/go-sql-driver/mysql"

	"github.com/switchback/switchback/shared/preflight"
	"github.com/switchback/switchback/shared/replication"
)

const preflightDescription = `
Checks, before a blue/green switchover or at any time after it, whether the
rollback path can be built and trusted between two writers: the new
production (green before the switchover) and the rollback side (blue, or
the old -oldN cluster after it). Each check says pass, warn or fail with its
evidence and its fix (skip: it could not run, and why):

  - both writers reachable, and the logins work
  - production's login can create the replication user and grant it
    REPLICATION SLAVE and REPLICATION CLIENT, and read the binlog status
  - the rollback side's login can read the replica status and control
    replication (Aurora: EXECUTE on the mysql.rds_* procedures)
  - binlog_format is ROW on production (MIXED warns)
  - binlog retention on production covers --retention-hours (the rollback
    window); --fix sets it in place when it is short — the only change
    preflight ever makes
  - newer → older hazards: collations production uses that the rollback
    side lacks (utf8mb4_0900_* on 5.7), tables without a primary key, the
    replication user's authentication plugin (caching_sha2_password and a
    5.7 replica)

The parameter-group checks need the RDS API and are run by the preflight
Lambda function; here they are skipped.

DSNs may come from SWITCHBACK_PRODUCTION_DSN and SWITCHBACK_ROLLBACK_DSN.
An unreachable writer is a failed check, not an error.

Exit status: 0 pass or warn, 3 fail, 2 usage, 1 other errors.

JSON keys: production, rollback, verdict, checks (id, title, status,
evidence, fix, fixed), time.
`

func runPreflight(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "preflight", "--production DSN --rollback DSN [--retention-hours N] [--fix] [flags]", preflightDescription)
	var pf pairFlags
	pf.register(fs)
	retention := fs.Int("retention-hours", replication.DefaultRetentionHours, "binlog retention production must keep: the rollback window, in hours (1–2160)")
	fix := fs.Bool("fix", false, "set production's binlog retention to --retention-hours when it is shorter")
	user := fs.String("replication-user", replication.DefaultReplicationUser, "replication user configure creates on production")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *retention < 1 || *retention > replication.MaxRetentionHours {
		return fmt.Errorf("%w: --retention-hours %d must be between 1 and %d", errUsage, *retention, replication.MaxRetentionHours)
	}
	prodSide, rbSide, err := pf.open(ctx, env)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range []preflight.Side{prodSide, rbSide} {
			if s.Server != nil {
				s.Server.Close()
			}
		}
	}()
	rep := preflight.Run(ctx, preflight.Inputs{
		Production: prodSide,
		Rollback:   rbSide,
		Settings:   preflight.Settings{RetentionHours: *retention, Fix: *fix, ReplicationUser: *user},
	})
	if pf.output == outputJSON {
		if err := writeJSON(env.stdout, rep); err != nil {
			return err
		}
	} else {
		writePreflight(env.stdout, rep)
	}
	if rep.Verdict == preflight.Fail {
		return errRefusedExit
	}
	return nil
}

// open opens both writers as preflight sides: a writer that cannot be
// opened is a side with its error (a failed check), not an error. Errors
// are usage errors only, and never include a DSN.
func (p *pairFlags) open(ctx context.Context, env *cliEnv) (prod, rb preflight.Side, err error) {
	prodDSN, rbDSN := p.production, p.rollback
	if prodDSN == "" {
		prodDSN = env.getenv(envProductionDSN)
	}
	if rbDSN == "" {
		rbDSN = env.getenv(envRollbackDSN)
	}
	if prodDSN == "" {
		return prod, rb, fmt.Errorf("%w: production DSN missing: pass --production or set %s", errUsage, envProductionDSN)
	}
	if rbDSN == "" {
		return prod, rb, fmt.Errorf("%w: rollback DSN missing: pass --rollback or set %s", errUsage, envRollbackDSN)
	}
	d, err := replication.ParseDialect(p.dialect)
	if err != nil {
		return prod, rb, fmt.Errorf("%w: --dialect: %v", errUsage, err)
	}
	pd := d
	if p.productionDialect != "" {
		if pd, err = replication.ParseDialect(p.productionDialect); err != nil {
			return prod, rb, fmt.Errorf("%w: --production-dialect: %v", errUsage, err)
		}
	}
	side := func(role, dsn string, d replication.Dialect) preflight.Side {
		s := preflight.Side{Addr: dsnAddr(dsn)}
		s.Name = s.Addr
		s.Server, s.ConnectErr = replication.Connect(ctx, role, dsn, d)
		return s
	}
	return side("production", prodDSN, pd), side("rollback target", rbDSN, d), nil
}

// dsnAddr is the host:port of a DSN ("" when it cannot be parsed; the
// password is never part of it).
func dsnAddr(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return ""
	}
	if cfg.Net == "tcp" && cfg.Addr == "" {
		return "127.0.0.1:3306"
	}
	return cfg.Addr
}

var statusLabel = map[preflight.Status]string{preflight.Pass: "pass", preflight.Warn: "WARN", preflight.Fail: "FAIL", preflight.Skip: "skip"}

func writePreflight(w io.Writer, r preflight.Report) {
	fmt.Fprintf(w, "preflight: production %s → rollback %s\n\n", r.Production, r.Rollback)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tEVIDENCE")
	for _, c := range r.Checks {
		label := statusLabel[c.Status]
		if c.Fixed {
			label += " (fixed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", label, c.Title, strings.ReplaceAll(c.Evidence, "\n", " "))
	}
	tw.Flush()
	var fixes []preflight.Check
	for _, c := range r.Checks {
		if c.Fix != "" && (c.Status == preflight.Fail || c.Status == preflight.Warn) {
			fixes = append(fixes, c)
		}
	}
	if len(fixes) > 0 {
		fmt.Fprintln(w, "\nFixes:")
		for _, c := range fixes {
			fmt.Fprintf(w, "  %s %s:\n      %s\n", statusLabel[c.Status], c.Title, c.Fix)
		}
	}
	fails, warns := len(r.With(preflight.Fail)), len(r.With(preflight.Warn))
	fmt.Fprintf(w, "\n%s: %d failing, %d warning, %d passed, %d skipped\n", strings.ToUpper(string(r.Verdict)), fails, warns, len(r.With(preflight.Pass)), len(r.With(preflight.Skip)))
}
