//go:build integration

package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/dynalitetest"
	"github.com/switchback/switchback/shared/dynamostate"
	"github.com/switchback/switchback/shared/orchestrate"
)

// TestHistoryCommandAgainstDynalite writes a record, a lease and history
// through the Store into dynalite, then runs `switchback history` with the
// SDK's default configuration pointed at it by AWS_ENDPOINT_URL.
func TestHistoryCommandAgainstDynalite(t *testing.T) {
	srv := dynalitetest.Start(t)
	const table = "switchback-state"
	if err := dynamostate.CreateTable(t.Context(), srv.Client, table); err != nil {
		t.Fatal(err)
	}
	store := dynamostate.New(srv.Client, table)

	// The SDK reads its settings from the process environment; keep the
	// machine's own AWS configuration out of the way.
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            srv.Endpoint,
		"AWS_ENDPOINT_URL_DYNAMODB":   srv.Endpoint,
		"AWS_REGION":                  dynalitetest.Region,
		"AWS_ACCESS_KEY_ID":           "dynalite",
		"AWS_SECRET_ACCESS_KEY":       "dynalite",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}

	const id = "bgd-0123456789abcdef"
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	rec, err := store.Create(t.Context(), orchestrate.Record{
		Deployment: id,
		Production: &orchestrate.Cluster{ID: "shop-prod", Endpoint: "shop-prod.cluster-abc.us-east-1.rds.amazonaws.com", Port: 3306,
			Engine: "aurora-mysql", EngineVersion: "8.0.mysql_aurora.3.08.0", ParameterGroup: "shop-prod-params", Writer: "shop-prod-writer"},
		Rollback: &orchestrate.Cluster{ID: "shop-prod-old1", Endpoint: "shop-prod-old1.cluster-abc.us-east-1.rds.amazonaws.com", Port: 3306,
			Engine: "aurora-mysql", EngineVersion: "5.7.mysql_aurora.2.12.1", ParameterGroup: "shop-prod-old1-params", Writer: "shop-prod-old1-writer"},
		Status:     orchestrate.StatusSwitchoverCompleted,
		CreateTime: at.Add(-time.Hour),
		Phase:      orchestrate.PhaseConfiguring,
		UpdatedAt:  at,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec.Coords = &orchestrate.Coordinates{
		File: "mysql-bin-changelog.000003", Position: 154, Source: "shop-prod", Via: "event", Time: at.Add(-time.Minute),
		Message: "Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 154",
	}
	rec.PhaseDetail = "configure invoked"
	rec.UpdatedAt = at.Add(time.Second)
	if _, err := store.Update(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	lease, err := store.AcquireLease(t.Context(), id, "configure/req-42", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	steps := []string{"capture-switchover", "capture-coordinates", "invoke-configure"}
	for _, i := range []int{2, 0, 1} { // appended out of order
		e := orchestrate.HistoryEntry{Deployment: id, Time: at.Add(time.Duration(i) * time.Second), Actor: "capture/req-" + steps[i],
			Step: steps[i], Outcome: "done", Detail: "detail of " + steps[i]}
		if err := store.AppendHistory(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	want, err := store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantHistory, err := store.History(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("text", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", map[string]string{envTable: table}, "history", "--deployment", id)
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		for _, s := range []string{
			"deployment   " + id + " (table " + table + ")",
			"phase        configuring", "detail       configure invoked",
			"production   shop-prod: writer shop-prod-writer at shop-prod.cluster-abc.us-east-1.rds.amazonaws.com:3306, aurora-mysql 8.0.mysql_aurora.3.08.0, parameter group shop-prod-params",
			"rollback     shop-prod-old1: writer shop-prod-old1-writer",
			"coordinates  mysql-bin-changelog.000003:154 from shop-prod via event at 2026-11-24T02:59:00.000Z",
			"message      Binary log coordinates in green environment after switchover: file mysql-bin-changelog.000003 and position 154",
			"version      2, updated 2026-11-24T03:00:01.000Z",
			"lease        held by configure/req-42 until " + stamp(lease.Expires),
			"history: 3 entries, oldest first",
		} {
			if !strings.Contains(out, s) {
				t.Errorf("output lacks %q:\n%s", s, out)
			}
		}
		last := -1
		for _, step := range steps {
			i := strings.Index(out, "capture/req-"+step)
			if i < last {
				t.Errorf("history is not oldest first:\n%s", out)
			}
			last = i
		}
	})

	t.Run("json", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", nil, "history", "--deployment", id, "--table", table, "--output", "json")
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		var got historyJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if got.Table != table || !reflect.DeepEqual(got.Record, want) || !reflect.DeepEqual(got.History, wantHistory) {
			t.Errorf("json = %+v\nwant record %+v\nhistory %+v", got, want, wantHistory)
		}
		for i, step := range steps {
			if got.History[i].Step != step {
				t.Errorf("history[%d] = %s; want %s (oldest first)", i, got.History[i].Step, step)
			}
		}
	})

	t.Run("--table overrides the environment", func(t *testing.T) {
		code, _, errOut := runCLI(t, "", map[string]string{envTable: "some-other-table"}, "history", "--deployment", id, "--table", table)
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("no record", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", map[string]string{envTable: table}, "history", "--deployment", "bgd-missing")
		if code != 1 || !strings.Contains(errOut, "no record for deployment bgd-missing in table "+table) || out != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 1 naming the deployment and the table", code, out, errOut)
		}
	})

	t.Run("no table", func(t *testing.T) {
		code, _, errOut := runCLI(t, "", nil, "history", "--deployment", id, "--table", "no-such-table")
		if code != 1 || !strings.Contains(errOut, "table no-such-table not found in region us-east-1") {
			t.Fatalf("exit %d, stderr %q; want 1 naming the missing table", code, errOut)
		}
	})
}
