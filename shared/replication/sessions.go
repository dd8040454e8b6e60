package replication

import (
	"context"
	"database/sql/driver"
	"io"
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
	if err := rows.Next(vals); err != nil && err != io.EOF {
		conn.Close()
		return nil, err
	}
	switch v := vals[0].(type) {
	case int64:
		c.own.add(v)
	case []byte:
		var id int64
		for _, b := range v {
			id = id*10 + int64(b-'0')
		}
		c.own.add(id)
	}
	return conn, nil
}
