package sandbox

// TEST-ONLY: everything in this file emulates Aurora MySQL's replication
// stored procedures on a plain MariaDB sandbox so that code which drives
// Aurora through mysql.rds_* can be integration-tested locally. It is not a
// security boundary and not a faithful copy of Aurora; see README.md.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// AuroraVersion selects which procedure names InstallAuroraProcedures
// creates. TEST-ONLY.
type AuroraVersion int

const (
	// AuroraV2 (MySQL 5.7 compatible) names its procedures "…_master":
	// rds_set_external_master, rds_set_external_master_with_auto_position,
	// rds_reset_external_master.
	AuroraV2 AuroraVersion = 2
	// AuroraV3 (MySQL 8.0 compatible) names them "…_source":
	// rds_set_external_source, rds_set_external_source_with_auto_position,
	// rds_reset_external_source. The "_master" names are not installed.
	AuroraV3 AuroraVersion = 3
)

// String returns "Aurora MySQL v2" or "Aurora MySQL v3".
func (v AuroraVersion) String() string {
	switch v {
	case AuroraV2, AuroraV3:
		return fmt.Sprintf("Aurora MySQL v%d", int(v))
	}
	return fmt.Sprintf("AuroraVersion(%d)", int(v))
}

// term is the word in the version's procedure names: "master" or "source".
func (v AuroraVersion) term() string {
	if v == AuroraV2 {
		return "master"
	}
	return "source"
}

// AuroraAdminUser is the user name InstallAuroraProcedures creates, after
// Aurora's default master user name. TEST-ONLY.
const AuroraAdminUser = "admin"

// AuroraAdmin is the Aurora-like administrative user that
// InstallAuroraProcedures creates ('admin'@'%'). It can call every
// mysql.rds_* procedure but cannot change replication or read_only directly.
// TEST-ONLY.
type AuroraAdmin struct {
	// User is the user name, AuroraAdminUser.
	User string
	// Password is random per installation.
	Password string
	// Addr is the server's "127.0.0.1:port".
	Addr string
}

// DSN returns a go-sql-driver/mysql DSN for the admin user with db as the
// default database ("" for none).
func (a AuroraAdmin) DSN(db string) string {
	return dsnConfig(a.Addr, a.User, a.Password, db).FormatDSN()
}

// Open returns a *sql.DB logged in as the admin user. The caller closes it.
func (a AuroraAdmin) Open() (*sql.DB, error) {
	c, err := mysql.NewConnector(dsnConfig(a.Addr, a.User, a.Password, ""))
	if err != nil {
		return nil, fmt.Errorf("sandbox: open aurora admin: %w", err)
	}
	return sql.OpenDB(c), nil
}

// auroraAdminPrivileges is what the admin user gets ON *.* WITH GRANT OPTION:
// MariaDB 10.11's SHOW PRIVILEGES minus those that would let it bypass the
// procedures or read_only. Withheld: SUPER; READ_ONLY ADMIN (write while
// read_only=ON, SET GLOBAL read_only); REPLICATION SLAVE ADMIN (CHANGE MASTER,
// START/STOP SLAVE, gtid_slave_pos); BINLOG ADMIN (PURGE BINARY LOGS,
// sql_log_bin); BINLOG REPLAY (BINLOG '…' applies raw events); CONNECTION
// ADMIN; FEDERATED ADMIN; SET USER (could create a routine with a root
// DEFINER and so gain everything); SHUTDOWN and FILE (Aurora withholds them).
var auroraAdminPrivileges = []string{
	"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "RELOAD",
	"PROCESS", "REFERENCES", "INDEX", "ALTER", "SHOW DATABASES",
	"CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "REPLICATION SLAVE",
	"BINLOG MONITOR", // = REPLICATION CLIENT: SHOW MASTER STATUS, SHOW BINARY LOGS
	"SLAVE MONITOR",  // SHOW SLAVE STATUS
	"REPLICATION MASTER ADMIN", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE",
	"ALTER ROUTINE", "CREATE USER", "EVENT", "TRIGGER", "CREATE TABLESPACE",
	"DELETE HISTORY",
}

