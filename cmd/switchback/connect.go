package main

import (
	"context"
	"fmt"

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
	fs.StringVar(&p.production, "production", "", "DSN of the new production writer, user:password@tcp(host:port)/ (or $"+envProductionDSN+")")
	fs.StringVar(&p.rollback, "rollback", "", "DSN of the rollback target (the old -oldN cluster's writer) (or $"+envRollbackDSN+")")
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
