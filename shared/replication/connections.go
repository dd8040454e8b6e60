package replication

import (
	"fmt"
	"strings"
)

// otherConnectionsRefusal returns an error wrapping ErrRefused when rs, the
// status s reported, lists replication connections other than the default
// one (MariaDB named connections, MySQL channels): each keeps applying
// another server's writes whatever switchback does with the default
// connection, so the server is not a copy of production alone. The error
// names every such connection and the statements that remove them. It
// returns nil when there is none.
func otherConnectionsRefusal(s *Server, rs ReplicaStatus) error {
	if len(rs.OtherConnections) == 0 {
		return nil
	}
	what := "a replication connection"
	if len(rs.OtherConnections) > 1 {
		what = "replication connections"
	}
	return fmt.Errorf("%w: %s has %s other than the default one switchback configures: %s; it applies another server's writes, before and after a rollback, and switchback's STOP/RESET statements do not touch it; remove it first (%s)",
		ErrRefused, s.Role, what, strings.Join(rs.OtherConnections, ", "), removeConnectionsHint(s.Dialect, rs.OtherConnectionNames))
}

// removeConnectionsHint names the statements that stop and remove the
// named (non-default) replication connections, without switchback's marker.
func removeConnectionsHint(d Dialect, names []string) string {
	var parts []string
	for _, name := range names {
		sts, err := d.ResetConnection(name)
		if err != nil {
			parts = append(parts, fmt.Sprintf("connection %q: %v", name, err))
			continue
		}
		for _, st := range sts {
			parts = append(parts, strings.TrimSuffix(st.Display, marker))
		}
	}
	return strings.Join(parts, "; ")
}
