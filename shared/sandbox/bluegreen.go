package sandbox

import (
	"context"
	"database/sql"
	"fmt"
)

// Coordinates is a binary log file and position.
type Coordinates struct {
	File     string
	Position uint64
}

// SimulateSwitchover plays an Aurora blue/green deployment and its
// switchover on two fresh sandbox servers, the way RDS does it:
//
//  1. green starts replicating blue from blue's current position (the
//     deployment is created; both servers must hold the same data, as fresh
//     servers do);
//  2. seed, when non-nil, runs against blue (the production workload before
//     switchover) and green follows;
//  3. switchover: blue is fenced read-only, green catches up exactly to
//     blue's final position, green's replication is stopped and reset, and
//     green is made writable;
//  4. green's binary log coordinates at that moment are returned: what RDS
//     publishes as "Binary log coordinates in green environment after
//     switchover: file F and position P".
//
// Blue is left read-only, as RDS leaves the -old1 cluster.
func SimulateSwitchover(ctx context.Context, blue, green *Server, seed func(blueDB *sql.DB) error) (Coordinates, error) {
	blueDB, err := blue.Open()
	if err != nil {
		return Coordinates{}, err
	}
	defer blueDB.Close()
	greenDB, err := green.Open()
	if err != nil {
		return Coordinates{}, err
	}
	defer greenDB.Close()

	start, err := readMasterStatus(ctx, blueDB)
	if err != nil {
		return Coordinates{}, fmt.Errorf("sandbox: blue: %w", err)
	}
	// CHANGE MASTER takes no placeholders; every value here comes from the
	// sandbox itself, not from user input.
	if _, err := greenDB.ExecContext(ctx, fmt.Sprintf(
		"CHANGE MASTER TO MASTER_HOST = '%s', MASTER_PORT = %d, MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_LOG_FILE = '%s', MASTER_LOG_POS = %d, MASTER_CONNECT_RETRY = 1",
		blue.Host, blue.Port, start.File, start.Position)); err != nil {
		return Coordinates{}, fmt.Errorf("sandbox: green: point at blue: %w", err)
	}
	for _, q := range []string{"START SLAVE", "SET GLOBAL read_only = 1"} {
		if _, err := greenDB.ExecContext(ctx, q); err != nil {
			return Coordinates{}, fmt.Errorf("sandbox: green: %s: %w", q, err)
		}
	}
	if seed != nil {
		if err := seed(blueDB); err != nil {
			return Coordinates{}, fmt.Errorf("sandbox: seed blue: %w", err)
		}
	}
	// Switchover: stop writes on blue, let green catch up exactly, promote green.
	if _, err := blueDB.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
		return Coordinates{}, fmt.Errorf("sandbox: fence blue: %w", err)
	}
	final, err := readMasterStatus(ctx, blueDB)
	if err != nil {
		return Coordinates{}, fmt.Errorf("sandbox: blue: %w", err)
	}
	var waited sql.NullInt64
	if err := greenDB.QueryRowContext(ctx, "SELECT MASTER_POS_WAIT(?, ?, 30)", final.File, final.Position).Scan(&waited); err != nil {
		return Coordinates{}, fmt.Errorf("sandbox: green: wait for blue's %s:%d: %w", final.File, final.Position, err)
	}
	if !waited.Valid || waited.Int64 < 0 {
		return Coordinates{}, fmt.Errorf("sandbox: green did not catch up with blue's %s:%d (MASTER_POS_WAIT = %v)", final.File, final.Position, waited)
	}
	for _, q := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"} {
		if _, err := greenDB.ExecContext(ctx, q); err != nil {
			return Coordinates{}, fmt.Errorf("sandbox: green: %s: %w", q, err)
		}
	}
	coords, err := readMasterStatus(ctx, greenDB)
	if err != nil {
		return Coordinates{}, fmt.Errorf("sandbox: green: %w", err)
	}
	return coords, nil
}

func readMasterStatus(ctx context.Context, db *sql.DB) (Coordinates, error) {
	var c Coordinates
	var doDB, ignoreDB sql.NullString
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&c.File, &c.Position, &doDB, &ignoreDB); err != nil {
		return Coordinates{}, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	return c, nil
}
