package replication

import (
	"database/sql"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Column lists of the status statements as the servers send them.

// mariaDB1011SlaveStatus is SHOW SLAVE STATUS on MariaDB 10.11.19
// (captured from the Debian 12 package; SHOW REPLICA STATUS answers with
// the same names).
var mariaDB1011SlaveStatus = strings.Fields(`Slave_IO_State Master_Host Master_User Master_Port Connect_Retry
Master_Log_File Read_Master_Log_Pos Relay_Log_File Relay_Log_Pos Relay_Master_Log_File Slave_IO_Running
Slave_SQL_Running Replicate_Do_DB Replicate_Ignore_DB Replicate_Do_Table Replicate_Ignore_Table
Replicate_Wild_Do_Table Replicate_Wild_Ignore_Table Last_Errno Last_Error Skip_Counter Exec_Master_Log_Pos
Relay_Log_Space Until_Condition Until_Log_File Until_Log_Pos Master_SSL_Allowed Master_SSL_CA_File
Master_SSL_CA_Path Master_SSL_Cert Master_SSL_Cipher Master_SSL_Key Seconds_Behind_Master
Master_SSL_Verify_Server_Cert Last_IO_Errno Last_IO_Error Last_SQL_Errno Last_SQL_Error
Replicate_Ignore_Server_Ids Master_Server_Id Master_SSL_Crl Master_SSL_Crlpath Using_Gtid Gtid_IO_Pos
Replicate_Do_Domain_Ids Replicate_Ignore_Domain_Ids Parallel_Mode SQL_Delay SQL_Remaining_Delay
Slave_SQL_Running_State Slave_DDL_Groups Slave_Non_Transactional_Groups Slave_Transactional_Groups
Replicate_Rewrite_DB`)

// mysql80ReplicaStatus is SHOW REPLICA STATUS on MySQL 8.0.22 and later.
var mysql80ReplicaStatus = strings.Fields(`Replica_IO_State Source_Host Source_User Source_Port Connect_Retry
Source_Log_File Read_Source_Log_Pos Relay_Log_File Relay_Log_Pos Relay_Source_Log_File Replica_IO_Running
Replica_SQL_Running Replicate_Do_DB Replicate_Ignore_DB Replicate_Do_Table Replicate_Ignore_Table
Replicate_Wild_Do_Table Replicate_Wild_Ignore_Table Last_Errno Last_Error Skip_Counter Exec_Source_Log_Pos
Relay_Log_Space Until_Condition Until_Log_File Until_Log_Pos Source_SSL_Allowed Source_SSL_CA_File
Source_SSL_CA_Path Source_SSL_Cert Source_SSL_Cipher Source_SSL_Key Seconds_Behind_Source
Source_SSL_Verify_Server_Cert Last_IO_Errno Last_IO_Error Last_SQL_Errno Last_SQL_Error
Replicate_Ignore_Server_Ids Source_Server_Id Source_UUID Source_Info_File SQL_Delay SQL_Remaining_Delay
Replica_SQL_Running_State Source_Retry_Count Source_Bind Last_IO_Error_Timestamp Last_SQL_Error_Timestamp
Source_SSL_Crl Source_SSL_Crlpath Retrieved_Gtid_Set Executed_Gtid_Set Auto_Position Replicate_Rewrite_DB
Channel_Name Source_TLS_Version Source_public_key_path Get_Source_public_key Network_Namespace`)

// mysql57SlaveStatus is SHOW SLAVE STATUS on MySQL 5.7 (and Aurora v2).
var mysql57SlaveStatus = strings.Fields(`Slave_IO_State Master_Host Master_User Master_Port Connect_Retry
Master_Log_File Read_Master_Log_Pos Relay_Log_File Relay_Log_Pos Relay_Master_Log_File Slave_IO_Running
Slave_SQL_Running Replicate_Do_DB Replicate_Ignore_DB Replicate_Do_Table Replicate_Ignore_Table
Replicate_Wild_Do_Table Replicate_Wild_Ignore_Table Last_Errno Last_Error Skip_Counter Exec_Master_Log_Pos
Relay_Log_Space Until_Condition Until_Log_File Until_Log_Pos Master_SSL_Allowed Master_SSL_CA_File
Master_SSL_CA_Path Master_SSL_Cert Master_SSL_Cipher Master_SSL_Key Seconds_Behind_Master
Master_SSL_Verify_Server_Cert Last_IO_Errno Last_IO_Error Last_SQL_Errno Last_SQL_Error
Replicate_Ignore_Server_Ids Master_Server_Id Master_UUID Master_Info_File SQL_Delay SQL_Remaining_Delay
Slave_SQL_Running_State Master_Retry_Count Master_Bind Last_IO_Error_Timestamp Last_SQL_Error_Timestamp
Master_SSL_Crl Master_SSL_Crlpath Retrieved_Gtid_Set Executed_Gtid_Set Auto_Position Replicate_Rewrite_DB
Channel_Name Master_TLS_Version`)

// auroraDocMixedStatus is the REPLICA-style output in AWS's Aurora
// stored-procedure docs (the rds_next_source_log example), which shows
// Seconds_Behind_Master among Source_* columns. The doc prints a subset of
// the columns; this is that subset.
var auroraDocMixedStatus = strings.Fields(`Replica_IO_State Source_Host Source_User Source_Port Connect_Retry
Source_Log_File Read_Source_Log_Pos Relay_Log_File Relay_Log_Pos Relay_Source_Log_File Replica_IO_Running
Replica_SQL_Running Last_Errno Last_Error Skip_Counter Exec_Source_Log_Pos Relay_Log_Space
Seconds_Behind_Master Last_IO_Errno Last_IO_Error Last_SQL_Errno Last_SQL_Error`)

// nullValue marks a NULL in a test row.
const nullValue = "\x00NULL"

// row builds a status row: named columns get their value (nullValue for
// NULL), every other column the empty string, as servers send them.
func row(columns []string, vals map[string]string) []sql.NullString {
	out := make([]sql.NullString, len(columns))
	for i, c := range columns {
		v, ok := vals[c]
		switch {
		case !ok:
			out[i] = sql.NullString{String: "", Valid: true}
		case v == nullValue:
			out[i] = sql.NullString{}
		default:
			out[i] = sql.NullString{String: v, Valid: true}
		}
	}
	return out
}

func without(columns []string, drop ...string) []string {
	var out []string
	for _, c := range columns {
		keep := true
		for _, d := range drop {
			keep = keep && c != d
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

func i64(n int64) *int64 { return &n }

func TestParseReplicaStatus(t *testing.T) {
	tests := []struct {
		name    string
		columns []string
		values  map[string]string
		want    ReplicaStatus
	}{
		{
			// Captured: MariaDB 10.11 right after CHANGE MASTER TO, before
			// START SLAVE.
			name:    "MariaDB 10.11 configured, not started",
			columns: mariaDB1011SlaveStatus,
			values: map[string]string{
				"Master_Host": "127.0.0.1", "Master_User": "repl", "Master_Port": "3306", "Connect_Retry": "60",
				"Master_Log_File": "mysql-bin-changelog.000003", "Read_Master_Log_Pos": "4",
				"Relay_Log_File": "relay-bin.000001", "Relay_Log_Pos": "4", "Relay_Master_Log_File": "mysql-bin-changelog.000003",
				"Slave_IO_Running": "No", "Slave_SQL_Running": "No", "Last_Errno": "0", "Skip_Counter": "0",
				"Exec_Master_Log_Pos": "4", "Relay_Log_Space": "256", "Until_Condition": "None", "Until_Log_Pos": "0",
				"Master_SSL_Allowed": "No", "Seconds_Behind_Master": nullValue, "Master_SSL_Verify_Server_Cert": "No",
				"Last_IO_Errno": "0", "Last_SQL_Errno": "0", "Master_Server_Id": "0", "Using_Gtid": "No",
				"Parallel_Mode": "optimistic", "SQL_Delay": "0", "SQL_Remaining_Delay": nullValue,
				"Slave_DDL_Groups": "0", "Slave_Non_Transactional_Groups": "0", "Slave_Transactional_Groups": "0",
			},
			want: ReplicaStatus{
				Configured: true, IORunning: "No", SQLRunning: "No",
				SourceHost: "127.0.0.1", SourcePort: 3306, SourceUser: "repl",
				SourceLogFile: "mysql-bin-changelog.000003", ReadSourceLogPos: 4,
				RelaySourceLogFile: "mysql-bin-changelog.000003", ExecSourceLogPos: 4,
				UsingGTID: "No",
			},
		},
		{
			name:    "MariaDB 10.11 running by GTID, caught up",
			columns: mariaDB1011SlaveStatus,
			values: map[string]string{
				"Slave_IO_State": "Waiting for master to send event", "Master_Host": "10.0.1.15", "Master_User": "switchback_repl",
				"Master_Port": "3306", "Master_Log_File": "mysql-bin-changelog.000012", "Read_Master_Log_Pos": "40134574",
				"Relay_Log_File": "relay-bin.000004", "Relay_Log_Pos": "1208", "Relay_Master_Log_File": "mysql-bin-changelog.000012",
				"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Exec_Master_Log_Pos": "40134574",
				"Seconds_Behind_Master": "0", "Last_IO_Errno": "0", "Last_SQL_Errno": "0",
				"Using_Gtid": "Slave_Pos", "Gtid_IO_Pos": "0-1-4242",
				"Slave_SQL_Running_State": "Slave has read all relay log; waiting for more updates",
			},
			want: ReplicaStatus{
				Configured: true, IORunning: "Yes", SQLRunning: "Yes", IOThreadRunning: true, SQLThreadRunning: true,
				SecondsBehind: i64(0), SourceHost: "10.0.1.15", SourcePort: 3306, SourceUser: "switchback_repl",
				SourceLogFile: "mysql-bin-changelog.000012", ReadSourceLogPos: 40134574,
				RelaySourceLogFile: "mysql-bin-changelog.000012", ExecSourceLogPos: 40134574,
				UsingGTID: "Slave_Pos", RetrievedGTIDSet: "0-1-4242",
			},
		},
		{
			// Read ahead of applied: the IO thread has moved to the next file
			// while the SQL thread still applies the previous one.
			name:    "MySQL 8.0 running, lagging across a file rollover",
			columns: mysql80ReplicaStatus,
			values: map[string]string{
				"Replica_IO_State": "Waiting for source to send event", "Source_Host": "green-writer.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com",
				"Source_User": "switchback_repl", "Source_Port": "3306", "Connect_Retry": "60",
				"Source_Log_File": "mysql-bin-changelog.000013", "Read_Source_Log_Pos": "1307",
				"Relay_Log_File": "replica-relay-bin.000003", "Relay_Log_Pos": "1508", "Relay_Source_Log_File": "mysql-bin-changelog.000012",
				"Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes", "Exec_Source_Log_Pos": "99812",
				"Seconds_Behind_Source": "17", "Last_IO_Errno": "0", "Last_SQL_Errno": "0",
				"Source_UUID":        "3e11fa47-71ca-11e1-9e33-c80aa9429562",
				"Retrieved_Gtid_Set": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n8a94f357-aab4-11df-86ab-c80aa9429562:1-3",
				"Executed_Gtid_Set":  "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-4,\n8a94f357-aab4-11df-86ab-c80aa9429562:1-3",
				"Auto_Position":      "1", "Get_Source_public_key": "1",
			},
			want: ReplicaStatus{
				Configured: true, IORunning: "Yes", SQLRunning: "Yes", IOThreadRunning: true, SQLThreadRunning: true,
				SecondsBehind: i64(17), SourceHost: "green-writer.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com",
				SourcePort: 3306, SourceUser: "switchback_repl",
				SourceLogFile: "mysql-bin-changelog.000013", ReadSourceLogPos: 1307,
				RelaySourceLogFile: "mysql-bin-changelog.000012", ExecSourceLogPos: 99812,
				UsingGTID:        "1",
				RetrievedGTIDSet: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,8a94f357-aab4-11df-86ab-c80aa9429562:1-3",
				ExecutedGTIDSet:  "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-4,8a94f357-aab4-11df-86ab-c80aa9429562:1-3",
			},
		},
		{
			name:    "MySQL 5.7 / Aurora v2 IO thread failed with 1236",
			columns: mysql57SlaveStatus,
			values: map[string]string{
				"Master_Host": "blue-writer.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com", "Master_User": "repl", "Master_Port": "3306",
				"Master_Log_File": "mysql-bin-changelog.000003", "Read_Master_Log_Pos": "40134574",
				"Relay_Master_Log_File": "mysql-bin-changelog.000003", "Exec_Master_Log_Pos": "40134574",
				"Slave_IO_Running": "No", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": nullValue,
				"Last_IO_Errno": "1236",
				"Last_IO_Error": "Got fatal error 1236 from master when reading data from binary log: 'Could not find first log file name in binary log index file'",
				"Auto_Position": "0",
			},
			want: ReplicaStatus{
				Configured: true, IORunning: "No", SQLRunning: "Yes", SQLThreadRunning: true,
				SourceHost: "blue-writer.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com", SourcePort: 3306, SourceUser: "repl",
				SourceLogFile: "mysql-bin-changelog.000003", ReadSourceLogPos: 40134574,
				RelaySourceLogFile: "mysql-bin-changelog.000003", ExecSourceLogPos: 40134574,
				LastIOErrno: 1236, LastIOError: "Got fatal error 1236 from master when reading data from binary log: 'Could not find first log file name in binary log index file'",
				UsingGTID: "0",
			},
		},
		{
			name:    "Aurora doc example mixing Seconds_Behind_Master into REPLICA-style output",
			columns: auroraDocMixedStatus,
			values: map[string]string{
				"Replica_IO_State": "Connecting to source", "Source_Host": "myhost.XXXXXXXXXXXXXXX.rr-rrrr-1.rds.amazonaws.com",
				"Source_User": "ReplicationUser", "Source_Port": "3306", "Connect_Retry": "60",
				"Source_Log_File": "mysql-bin-changelog.012345", "Read_Source_Log_Pos": "1219393",
				"Relay_Log_File": "relaylog.012340", "Relay_Log_Pos": "30223388", "Relay_Source_Log_File": "mysql-bin-changelog.012345",
				"Replica_IO_Running": "Connecting", "Replica_SQL_Running": "Yes", "Last_Errno": "0",
				"Skip_Counter": "0", "Exec_Source_Log_Pos": "30223232", "Relay_Log_Space": "5248928866",
				"Seconds_Behind_Master": nullValue, "Last_IO_Errno": "1236",
				"Last_IO_Error":  "Got fatal error 1236 from master when reading data from binary log: 'Client requested master to start replication from impossible position; the first event 'mysql-bin-changelog.013406' at 1219393, the last event read from '/rdsdbdata/log/binlog/mysql-bin-changelog.012345' at 4, the last byte read from '/rdsdbdata/log/binlog/mysql-bin-changelog.012345' at 4.'",
				"Last_SQL_Errno": "0",
			},
			want: ReplicaStatus{
				Configured: true, IORunning: "Connecting", SQLRunning: "Yes", SQLThreadRunning: true,
				SourceHost: "myhost.XXXXXXXXXXXXXXX.rr-rrrr-1.rds.amazonaws.com", SourcePort: 3306, SourceUser: "ReplicationUser",
				SourceLogFile: "mysql-bin-changelog.012345", ReadSourceLogPos: 1219393,
				RelaySourceLogFile: "mysql-bin-changelog.012345", ExecSourceLogPos: 30223232,
				LastIOErrno: 1236,
				LastIOError: "Got fatal error 1236 from master when reading data from binary log: 'Client requested master to start replication from impossible position; the first event 'mysql-bin-changelog.013406' at 1219393, the last event read from '/rdsdbdata/log/binlog/mysql-bin-changelog.012345' at 4, the last byte read from '/rdsdbdata/log/binlog/mysql-bin-changelog.012345' at 4.'",
			},
		},
		{
			name: "column names in another case, lag 0 is not NULL",
			columns: []string{"slave_io_running", "SLAVE_SQL_RUNNING", "master_host", "master_port", "master_user",
				"master_log_file", "read_master_log_pos", "relay_master_log_file", "exec_master_log_pos",
				"seconds_behind_master", "last_io_errno", "last_io_error", "last_sql_errno", "last_sql_error"},
			values: map[string]string{
				"slave_io_running": "Yes", "SLAVE_SQL_RUNNING": "Yes", "master_host": "h", "master_port": "3307", "master_user": "u",
				"master_log_file": "b.000001", "read_master_log_pos": "120", "relay_master_log_file": "b.000001",
				"exec_master_log_pos": "120", "seconds_behind_master": "0", "last_io_errno": "0", "last_sql_errno": "0",
			},
			want: ReplicaStatus{
				Configured: true, IORunning: "Yes", SQLRunning: "Yes", IOThreadRunning: true, SQLThreadRunning: true,
				SecondsBehind: i64(0), SourceHost: "h", SourcePort: 3307, SourceUser: "u",
				SourceLogFile: "b.000001", ReadSourceLogPos: 120, RelaySourceLogFile: "b.000001", ExecSourceLogPos: 120,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for c := range tt.values {
				if !containsString(tt.columns, c) {
					t.Fatalf("test row sets %q, which is not one of its columns", c)
				}
			}
			got, err := ParseReplicaStatus(tt.columns, row(tt.columns, tt.values))
			if err != nil {
				t.Fatalf("ParseReplicaStatus() = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseReplicaStatus() =\n%+v\nwant\n%+v", describeStatus(got), describeStatus(tt.want))
			}
		})
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// describeStatus prints SecondsBehind's value rather than its address.
func describeStatus(s ReplicaStatus) any {
	lag := "NULL"
	if s.SecondsBehind != nil {
		lag = strconv.FormatInt(*s.SecondsBehind, 10)
	}
	type shown struct {
		ReplicaStatus
		SecondsBehind string
	}
	return shown{s, lag}
}

func TestParseReplicaStatusNoRows(t *testing.T) {
	for _, columns := range [][]string{mariaDB1011SlaveStatus, mysql80ReplicaStatus, nil} {
		got, err := ParseReplicaStatus(columns, nil)
		if err != nil || got.Configured || !reflect.DeepEqual(got, ReplicaStatus{}) {
			t.Errorf("ParseReplicaStatus(%d columns, no row) = %+v, %v; want the zero status (not configured), nil", len(columns), got, err)
		}
	}
}

func TestParseReplicaStatusErrors(t *testing.T) {
	healthy := map[string]string{
		"Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes", "Source_Host": "h", "Source_Port": "3306",
		"Source_User": "u", "Source_Log_File": "b.000001", "Read_Source_Log_Pos": "120",
		"Relay_Source_Log_File": "b.000001", "Exec_Source_Log_Pos": "120", "Seconds_Behind_Source": "0",
		"Last_IO_Errno": "0", "Last_SQL_Errno": "0",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range healthy {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name    string
		columns []string
		values  []sql.NullString
		wantErr []string
	}{
		{
			name:    "missing the applied position and the lag",
			columns: without(mariaDB1011SlaveStatus, "Exec_Master_Log_Pos", "Seconds_Behind_Master"),
			values:  row(without(mariaDB1011SlaveStatus, "Exec_Master_Log_Pos", "Seconds_Behind_Master"), nil),
			wantErr: []string{"missing columns", "Exec_Source_Log_Pos or Exec_Master_Log_Pos", "Seconds_Behind_Source or Seconds_Behind_Master"},
		},
		{
			// A row from some other statement must not pass for a replica status.
			name:    "binlog status row",
			columns: []string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB"},
			values:  row([]string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB"}, map[string]string{"File": "b.000001", "Position": "4"}),
			wantErr: []string{"Replica_IO_Running or Slave_IO_Running", "Exec_Source_Log_Pos or Exec_Master_Log_Pos"},
		},
		{
			name:    "non-numeric lag",
			columns: mysql80ReplicaStatus,
			values:  row(mysql80ReplicaStatus, with("Seconds_Behind_Source", "soon")),
			wantErr: []string{"Seconds_Behind_Source", `"soon"`},
		},
		{
			name:    "negative applied position",
			columns: mysql80ReplicaStatus,
			values:  row(mysql80ReplicaStatus, with("Exec_Source_Log_Pos", "-1")),
			wantErr: []string{"Exec_Source_Log_Pos", `"-1"`},
		},
		{
			name:    "port out of range",
			columns: mysql80ReplicaStatus,
			values:  row(mysql80ReplicaStatus, with("Source_Port", "99999")),
			wantErr: []string{"Source_Port", `"99999"`},
		},
		{
			name:    "garbage error number",
			columns: mysql80ReplicaStatus,
			values:  row(mysql80ReplicaStatus, with("Last_IO_Errno", "1236x")),
			wantErr: []string{"Last_IO_Errno", `"1236x"`},
		},
		{
			name:    "several problems are all reported",
			columns: mysql80ReplicaStatus,
			values: row(mysql80ReplicaStatus, func() map[string]string {
				m := with("Read_Source_Log_Pos", "x")
				m["Last_SQL_Errno"] = "y"
				return m
			}()),
			wantErr: []string{"Read_Source_Log_Pos", "Last_SQL_Errno"},
		},
		{
			name:    "fewer values than columns",
			columns: mysql80ReplicaStatus,
			values:  row(mysql80ReplicaStatus, healthy)[1:],
			wantErr: []string{"values for", "columns"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReplicaStatus(tt.columns, tt.values)
			if err == nil {
				t.Fatalf("ParseReplicaStatus() = %+v, nil; want an error", got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("ParseReplicaStatus() error %q does not contain %q", err, s)
				}
			}
		})
	}
	// The healthy row itself parses: the failures above are the edits.
	if _, err := ParseReplicaStatus(mysql80ReplicaStatus, row(mysql80ReplicaStatus, healthy)); err != nil {
		t.Errorf("ParseReplicaStatus(healthy) = %v", err)
	}
}

func TestExecutedPosition(t *testing.T) {
	s := ReplicaStatus{
		SourceLogFile: "mysql-bin-changelog.000013", ReadSourceLogPos: 1307,
		RelaySourceLogFile: "mysql-bin-changelog.000012", ExecSourceLogPos: 99812,
	}
	want := BinlogPosition{File: "mysql-bin-changelog.000012", Position: 99812}
	if got := s.ExecutedPosition(); got != want {
		t.Errorf("ExecutedPosition() = %v; want %v (applied, not read)", got, want)
	}
}

var binaryLogStatusColumns = []string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB", "Executed_Gtid_Set"}

// mariaDBMasterStatusColumns is SHOW MASTER STATUS on MariaDB 10.11 (captured).
var mariaDBMasterStatusColumns = []string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB"}

func TestParseBinlogStatus(t *testing.T) {
	tests := []struct {
		name    string
		columns []string
		values  []sql.NullString
		want    BinlogPosition
		wantErr []string
	}{
		{
			name:    "MariaDB 10.11 SHOW MASTER STATUS (captured)",
			columns: mariaDBMasterStatusColumns,
			values:  row(mariaDBMasterStatusColumns, map[string]string{"File": "mysql-bin-changelog.000001", "Position": "338"}),
			want:    BinlogPosition{File: "mysql-bin-changelog.000001", Position: 338},
		},
		{
			name:    "MySQL 8.4 SHOW BINARY LOG STATUS with a multi-UUID GTID set",
			columns: binaryLogStatusColumns,
			values: row(binaryLogStatusColumns, map[string]string{
				"File": "mysql-bin-changelog.000003", "Position": "40134574",
				"Executed_Gtid_Set": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n8a94f357-aab4-11df-86ab-c80aa9429562:1-3",
			}),
			want: BinlogPosition{File: "mysql-bin-changelog.000003", Position: 40134574,
				ExecutedGTIDSet: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,8a94f357-aab4-11df-86ab-c80aa9429562:1-3"},
		},
		{
			name:    "no rows: binary logging off",
			columns: binaryLogStatusColumns,
			values:  nil,
			wantErr: []string{"binary logging is off"},
		},
		{
			name:    "garbage position",
			columns: binaryLogStatusColumns,
			values:  row(binaryLogStatusColumns, map[string]string{"File": "b.000001", "Position": "12ab"}),
			wantErr: []string{"Position", `"12ab"`},
		},
		{
			name:    "missing File column",
			columns: []string{"Position"},
			values:  row([]string{"Position"}, map[string]string{"Position": "4"}),
			wantErr: []string{"missing columns File"},
		},
		{
			name:    "NULL file",
			columns: mariaDBMasterStatusColumns,
			values:  row(mariaDBMasterStatusColumns, map[string]string{"File": nullValue, "Position": "4"}),
			wantErr: []string{"File is empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBinlogStatus(tt.columns, tt.values)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("ParseBinlogStatus() = %+v, %v; want %+v, nil", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseBinlogStatus() = %+v, nil; want an error", got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("ParseBinlogStatus() error %q does not contain %q", err, s)
				}
			}
		})
	}
	if _, err := ParseBinlogStatus(binaryLogStatusColumns, nil); !errors.Is(err, ErrBinaryLogOff) {
		t.Errorf("ParseBinlogStatus(no rows) error = %v; want ErrBinaryLogOff", err)
	}
}

func TestComparePositions(t *testing.T) {
	pos := func(f string, p uint64) BinlogPosition { return BinlogPosition{File: f, Position: p} }
	tests := []struct {
		name string
		a, b BinlogPosition
		want int
	}{
		{"equal", pos("mysql-bin-changelog.000003", 40134574), pos("mysql-bin-changelog.000003", 40134574), 0},
		{"same file, earlier position", pos("mysql-bin-changelog.000003", 4), pos("mysql-bin-changelog.000003", 40134574), -1},
		{"same file, later position", pos("mysql-bin-changelog.000003", 40134575), pos("mysql-bin-changelog.000003", 40134574), 1},
		// After a rollover the new file starts again at a small position.
		{"rollover: next file at a small position is later", pos("mysql-bin-changelog.000004", 4), pos("mysql-bin-changelog.000003", 134217728), 1},
		{"rollover: .000009 before .000012", pos("mysql-bin-changelog.000009", 999), pos("mysql-bin-changelog.000012", 4), -1},
		// The suffix grows a digit past 999999; string order would get this wrong.
		{"rollover past six digits", pos("mysql-bin-changelog.1000000", 4), pos("mysql-bin-changelog.999999", 500), 1},
		{"same sequence spelled differently compares by position", pos("b.000012", 10), pos("b.12", 20), -1},
		{"different base names compare as strings", pos("mysql-bin.000100", 4), pos("mysql-bin-changelog.000001", 4), 1},
		{"no numeric suffix compares as strings", pos("binlog-a", 4), pos("binlog-b", 4), -1},
		{"empty file sorts first", pos("", 900), pos("mysql-bin-changelog.000001", 4), -1},
		// GTID sets are not part of the order.
		{"GTID set ignored", BinlogPosition{File: "b.000001", Position: 4, ExecutedGTIDSet: "x:1-9"}, pos("b.000001", 4), 0},
	}
	for _, tt := range tests {
		if got := ComparePositions(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: ComparePositions(%v, %v) = %d; want %d", tt.name, tt.a, tt.b, got, tt.want)
		}
		if got := ComparePositions(tt.b, tt.a); got != -tt.want {
			t.Errorf("%s: ComparePositions(%v, %v) = %d; want %d (antisymmetry)", tt.name, tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestBinlogPositionString(t *testing.T) {
	p := BinlogPosition{File: "mysql-bin-changelog.000003", Position: 40134574, ExecutedGTIDSet: "x:1"}
	if got, want := p.String(), "mysql-bin-changelog.000003:40134574"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestParseRetention(t *testing.T) {
	aurora := []string{"name", "value", "description"}
	auroraRow := func(name, value string) []sql.NullString {
		return row(aurora, map[string]string{"name": name, "value": value,
			"description": name + " specifies the duration in hours before binary logs are automatically deleted."})
	}
	h := func(f float64) *float64 { return &f }
	tests := []struct {
		name    string
		d       Dialect
		columns []string
		rows    [][]sql.NullString
		want    Retention
		wantStr string
		wantErr string
	}{
		{
			// Aurora's default: NULL, binlogs purged lazily.
			name: "Aurora NULL", d: AuroraMySQL3, columns: aurora,
			rows: [][]sql.NullString{auroraRow("binlog retention hours", nullValue)},
			want: Retention{}, wantStr: "not set (NULL: Aurora purges binlogs lazily, usually within a day)",
		},
		{
			name: "Aurora 24 h", d: AuroraMySQL2, columns: aurora,
			rows: [][]sql.NullString{auroraRow("binlog retention hours", "24")},
			want: Retention{Hours: h(24)}, wantStr: "24 h",
		},
		{
			// RDS-style output lists more settings; only the retention row counts.
			name: "Aurora row among others", d: AuroraMySQL84, columns: aurora,
			rows: [][]sql.NullString{auroraRow("source delay", "0"), auroraRow("binlog retention hours", "168"), auroraRow("target delay", "0")},
			want: Retention{Hours: h(168)}, wantStr: "168 h",
		},
		{
			name: "Aurora without the retention row", d: AuroraMySQL3, columns: aurora,
			rows:    [][]sql.NullString{auroraRow("source delay", "0")},
			wantErr: `no "binlog retention hours" row`,
		},
		{
			name: "Aurora garbage value", d: AuroraMySQL3, columns: aurora,
			rows:    [][]sql.NullString{auroraRow("binlog retention hours", "a week")},
			wantErr: `"a week"`,
		},
		{
			name: "Aurora output without name/value columns", d: AuroraMySQL3, columns: []string{"x"},
			rows:    [][]sql.NullString{{{String: "1", Valid: true}}},
			wantErr: "lacks the name and value columns",
		},
		{
			name: "MySQL default 30 days", d: MySQL, columns: []string{"binlog_expire_logs_seconds"},
			rows: [][]sql.NullString{{{String: "2592000", Valid: true}}},
			want: Retention{Hours: h(720)}, wantStr: "720 h",
		},
		{
			name: "MariaDB 2 hours", d: MariaDB, columns: []string{"binlog_expire_logs_seconds"},
			rows: [][]sql.NullString{{{String: "7200", Valid: true}}},
			want: Retention{Hours: h(2)}, wantStr: "2 h",
		},
		{
			name: "MariaDB 0 means never purged", d: MariaDB, columns: []string{"binlog_expire_logs_seconds"},
			rows: [][]sql.NullString{{{String: "0", Valid: true}}},
			want: Retention{Unlimited: true}, wantStr: "unlimited (no automatic purge)",
		},
		{
			name: "MySQL 5 minutes", d: MySQL, columns: []string{"@@global.binlog_expire_logs_seconds"},
			rows: [][]sql.NullString{{{String: "300", Valid: true}}},
			want: Retention{Hours: h(300.0 / 3600)}, wantStr: "0.08 h",
		},
		{
			name: "MySQL column found by name among others", d: MySQL, columns: []string{"x", "binlog_expire_logs_seconds"},
			rows: [][]sql.NullString{{{String: "x", Valid: true}, {String: "3600", Valid: true}}},
			want: Retention{Hours: h(1)}, wantStr: "1 h",
		},
		{
			name: "MySQL garbage", d: MySQL, columns: []string{"binlog_expire_logs_seconds"},
			rows:    [][]sql.NullString{{{String: "-1", Valid: true}}},
			wantErr: `binlog_expire_logs_seconds: "-1"`,
		},
		{
			name: "MariaDB NULL", d: MariaDB, columns: []string{"binlog_expire_logs_seconds"},
			rows:    [][]sql.NullString{{{}}},
			wantErr: "NULL",
		},
		{
			name: "MySQL no rows", d: MySQL, columns: []string{"binlog_expire_logs_seconds"},
			wantErr: "got 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRetention(tt.d, tt.columns, tt.rows)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRetention() = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseRetention() = %v, %v; want %v", got, err, tt.want)
			}
			if s := got.String(); s != tt.wantStr {
				t.Errorf("String() = %q; want %q", s, tt.wantStr)
			}
		})
	}
}

func TestRetentionCovers(t *testing.T) {
	h := func(f float64) *float64 { return &f }
	tests := []struct {
		r     Retention
		hours float64
		want  bool
	}{
		{Retention{}, 1, false}, // NULL: Aurora may purge within the day
		{Retention{Hours: h(24)}, 24, true},
		{Retention{Hours: h(24)}, 168, false},
		{Retention{Hours: h(720)}, 168, true},
		{Retention{Unlimited: true}, 2160, true},
	}
	for _, tt := range tests {
		if got := tt.r.Covers(tt.hours); got != tt.want {
			t.Errorf("%v.Covers(%v) = %v; want %v", tt.r, tt.hours, got, tt.want)
		}
	}
}

func TestParseReplicaStatusSourceServerID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		columns []string
		value   string
		want    uint64
	}{
		{"MariaDB old name", mariaDB1011SlaveStatus, "26131027", 26131027},
		{"MySQL 8 new name", mysql80ReplicaStatus, "7", 7},
		{"never connected", mariaDB1011SlaveStatus, "0", 0},
		{"absent column", auroraDocMixedStatus, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]string{"Master_Server_Id": tc.value, "Source_Server_Id": tc.value}
			got, err := ParseReplicaStatus(tc.columns, row(tc.columns, vals))
			if err != nil || got.SourceServerID != tc.want {
				t.Fatalf("SourceServerID = %d, %v; want %d", got.SourceServerID, err, tc.want)
			}
		})
	}
}

// mariaDB1011AllSlavesStatus is SHOW ALL SLAVES STATUS on MariaDB 10.11.19
// (captured): SHOW SLAVE STATUS's columns with Connection_name and
// Slave_SQL_State in front and six more at the end.
var mariaDB1011AllSlavesStatus = append(append([]string{"Connection_name", "Slave_SQL_State"}, mariaDB1011SlaveStatus...),
	strings.Fields(`Retried_transactions Max_relay_log_size Executed_log_entries Slave_received_heartbeats
Slave_heartbeat_period Gtid_Slave_Pos`)...)

// statusRow is a test row of a status statement: a running connection
// from host:port named name, plus extra column values.
func statusRow(columns []string, name, host, port, io, sqlRunning string, extra map[string]string) []sql.NullString {
	vals := map[string]string{}
	for _, c := range columns {
		switch strings.ToLower(c) {
		case "connection_name", "channel_name":
			vals[c] = name
		case "master_host", "source_host":
			vals[c] = host
		case "master_port", "source_port":
			vals[c] = port
		case "slave_io_running", "replica_io_running":
			vals[c] = io
		case "slave_sql_running", "replica_sql_running":
			vals[c] = sqlRunning
		case "master_user", "source_user":
			vals[c] = "repl"
		case "read_master_log_pos", "read_source_log_pos", "exec_master_log_pos", "exec_source_log_pos":
			vals[c] = "4"
		case "last_io_errno", "last_sql_errno", "sql_delay", "skip_counter":
			vals[c] = "0"
		case "seconds_behind_master", "seconds_behind_source":
			vals[c] = nullValue
		}
	}
	for k, v := range extra {
		vals[k] = v
	}
	return row(columns, vals)
}

func TestParseReplicaStatusNewColumns(t *testing.T) {
	tests := []struct {
		name        string
		columns     []string
		values      map[string]string
		wantDelay   int64
		wantSkip    int64
		wantFilters []string
		wantName    string
	}{
		{
			// Captured: CHANGE MASTER TO MASTER_DELAY=60, IGNORE_SERVER_IDS=(5,6),
			// DO_DOMAIN_IDS=(1,2) and SET GLOBAL replicate_* on a stopped replica.
			name:    "MariaDB 10.11 every filter, delay and skip counter (captured)",
			columns: mariaDB1011AllSlavesStatus,
			values: map[string]string{
				"Replicate_Do_DB": "d", "Replicate_Ignore_DB": "x,y", "Replicate_Do_Table": "a.b",
				"Replicate_Ignore_Table": "a.c", "Replicate_Wild_Do_Table": "a.%", "Replicate_Wild_Ignore_Table": "b.%",
				"Replicate_Ignore_Server_Ids": "5, 6", "Replicate_Do_Domain_Ids": "1, 2", "Replicate_Ignore_Domain_Ids": "7",
				"Replicate_Rewrite_DB": "p->q", "SQL_Delay": "60", "Skip_Counter": "3",
			},
			wantDelay: 60, wantSkip: 3,
			wantFilters: []string{"Replicate_Do_DB=d", "Replicate_Ignore_DB=x,y", "Replicate_Do_Table=a.b",
				"Replicate_Ignore_Table=a.c", "Replicate_Wild_Do_Table=a.%", "Replicate_Wild_Ignore_Table=b.%",
				"Replicate_Rewrite_DB=p->q", "Replicate_Ignore_Server_Ids=5, 6", "Replicate_Do_Domain_Ids=1, 2",
				"Replicate_Ignore_Domain_Ids=7"},
		},
		{
			name:    "MariaDB 10.11 SHOW SLAVE STATUS, nothing set (captured)",
			columns: mariaDB1011SlaveStatus,
			values:  map[string]string{"SQL_Delay": "0", "Skip_Counter": "0", "Replicate_Ignore_Server_Ids": ""},
		},
		{
			name:        "MariaDB named connection",
			columns:     mariaDB1011AllSlavesStatus,
			values:      map[string]string{"Connection_name": "other", "Replicate_Ignore_DB": "mysql"},
			wantFilters: []string{"Replicate_Ignore_DB=mysql"},
			wantName:    "other",
		},
		{
			name:    "MySQL 8.0 new spellings, rewrite and a delay",
			columns: mysql80ReplicaStatus,
			values: map[string]string{
				"Replicate_Rewrite_DB": "(shop,shop_old)", "Replicate_Wild_Ignore_Table": "shop.tmp%",
				"SQL_Delay": "3600", "Skip_Counter": "0", "Replicate_Ignore_Server_Ids": "0", "Channel_Name": "",
			},
			wantDelay:   3600,
			wantFilters: []string{"Replicate_Wild_Ignore_Table=shop.tmp%", "Replicate_Rewrite_DB=(shop,shop_old)"},
		},
		{
			name:     "MySQL 8.0 channel with ignored server ids",
			columns:  mysql80ReplicaStatus,
			values:   map[string]string{"Channel_Name": "analytics", "Replicate_Ignore_Server_Ids": "1, 7", "Skip_Counter": "1"},
			wantSkip: 1, wantFilters: []string{"Replicate_Ignore_Server_Ids=1, 7"}, wantName: "analytics",
		},
		{
			name:      "MySQL 5.7 / Aurora v2 old spellings",
			columns:   mysql57SlaveStatus,
			values:    map[string]string{"Replicate_Do_DB": "shop", "SQL_Delay": "5", "Skip_Counter": "2", "Replicate_Ignore_Server_Ids": ""},
			wantDelay: 5, wantSkip: 2, wantFilters: []string{"Replicate_Do_DB=shop"},
		},
		{
			name:    "Aurora doc subset: no SQL_Delay, no filter columns",
			columns: auroraDocMixedStatus,
			values:  map[string]string{"Skip_Counter": "0"},
		},
		{
			name:    "NULL delay and skip counter read as 0",
			columns: mysql80ReplicaStatus,
			values:  map[string]string{"SQL_Delay": nullValue, "Skip_Counter": nullValue, "Replicate_Do_DB": nullValue},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for c := range tt.values {
				if !containsString(tt.columns, c) {
					t.Fatalf("test row sets %q, which is not one of its columns", c)
				}
			}
			got, err := ParseReplicaStatus(tt.columns, statusRow(tt.columns, "", "h", "3306", "Yes", "Yes", tt.values))
			if err != nil {
				t.Fatalf("ParseReplicaStatus() = %v", err)
			}
			if got.SQLDelay != tt.wantDelay || got.SkipCounter != tt.wantSkip || got.ConnectionName != tt.wantName {
				t.Errorf("SQLDelay, SkipCounter, ConnectionName = %d, %d, %q; want %d, %d, %q",
					got.SQLDelay, got.SkipCounter, got.ConnectionName, tt.wantDelay, tt.wantSkip, tt.wantName)
			}
			if !reflect.DeepEqual(got.Filters, tt.wantFilters) {
				t.Errorf("Filters = %q; want %q", got.Filters, tt.wantFilters)
			}
			if got.OtherConnections != nil || got.OtherConnectionNames != nil {
				t.Errorf("ParseReplicaStatus filled OtherConnections: %q", got.OtherConnections)
			}
		})
	}
}

func TestParseReplicaStatusNewColumnErrors(t *testing.T) {
	for _, tc := range []struct{ col, value string }{
		{"SQL_Delay", "soon"}, {"SQL_Delay", "-1"}, {"Skip_Counter", "x"}, {"Skip_Counter", "-2"},
	} {
		_, err := ParseReplicaStatus(mysql80ReplicaStatus, statusRow(mysql80ReplicaStatus, "", "h", "3306", "Yes", "Yes", map[string]string{tc.col: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.col) || !strings.Contains(err.Error(), strconv.Quote(tc.value)) {
			t.Errorf("%s=%q: error %v; want one naming the column and the value", tc.col, tc.value, err)
		}
	}
}

func TestParseReplicaStatusRows(t *testing.T) {
	maria, my80, my57 := mariaDB1011AllSlavesStatus, mysql80ReplicaStatus, mysql57SlaveStatus
	tests := []struct {
		name           string
		columns        []string
		rows           [][]sql.NullString
		wantConfigured bool
		wantHost       string
		wantFilters    []string
		wantOthers     []string
		wantNames      []string
	}{
		{name: "MariaDB no connections", columns: maria},
		{
			name:           "MariaDB default connection only",
			columns:        maria,
			rows:           [][]sql.NullString{statusRow(maria, "", "10.0.1.15", "3306", "Yes", "Yes", nil)},
			wantConfigured: true, wantHost: "10.0.1.15",
		},
		{
			// Captured shape: SHOW ALL SLAVES STATUS lists the default
			// connection first, then the named ones.
			name:    "MariaDB default and a named connection",
			columns: maria,
			rows: [][]sql.NullString{
				statusRow(maria, "", "10.0.1.15", "3306", "No", "No", map[string]string{"Replicate_Ignore_DB": "x"}),
				statusRow(maria, "other", "127.0.0.1", "41575", "Yes", "Yes", nil),
			},
			wantConfigured: true, wantHost: "10.0.1.15", wantFilters: []string{"Replicate_Ignore_DB=x"},
			wantOthers: []string{"connection 'other' from 127.0.0.1:41575 (IO Yes, SQL Yes)"},
			wantNames:  []string{"other"},
		},
		{
			// The adversarial case: SHOW SLAVE STATUS returns nothing here.
			name:       "MariaDB named connection only",
			columns:    maria,
			rows:       [][]sql.NullString{statusRow(maria, "other", "127.0.0.1", "41575", "Connecting", "Yes", nil)},
			wantOthers: []string{"connection 'other' from 127.0.0.1:41575 (IO Connecting, SQL Yes)"},
			wantNames:  []string{"other"},
		},
		{
			name:    "MariaDB two stopped named connections, named default row last",
			columns: maria,
			rows: [][]sql.NullString{
				statusRow(maria, "a", "10.0.0.1", "3306", "No", "No", nil),
				statusRow(maria, "b", "", "0", "No", "No", nil),
				statusRow(maria, "", "10.0.1.15", "3306", "Yes", "Yes", nil),
			},
			wantConfigured: true, wantHost: "10.0.1.15",
			wantOthers: []string{"connection 'a' from 10.0.0.1:3306 (IO No, SQL No)", "connection 'b' from an unknown source (IO No, SQL No)"},
			wantNames:  []string{"a", "b"},
		},
		{
			name:    "MySQL 8.0 default channel and another channel",
			columns: my80,
			rows: [][]sql.NullString{
				statusRow(my80, "", "green-writer", "3306", "Yes", "Yes", nil),
				statusRow(my80, "analytics", "10.9.9.9", "3307", "Yes", "No", nil),
			},
			wantConfigured: true, wantHost: "green-writer",
			wantOthers: []string{"channel 'analytics' from 10.9.9.9:3307 (IO Yes, SQL No)"},
			wantNames:  []string{"analytics"},
		},
		{
			name:       "MySQL 8.0 named channel only",
			columns:    my80,
			rows:       [][]sql.NullString{statusRow(my80, "ch1", "10.9.9.9", "3306", "No", "No", nil)},
			wantOthers: []string{"channel 'ch1' from 10.9.9.9:3306 (IO No, SQL No)"},
			wantNames:  []string{"ch1"},
		},
		{
			name:    "MySQL 5.7 old spellings, two channels",
			columns: my57,
			rows: [][]sql.NullString{
				statusRow(my57, "", "blue", "3306", "Yes", "Yes", nil),
				statusRow(my57, "legacy", "old-host", "3306", "No", "Yes", nil),
			},
			wantConfigured: true, wantHost: "blue",
			wantOthers: []string{"channel 'legacy' from old-host:3306 (IO No, SQL Yes)"},
			wantNames:  []string{"legacy"},
		},
		{
			// SHOW SLAVE STATUS on MariaDB (or an Aurora sandbox) has no name
			// column: its one row is the default connection.
			name:           "one row without a name column",
			columns:        mariaDB1011SlaveStatus,
			rows:           [][]sql.NullString{statusRow(mariaDB1011SlaveStatus, "", "h", "3306", "Yes", "Yes", nil)},
			wantConfigured: true, wantHost: "h",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReplicaStatusRows(tt.columns, tt.rows)
			if err != nil {
				t.Fatalf("ParseReplicaStatusRows() = %v", err)
			}
			if got.Configured != tt.wantConfigured || got.SourceHost != tt.wantHost || got.ConnectionName != "" {
				t.Errorf("Configured, SourceHost, ConnectionName = %v, %q, %q; want %v, %q, \"\"", got.Configured, got.SourceHost, got.ConnectionName, tt.wantConfigured, tt.wantHost)
			}
			if !reflect.DeepEqual(got.Filters, tt.wantFilters) {
				t.Errorf("Filters = %q; want %q", got.Filters, tt.wantFilters)
			}
			if !reflect.DeepEqual(got.OtherConnections, tt.wantOthers) || !reflect.DeepEqual(got.OtherConnectionNames, tt.wantNames) {
				t.Errorf("OtherConnections = %q, names %q; want %q, %q", got.OtherConnections, got.OtherConnectionNames, tt.wantOthers, tt.wantNames)
			}
			if !tt.wantConfigured {
				want := ReplicaStatus{OtherConnections: tt.wantOthers, OtherConnectionNames: tt.wantNames}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("without a default connection = %+v; want only the other connections", got)
				}
			}
		})
	}
	// The default row parses exactly as ParseReplicaStatus parses it alone.
	rows := [][]sql.NullString{statusRow(maria, "x", "a", "1", "No", "No", nil), statusRow(maria, "", "b", "2", "Yes", "No", map[string]string{"SQL_Delay": "60"})}
	alone, err := ParseReplicaStatus(maria, rows[1])
	if err != nil {
		t.Fatal(err)
	}
	all, err := ParseReplicaStatusRows(maria, rows)
	if err != nil {
		t.Fatal(err)
	}
	all.OtherConnections, all.OtherConnectionNames = nil, nil
	if !reflect.DeepEqual(all, alone) {
		t.Errorf("default row via ParseReplicaStatusRows =\n%+v\nalone\n%+v", describeStatus(all), describeStatus(alone))
	}
}

func TestParseReplicaStatusRowsErrors(t *testing.T) {
	maria := mariaDB1011AllSlavesStatus
	tests := []struct {
		name    string
		columns []string
		rows    [][]sql.NullString
		wantErr []string
	}{
		{
			name:    "two rows without a name column",
			columns: mariaDB1011SlaveStatus,
			rows: [][]sql.NullString{
				statusRow(mariaDB1011SlaveStatus, "", "a", "1", "Yes", "Yes", nil),
				statusRow(mariaDB1011SlaveStatus, "", "b", "2", "Yes", "Yes", nil),
			},
			wantErr: []string{"2 rows", "default connection"},
		},
		{
			name:    "a bad value in a named connection's row names the connection",
			columns: maria,
			rows: [][]sql.NullString{
				statusRow(maria, "", "a", "1", "Yes", "Yes", nil),
				statusRow(maria, "other", "b", "2", "Yes", "Yes", map[string]string{"Exec_Master_Log_Pos": "x"}),
			},
			wantErr: []string{"connection 'other'", "Exec_Master_Log_Pos"},
		},
		{
			name:    "a bad value in a MySQL channel's row names the channel",
			columns: mysql80ReplicaStatus,
			rows:    [][]sql.NullString{statusRow(mysql80ReplicaStatus, "ch", "b", "2", "Yes", "Yes", map[string]string{"SQL_Delay": "x"})},
			wantErr: []string{"channel 'ch'", "SQL_Delay"},
		},
		{
			name:    "a short row",
			columns: maria,
			rows:    [][]sql.NullString{statusRow(maria, "other", "b", "2", "Yes", "Yes", nil)[1:]},
			wantErr: []string{"values for"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReplicaStatusRows(tt.columns, tt.rows)
			if err == nil {
				t.Fatalf("ParseReplicaStatusRows() = %+v, nil; want an error", got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestOtherConnectionsRefusal(t *testing.T) {
	if err := otherConnectionsRefusal(&Server{Role: "rollback target", Dialect: MariaDB}, ReplicaStatus{Configured: true}); err != nil {
		t.Errorf("no other connections: %v; want nil", err)
	}
	tests := []struct {
		d    Dialect
		rs   ReplicaStatus
		want []string
	}{
		{MariaDB, ReplicaStatus{
			OtherConnections:     []string{"connection 'other' from 127.0.0.1:3307 (IO Yes, SQL Yes)"},
			OtherConnectionNames: []string{"other"},
		}, []string{"rollback target has a replication connection other than the default", "connection 'other' from 127.0.0.1:3307 (IO Yes, SQL Yes)", "(STOP SLAVE 'other'; RESET SLAVE 'other' ALL)"}},
		{MySQL, ReplicaStatus{
			Configured:           true,
			OtherConnections:     []string{"channel 'a' from h:1 (IO No, SQL No)", "channel 'b' from h:2 (IO Yes, SQL Yes)"},
			OtherConnectionNames: []string{"a", "b"},
		}, []string{"replication connections other", "channel 'a' from h:1 (IO No, SQL No), channel 'b'",
			"STOP REPLICA FOR CHANNEL 'a'; RESET REPLICA ALL FOR CHANNEL 'a'; STOP REPLICA FOR CHANNEL 'b'; RESET REPLICA ALL FOR CHANNEL 'b')"}},
		{AuroraMySQL84, ReplicaStatus{OtherConnections: []string{"channel 'c' from h:1 (IO No, SQL No)"}, OtherConnectionNames: []string{"c"}},
			[]string{"CALL mysql.rds_stop_replication_for_channel('c'); CALL mysql.rds_reset_external_source_for_channel('c')"}},
	}
	for _, tt := range tests {
		err := otherConnectionsRefusal(&Server{Role: "rollback target", Dialect: tt.d}, tt.rs)
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("%s: %v; want ErrRefused", tt.d, err)
		}
		for _, s := range tt.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not contain %q", tt.d, err, s)
			}
		}
		if strings.Contains(err.Error(), "/* switchback */") {
			t.Errorf("%s: hint carries the marker: %q", tt.d, err)
		}
	}
}