// InstallAuroraProcedures installs a TEST-ONLY emulation of Aurora MySQL's
// replication procedures for version v into the mysql schema of s, and
// creates (or re-creates) the admin user with a new random password.
//
// Procedures (SQL SECURITY DEFINER, definer root@localhost; <t> is "master"
// for AuroraV2 and "source" for AuroraV3):
//
//	rds_set_external_<t>(host_name, host_port, replication_user_name,
//	    replication_user_password, mysql_binary_log_file_name,
//	    mysql_binary_log_file_location, ssl_encryption)  -- CHANGE MASTER … MASTER_USE_GTID=no
//	rds_set_external_<t>_with_auto_position(host_name, host_port,
//	    replication_user_name, replication_user_password, ssl_encryption)  -- MASTER_USE_GTID=slave_pos
//	rds_reset_external_<t>()  -- STOP SLAVE; RESET SLAVE ALL
//	rds_start_replication(), rds_stop_replication()
//	rds_set_configuration(name, value), rds_show_configuration()  -- 'binlog retention hours' only
//	rds_set_read_only(mode)  -- SET GLOBAL read_only; AuroraV3 only (Aurora ≥ 3.06)
//
// Everything is created with sql_log_bin = 0, and the procedures write their
// bookkeeping (mysql.rds_history, mysql.rds_configuration) with sql_log_bin
// = 0, so nothing of the fixture reaches the binary log or replicates.
// Errors of the underlying statements propagate unchanged (e.g. 1198 for
// set_external while replication runs); argument errors are SIGNAL SQLSTATE
// '45000' (error 1644). ssl_encryption=1 is rejected by the file/position
// variant (the sandbox has no TLS material) and ignored by the
// auto-position variant, which Aurora documents as not implemented.
// 'binlog retention hours' also sets binlog_expire_logs_seconds.
//
// Installing another version later drops the other version's names.
func (s *Server) InstallAuroraProcedures(ctx context.Context, v AuroraVersion) (admin AuroraAdmin, err error) {
	if v != AuroraV2 && v != AuroraV3 {
		return AuroraAdmin{}, fmt.Errorf("sandbox: install aurora procedures on %s: unknown %v", s.Name, v)
	}
	password, err := randomPassword()
	if err != nil {
		return AuroraAdmin{}, fmt.Errorf("sandbox: install aurora procedures on %s: %w", s.Name, err)
	}
	db, err := s.Open()
	if err != nil {
		return AuroraAdmin{}, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return AuroraAdmin{}, fmt.Errorf("sandbox: install aurora procedures on %s: connect: %w", s.Name, err)
	}
	defer conn.Close()
	for _, stmt := range auroraInstallSQL(v, password) {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return AuroraAdmin{}, fmt.Errorf("sandbox: install aurora procedures on %s: %s: %w", s.Name, firstLine(stmt), err)
		}
	}
	return AuroraAdmin{User: AuroraAdminUser, Password: password, Addr: s.Addr()}, nil
}

func randomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// auroraInstallSQL returns the statements, run in order on one connection.
// password is hex, so it is safe to inline.
func auroraInstallSQL(v AuroraVersion, password string) []string {
	t := v.term()
	other := AuroraV2
	if v == AuroraV2 {
		other = AuroraV3
	}
	o := other.term()
	stmts := []string{
		"SET SESSION sql_log_bin = 0",
		`CREATE TABLE IF NOT EXISTS mysql.rds_configuration (
  name VARCHAR(100) NOT NULL PRIMARY KEY,
  value VARCHAR(100) NULL,
  description VARCHAR(300) NOT NULL
) ENGINE=InnoDB COMMENT='switchback sandbox: TEST-ONLY emulation of Aurora'`,
		`INSERT IGNORE INTO mysql.rds_configuration (name, value, description) VALUES
  ('binlog retention hours', NULL, 'binlog retention hours specifies the duration in hours before binary logs are automatically deleted.')`,
		`CREATE TABLE IF NOT EXISTS mysql.rds_history (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  action_timestamp TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  called_by_user VARCHAR(400) NOT NULL,
  action VARCHAR(64) NOT NULL,
  mysql_version VARCHAR(64) NOT NULL,
  master_host VARCHAR(255) NULL,
  master_port INT NULL,
  master_user VARCHAR(255) NULL,
  master_log_file VARCHAR(255) NULL,
  master_log_pos BIGINT UNSIGNED NULL,
  master_ssl TINYINT NULL,
  auto_position TINYINT NULL
) ENGINE=InnoDB COMMENT='switchback sandbox: TEST-ONLY emulation of Aurora'`,
		"DROP PROCEDURE IF EXISTS mysql.rds_set_external_" + o,
		"DROP PROCEDURE IF EXISTS mysql.rds_set_external_" + o + "_with_auto_position",
		"DROP PROCEDURE IF EXISTS mysql.rds_reset_external_" + o,
	}
	for _, p := range auroraProcedures {
		stmts = append(stmts, strings.NewReplacer("{t}", t, "{comment}", procComment).Replace(p))
	}
	if v == AuroraV2 {
		// Aurora has rds_set_read_only from 3.06 only: v2 is fenced
		// through its DB cluster parameter group.
		stmts = append(stmts, "DROP PROCEDURE IF EXISTS mysql.rds_set_read_only")
	}
	return append(stmts,
		"CREATE OR REPLACE USER '"+AuroraAdminUser+"'@'%' IDENTIFIED BY '"+password+"'",
		"GRANT "+strings.Join(auroraAdminPrivileges, ", ")+" ON *.* TO '"+AuroraAdminUser+"'@'%' WITH GRANT OPTION",
	)
}

