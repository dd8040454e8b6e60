package awstest

import (
	"database/sql"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/sandbox"
)

// Snapshot is everything a rollback could change: each server's fence,
// binlog position and replica status, the clusters and parameter groups
// RDS serves, the application's DNS record and secret, the notifications,
// and the deployment's record and history.
type Snapshot struct {
	Blue, Green ServerState
	Clusters    []string          // identifier=endpoint:port, sorted
	Groups      map[string]string // parameter group → read_only
	AppRecord   string            // the CNAME's value and TTL
	AppSecret   []string          // the secret's versions (id and stages)
	Notified    int
	Record      string // phase, detail and version of the deployment's record
	History     int
}

// ServerState is what a rollback could change on one server.
type ServerState struct {
	ReadOnly       string
	EventScheduler string
	Binlog         string // SHOW MASTER STATUS file:position
	GTIDBinlogPos  string
	Replicas       []string // per connection: host, port, threads, positions, errors
	Users          int
}

// ReadServerState reads s's state as root, on a connection closed before
// it returns (an idle root session on production would count as a writer
// that bypasses the fence).
func ReadServerState(t *testing.T, s *sandbox.Server) ServerState {
	t.Helper()
	db, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var st ServerState
	if err := db.QueryRow("SELECT @@global.read_only, @@global.event_scheduler, @@global.gtid_binlog_pos, (SELECT COUNT(*) FROM mysql.user)").
		Scan(&st.ReadOnly, &st.EventScheduler, &st.GTIDBinlogPos, &st.Users); err != nil {
		t.Fatal(err)
	}
	rows := queryMaps(t, db, "SHOW MASTER STATUS")
	if len(rows) == 1 {
		st.Binlog = rows[0]["File"] + ":" + rows[0]["Position"]
	}
	for _, r := range queryMaps(t, db, "SHOW ALL SLAVES STATUS") {
		var parts []string
		for _, k := range []string{"Connection_name", "Master_Host", "Master_Port", "Slave_IO_Running", "Slave_SQL_Running",
			"Master_Log_File", "Read_Master_Log_Pos", "Relay_Master_Log_File", "Exec_Master_Log_Pos", "Last_IO_Errno", "Last_SQL_Errno"} {
			parts = append(parts, k+"="+r[k])
		}
		st.Replicas = append(st.Replicas, strings.Join(parts, " "))
	}
	return st
}

func queryMaps(t *testing.T, db *sql.DB, q string) []map[string]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vals[i].String
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Snapshot reads the world's state (servers, AWS fakes, store).
func (w *World) Snapshot() Snapshot {
	w.t.Helper()
	s := Snapshot{Blue: ReadServerState(w.t, w.Blue), Green: ReadServerState(w.t, w.Green), Groups: map[string]string{}}
	for _, id := range []string{ProdID, OldID, ProdID + "-rolledback1", ProdID + "-rolledback2"} {
		if c, ok := w.RDS.Cluster(id); ok {
			s.Clusters = append(s.Clusters, fmt.Sprintf("%s=%s:%d", c.ID, c.Endpoint, c.Port))
		}
	}
	sort.Strings(s.Clusters)
	for _, g := range []string{OldGroup, ProdGroup} {
		s.Groups[g] = w.RDS.ParameterGroup(g)["read_only"]
	}
	if r, ok := w.R53.Record(AppZone, AppRecord, "CNAME"); ok {
		s.AppRecord = fmt.Sprintf("%s TTL %d", strings.Join(r.Values, ","), r.TTL)
	}
	for _, v := range w.SM.SecretVersions(AppSecret) {
		s.AppSecret = append(s.AppSecret, v.ID+" "+strings.Join(v.Stages, ","))
	}
	s.Notified = len(w.SNS.Published(""))
	if rec, err := w.Store.Get(w.t.Context(), DeploymentID); err == nil {
		s.Record = fmt.Sprintf("%s (%s) v%d", rec.Phase, rec.PhaseDetail, rec.Version)
	}
	hist, err := w.Store.History(w.t.Context(), DeploymentID)
	if err != nil {
		w.t.Fatal(err)
	}
	s.History = len(hist)
	return s
}

// Diff describes how b differs from a ("" when equal).
func (a Snapshot) Diff(b Snapshot) string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		x, y := va.Field(i).Interface(), vb.Field(i).Interface()
		if !reflect.DeepEqual(x, y) {
			out = append(out, fmt.Sprintf("%s: %+v → %+v", va.Type().Field(i).Name, x, y))
		}
	}
	return strings.Join(out, "\n")
}
