package replication

import (
	"testing"
)

func BenchmarkParseReplicaStatus(b *testing.B) {
	vals := row(mariaDB1011SlaveStatus, map[string]string{
		"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": "0",
		"Master_Host": "127.0.0.1", "Master_Port": "3306", "Exec_Master_Log_Pos": "40134574",
		"Read_Master_Log_Pos": "40134574", "Relay_Master_Log_File": "mysql-bin-changelog.000003",
		"Last_IO_Errno": "0", "Last_SQL_Errno": "0",
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseReplicaStatus(mariaDB1011SlaveStatus, vals); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetSourceStatements(b *testing.B) {
	p := SourceParams{Host: "orders-prod.cluster-abc.us-east-1.rds.amazonaws.com", Port: 3306, User: "switchback_repl",
		Password: "s3cret", File: "mysql-bin-changelog.000003", Position: 40134574}
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range Dialects() {
			if _, err := d.SetSource(p, ServerInfo{Version: "8.0.39"}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
