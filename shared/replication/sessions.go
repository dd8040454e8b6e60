package replication

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"
	"sync"
)

// sessionSet is the connection ids of one Server's own sessions.
type sessionSet struct {
	mu  sync.Mutex
	ids map[int64]bool
}

func (s *sessionSet) add(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = true
}

// has reports whether id is one of switchback's own sessions.
func (s *sessionSet) has(id int64) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// trackingConnector records the connection id of every session it opens.
type trackingConnector struct {
	driver.Connector
	own *sessionSet
}

// Connect implements driver.Connector.
func (c trackingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return conn, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT CONNECTION_ID()", nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer rows.Close()
	vals := make([]driver.Value, 1)
	if err := rows.Next(vals); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read the new session's CONNECTION_ID(): %w", err)
	}
	var id int64
	switch v := vals[0].(type) {
	case int64:
		id = v
	case uint64:
		id = int64(v)
	case []byte:
		if id, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			conn.Close()
			return nil, fmt.Errorf("read the new session's CONNECTION_ID(): %w", err)
		}
	default:
		conn.Close()
		return nil, fmt.Errorf("read the new session's CONNECTION_ID(): unexpected %T", v)
	}
	c.own.add(id)
	return conn, nil
}
