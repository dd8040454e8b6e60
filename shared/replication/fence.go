package replication

import (
	"context"
	"fmt"
)

// Fencer turns a server's write fence (read-only mode) on and off and
// reports whether it is on. The SQL fencer below serves self-managed servers
// (SET GLOBAL read_only) and Aurora reached only through SQL
// (CALL mysql.rds_set_read_only); an Aurora parameter-group fencer plugs into
// the same interface.
type Fencer interface {
	// SetReadOnly turns the fence on or off. Turning it to the state it is
	// already in is a no-op.
	SetReadOnly(ctx context.Context, on bool) error
	// ReadOnly reports whether the fence is on.
	ReadOnly(ctx context.Context) (bool, error)
}

// SQLFencer fences a server through SQL, in the server's dialect.
type SQLFencer struct{ Server *Server }

// SetReadOnly implements Fencer.
func (f SQLFencer) SetReadOnly(ctx context.Context, on bool) error {
	for _, st := range f.Server.Dialect.SetReadOnly(on) {
		if err := f.Server.exec(ctx, st); err != nil {
			return withHint(err)
		}
	}
	return nil
}

// ReadOnly implements Fencer. The fence counts as on when read_only is on;
// super_read_only, where it exists, is reported by SetReadOnly's statements
// but read_only is what stops application users.
func (f SQLFencer) ReadOnly(ctx context.Context) (bool, error) {
	st := f.Server.Dialect.ReadOnlyQuery()
	cols, rows, err := f.Server.queryRows(ctx, st)
	if err != nil {
		return false, err
	}
	if len(rows) != 1 || len(cols) == 0 {
		return false, fmt.Errorf("%s: %s returned %d rows", f.Server, st.Display, len(rows))
	}
	v := rows[0][0]
	return v.Valid && (v.String == "1" || v.String == "ON"), nil
}