const procComment = "switchback sandbox: TEST-ONLY emulation of the Aurora MySQL procedure"

// Procedure bodies. {t} is "master" or "source". Every procedure that writes
// bookkeeping saves sql_log_bin, turns it off for the write and restores it,
// also on error (EXIT HANDLER … RESIGNAL keeps the original error number).
// CHANGE MASTER cannot take routine parameters, so it is built with CONCAT +
// QUOTE() and run with EXECUTE IMMEDIATE (no user variable keeps the password).
var auroraProcedures = []string{
	`CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE mysql.rds_set_external_{t}(
  IN host_name VARCHAR(255),
  IN host_port INT,
  IN replication_user_name VARCHAR(255),
  IN replication_user_password VARCHAR(255),
  IN mysql_binary_log_file_name VARCHAR(255),
  IN mysql_binary_log_file_location BIGINT,
  IN ssl_encryption TINYINT)
SQL SECURITY DEFINER
COMMENT '{comment}'
BEGIN
  DECLARE prev_log_bin INT DEFAULT @@SESSION.sql_log_bin;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    SET SESSION sql_log_bin = prev_log_bin;
    RESIGNAL;
  END;
  IF host_name IS NULL OR host_name = '' OR host_port IS NULL
     OR replication_user_name IS NULL OR replication_user_name = ''
     OR mysql_binary_log_file_name IS NULL OR mysql_binary_log_file_name = ''
     OR mysql_binary_log_file_location IS NULL THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rds_set_external_{t}: host_name, host_port, replication_user_name, mysql_binary_log_file_name and mysql_binary_log_file_location are required';
  END IF;
  IF IFNULL(ssl_encryption, 0) <> 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rds_set_external_{t}: ssl_encryption=1 is not supported by the sandbox fixture (no TLS material); pass 0';
  END IF;
  EXECUTE IMMEDIATE CONCAT('CHANGE MASTER TO MASTER_HOST=', QUOTE(host_name),
    ', MASTER_PORT=', host_port,
    ', MASTER_USER=', QUOTE(replication_user_name),
    ', MASTER_PASSWORD=', QUOTE(IFNULL(replication_user_password, '')),
    ', MASTER_LOG_FILE=', QUOTE(mysql_binary_log_file_name),
    ', MASTER_LOG_POS=', mysql_binary_log_file_location,
    ', MASTER_USE_GTID=no, MASTER_SSL=0');
  SET SESSION sql_log_bin = 0;
  INSERT INTO mysql.rds_history (called_by_user, action, mysql_version, master_host, master_port,
      master_user, master_log_file, master_log_pos, master_ssl, auto_position)
    VALUES (USER(), 'set {t}', VERSION(), host_name, host_port,
      replication_user_name, mysql_binary_log_file_name, mysql_binary_log_file_location, 0, 0);
  SET SESSION sql_log_bin = prev_log_bin;
END`,

	`CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE mysql.rds_set_external_{t}_with_auto_position(
  IN host_name VARCHAR(255),
  IN host_port INT,
  IN replication_user_name VARCHAR(255),
  IN replication_user_password VARCHAR(255),
  IN ssl_encryption TINYINT)
SQL SECURITY DEFINER
COMMENT '{comment}'
BEGIN
  DECLARE prev_log_bin INT DEFAULT @@SESSION.sql_log_bin;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    SET SESSION sql_log_bin = prev_log_bin;
    RESIGNAL;
  END;
  IF host_name IS NULL OR host_name = '' OR host_port IS NULL
     OR replication_user_name IS NULL OR replication_user_name = '' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rds_set_external_{t}_with_auto_position: host_name, host_port and replication_user_name are required';
  END IF;
  -- ssl_encryption is ignored: Aurora documents it as not implemented here.
  EXECUTE IMMEDIATE CONCAT('CHANGE MASTER TO MASTER_HOST=', QUOTE(host_name),
    ', MASTER_PORT=', host_port,
    ', MASTER_USER=', QUOTE(replication_user_name),
    ', MASTER_PASSWORD=', QUOTE(IFNULL(replication_user_password, '')),
    ', MASTER_USE_GTID=slave_pos, MASTER_SSL=0');
  SET SESSION sql_log_bin = 0;
  INSERT INTO mysql.rds_history (called_by_user, action, mysql_version, master_host, master_port,
      master_user, master_ssl, auto_position)
    VALUES (USER(), 'set {t} auto position', VERSION(), host_name, host_port, replication_user_name, 0, 1);
  SET SESSION sql_log_bin = prev_log_bin;
END`,

	`CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE mysql.rds_reset_external_{t}()
SQL SECURITY DEFINER
COMMENT '{comment}'
BEGIN
  DECLARE prev_log_bin INT DEFAULT @@SESSION.sql_log_bin;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    SET SESSION sql_log_bin = prev_log_bin;
    RESIGNAL;
  END;
  STOP SLAVE;
  RESET SLAVE ALL;
  SET SESSION sql_log_bin = 0;
  INSERT INTO mysql.rds_history (called_by_user, action, mysql_version)
    VALUES (USER(), 'reset {t}', VERSION());
  SET SESSION sql_log_bin = prev_log_bin;
END`,

	`CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE mysql.rds_start_replication()
SQL SECURITY DEFINER
COMMENT '{comment}'
BEGIN
  DECLARE prev_log_bin INT DEFAULT @@SESSION.sql_log_bin;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    SET SESSION sql_log_bin = prev_log_bin;
    RESIGNAL;
  END;
  START SLAVE;
  SET SESSION sql_log_bin = 0;
  INSERT INTO mysql.rds_history (called_by_user, action, mysql_version)
    VALUES (USER(), 'start slave', VERSION());
  SET SESSION sql_log_bin = prev_log_bin;
END`,

	`CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE mysql.rds_stop_replication()
SQL SECURITY DEFINER
COMMENT '{comment}'
BEGIN
  DECLARE prev_log_bin INT DEFAULT @@SESSION.sql_log_bin;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    SET SESSION sql_log_bin = prev_log_bin;
    RESIGNAL;
  END;
  STOP SLAVE;
  SET SESSION sql_log_bin = 0;
  INSERT INTO mysql.rds_history (called_by_user, action, mysql_version)
    VALUES (USER(), 'stop slave', VERSION());
  SET SESSION sql_log_bin = prev_log_bin;
END`,

	`CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE mysql.rds_set_configuration(
  IN name VARCHAR(50),
  IN value INT)
SQL SECURITY DEFINER
COMMENT '{comment}'
BEGIN
  DECLARE prev_log_bin INT DEFAULT @@SESSION.sql_log_bin;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    SET SESSION sql_log_bin = prev_log_bin;
    RESIGNAL;
  END;
  IF name IS NULL OR name <> 'binlog retention hours' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rds_set_configuration: unsupported name; the sandbox supports only ''binlog retention hours''';
  END IF;
  IF value IS NOT NULL AND (value < 1 OR value > 2160) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rds_set_configuration: binlog retention hours must be NULL or between 1 and 2160';
  END IF;
  SET SESSION sql_log_bin = 0;
  -- qualified column names: the parameters shadow unqualified ones
  UPDATE mysql.rds_configuration c SET c.value = value WHERE c.name = 'binlog retention hours';
  SET SESSION sql_log_bin = prev_log_bin;
  SET GLOBAL binlog_expire_logs_seconds = IFNULL(value, 0) * 3600;
END`,

	`CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE mysql.rds_show_configuration()
SQL SECURITY DEFINER
COMMENT '{comment}'
BEGIN
  SELECT c.name, c.value, c.description FROM mysql.rds_configuration c ORDER BY c.name;
END`,

	`CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE mysql.rds_set_read_only(
  IN mode TINYINT)
SQL SECURITY DEFINER
COMMENT '{comment}'
BEGIN
  IF mode IS NULL OR mode NOT IN (0, 1) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rds_set_read_only: mode must be 0 or 1';
  END IF;
  SET GLOBAL read_only = mode;
END`,
}
