package replication

import (
	"context"
	"fmt"
	"strings"
)

// ResetReplica stops the rollback target's replication and removes its
// configuration (Dialect.StopReplication, then Dialect.ResetSource: on
// Aurora CALL mysql.rds_stop_replication and rds_reset_external_master or
// _source), ending the rollback path. It touches only replication set up
// by switchback: a source user other than user (DefaultReplicationUser
// when "") is refused with an error wrapping ErrRefused, before anything
// changes. With no replication configured it does nothing
// (StepAlreadyDone): running it again is safe.
func ResetReplica(ctx context.Context, rollback *Server, user string) (StepOutcome, string, error) {
	if user == "" {
		user = DefaultReplicationUser
	}
	rs, err := rollback.ReplicaStatus(ctx)
	if err != nil {
		return "", "", err
	}
	if !rs.Configured {
		return StepAlreadyDone, "the rollback target has no replication source configured", nil
	}
	if rs.SourceUser != user {
		return "", "", fmt.Errorf("%w: %s replicates from %s:%d as %q, not as switchback's %q: that replication is not switchback's, so it is left alone",
			ErrRefused, rollback, rs.SourceHost, rs.SourcePort, rs.SourceUser, user)
	}
	was := fmt.Sprintf("from %s:%d as %s, read up to %s:%d, applied up to %s:%d",
		rs.SourceHost, rs.SourcePort, rs.SourceUser, rs.SourceLogFile, rs.ReadSourceLogPos, rs.RelaySourceLogFile, rs.ExecSourceLogPos)
	if err := rollback.exec(ctx, rollback.Dialect.StopReplication()); err != nil {
		return "", "", withHint(err)
	}
	for _, st := range rollback.Dialect.ResetSource() {
		if err := rollback.exec(ctx, st); err != nil {
			return "", "", withHint(err)
		}
	}
	after, err := rollback.ReplicaStatus(ctx)
	if err != nil {
		return "", "", err
	}
	if after.Configured {
		return "", "", fmt.Errorf("%s still reports a replication source after the reset", rollback)
	}
	return StepDone, "stopped and removed replication " + was, nil
}

// DropReplicationUser drops switchback's replication user (user@host;
// DefaultReplicationUser@DefaultReplicationUserHost when empty) from
// production. An account that has more than the replication privileges
// switchback gives its user is not switchback's: it is refused (the error
// wraps ErrRefused) and left alone. No such account is StepAlreadyDone.
func DropReplicationUser(ctx context.Context, prod *Server, user, host string) (StepOutcome, string, error) {
	if user == "" {
		user = DefaultReplicationUser
	}
	if host == "" {
		host = DefaultReplicationUserHost
	}
	for _, v := range []string{user, host} {
		if _, err := quoteString(v); err != nil {
			return "", "", fmt.Errorf("%w: replication user %q@%q: %v", ErrInvalidArgument, user, host, err)
		}
	}
	acct := accountLiteral(user, host)
	lines, exists, err := showGrants(ctx, prod, user, host)
	if err != nil {
		return "", "", err
	}
	if !exists {
		return StepAlreadyDone, "production has no user " + acct, nil
	}
	if have, ok := replicationGrantsExact(lines); !ok {
		return "", "", fmt.Errorf("%w: %s on production has %s, more than switchback's replication user is given: not dropped",
			ErrRefused, acct, strings.Join(have, ", "))
	}
	connected := replicasUsing(ctx, prod, user)
	drop := "DROP USER IF EXISTS " + acct + " /* switchback */"
	if err := prod.exec(ctx, Statement{SQL: drop, Display: drop}); err != nil {
		return "", "", withHint(err)
	}
	detail := "dropped " + acct
	if connected > 0 {
		detail += fmt.Sprintf(" (%d replica session(s) still connected as it keep running until they disconnect)", connected)
	}
	return StepDone, detail, nil
}
