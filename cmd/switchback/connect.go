package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/switchback/switchback/shared/replication"
)

// Environment variables the CLI reads. Secrets come from here rather than
// flags so they stay out of shell history and process listings.
const (
	envProductionDSN       = "SWITCHBACK_PRODUCTION_DSN"
	envRollbackDSN         = "SWITCHBACK_ROLLBACK_DSN"
	envReplicationPassword = "SWITCHBACK_REPLICATION_PASSWORD"
)

// pairFlags are the flags every command that talks to the two servers takes.
type pairFlags struct {
	production        string
	rollback          string
	dialect           string
	productionDialect string
	output            outputFormat
}

func (p *pairFlags) register(fs *flagSet) {
	p.output = outputText
	fs.Var(&dsnFlag{value: &p.production, name: "production", envVar: envProductionDSN, env: fs.env}, "production",
		"`DSN` of the new production writer, user:password@tcp(host:port)/; a password here is visible in process listings: prefer $"+envProductionDSN)
	fs.Var(&dsnFlag{value: &p.rollback, name: "rollback", envVar: envRollbackDSN, env: fs.env}, "rollback",
		"`DSN` of the rollback target (the old -oldN cluster's writer); a password here is visible in process listings: prefer $"+envRollbackDSN)
	fs.StringVar(&p.dialect, "dialect", "auto", "SQL dialect of the rollback target: auto, aurora-mysql-2, aurora-mysql-3, aurora-mysql-8.4, mysql, mariadb")
	fs.StringVar(&p.productionDialect, "production-dialect", "", "SQL dialect of production (default: --dialect)")
	fs.Var(&p.output, "output", "output format: `text|json`")
}

// connect opens both servers; closeBoth closes them. Errors never include
// a DSN.
func (p *pairFlags) connect(ctx context.Context, env *cliEnv) (prod, rb *replication.Server, closeBoth func(), err error) {
	prodDSN, rbDSN := p.production, p.rollback
	if prodDSN == "" {
		prodDSN = env.getenv(envProductionDSN)
	}
	if rbDSN == "" {
		rbDSN = env.getenv(envRollbackDSN)
	}
	if prodDSN == "" {
		return nil, nil, nil, fmt.Errorf("%w: production DSN missing: pass --production or set %s", errUsage, envProductionDSN)
	}
	if rbDSN == "" {
		return nil, nil, nil, fmt.Errorf("%w: rollback DSN missing: pass --rollback or set %s", errUsage, envRollbackDSN)
	}
	d, err := replication.ParseDialect(p.dialect)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: --dialect: %v", errUsage, err)
	}
	pd := d
	if p.productionDialect != "" {
		if pd, err = replication.ParseDialect(p.productionDialect); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: --production-dialect: %v", errUsage, err)
		}
	}
	prod, err = replication.Connect(ctx, "production", prodDSN, pd)
	if err != nil {
		return nil, nil, nil, err
	}
	rb, err = replication.Connect(ctx, "rollback target", rbDSN, d)
	if err != nil {
		prod.Close()
		return nil, nil, nil, err
	}
	return prod, rb, func() { prod.Close(); rb.Close() }, nil
}

// dsnFlag is --production or --rollback. A password in a command-line
// argument can be read by every user of the machine (ps, /proc/PID/cmdline)
// for as long as the command runs, and shells keep it in their history, so
// setting one prints a warning that names the flag and the environment
// variable to use instead; it never prints the DSN.
type dsnFlag struct {
	value  *string
	name   string
	envVar string
	env    *cliEnv
	warned bool
}

// String implements flag.Value. It never returns the DSN, which would
// print its password wherever the flag package shows a value.
func (f *dsnFlag) String() string { return "" }

// Set implements flag.Value.
func (f *dsnFlag) Set(dsn string) error {
	*f.value = dsn
	if dsnHasPassword(dsn) && !f.warned && f.env != nil {
		f.warned = true
		fmt.Fprintf(f.env.stderr, "switchback: warning: --%s carries a password, which other users of this machine can read in the process list (ps, /proc) while switchback runs, and which your shell may keep in its history; set %s instead of passing --%s\n",
			f.name, f.envVar, f.name)
	}
	return nil
}

// dsnHasPassword reports whether dsn (user:password@tcp(host:port)/)
// carries a password. A DSN the driver cannot parse counts when a colon
// comes before its last '@'.
func dsnHasPassword(dsn string) bool {
	if cfg, err := mysql.ParseDSN(dsn); err == nil {
		return cfg.Passwd != ""
	}
	at := strings.LastIndex(dsn, "@")
	return at > 0 && strings.Contains(dsn[:at], ":")
}
