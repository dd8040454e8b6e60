//go:build integration

package awsrds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/orchestrate"
	"github.com/switchback/switchback/shared/replication"
	"github.com/switchback/switchback/shared/sandbox"
)

// rdsApplier stands in for what RDS does with an immediate read_only
// change: after a delay it sets the global variable on the writer — here a
// real MariaDB sandbox server.
type rdsApplier struct {
	t     *testing.T
	db    *sql.DB
	delay time.Duration
	// ignore lists values RDS "never applies" (to test a wait that fails).
	ignore []string
	wg     sync.WaitGroup
}

func (a *rdsApplier) hook(group string, params []awsfake.RDSParameter) error {
	for _, p := range params {
		if p.Name != "read_only" || slices.Contains(a.ignore, p.Value) {
			continue
		}
		if p.Value != "0" && p.Value != "1" {
			return fmt.Errorf("read_only=%q", p.Value)
		}
		a.wg.Add(1)
		go func(v string) {
			defer a.wg.Done()
			time.Sleep(a.delay) // the fake's stand-in for RDS propagating the change
			if _, err := a.db.Exec("SET GLOBAL read_only = " + v); err != nil {
				a.t.Errorf("apply read_only=%s: %v", v, err)
			}
		}(p.Value)
	}
	return nil
}

type sandboxFence struct {
	fake    *awsfake.RDS
	client  *Client
	fencer  *ParameterGroupFencer
	writer  *replication.Server
	db      *sql.DB
	applier *rdsApplier
}

// newSandboxFence starts one MariaDB server as the writer of cluster
// orders-prod-old1, whose own group orders-old1-params has read_only=0,
// among other clusters (one on a default group, two sharing a group),
// listed two a page.
func newSandboxFence(t *testing.T) *sandboxFence {
	t.Helper()
	srv := sandbox.StartT(t, 1, sandbox.Options{})[0]
	db := srv.DBT(t)
	writer, err := replication.Connect(t.Context(), "rollback target", srv.RootDSN(), replication.DialectAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Close() })

	f, c, _ := newTest(t)
	f.PageSize = 2
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod", ParameterGroup: "orders-prod-80"})
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod-old1", ParameterGroup: "orders-old1-params",
		Endpoint: srv.Host, Port: srv.Port,
		Members: []awsfake.RDSClusterMember{{Instance: "orders-prod-instance-1-old1", Writer: true}}})
	f.AddCluster(awsfake.RDSCluster{ID: "legacy", ParameterGroup: "default.aurora-mysql5.7"})
	f.AddCluster(awsfake.RDSCluster{ID: "billing-a", ParameterGroup: "billing-shared"})
	f.AddCluster(awsfake.RDSCluster{ID: "billing-b", ParameterGroup: "billing-shared"})
	for _, g := range []string{"orders-prod-80", "orders-old1-params", "default.aurora-mysql5.7", "billing-shared"} {
		f.AddParameterGroup(g, map[string]string{"read_only": "0", "binlog_format": "ROW"})
	}
	a := &rdsApplier{t: t, db: db, delay: 300 * time.Millisecond}
	t.Cleanup(a.wg.Wait)
	f.OnModifyDBClusterParameterGroup = a.hook

	fe, err := c.Fencer(orchestrate.Cluster{ID: "orders-prod-old1", ParameterGroup: "orders-old1-params"}, writer)
	if err != nil {
		t.Fatal(err)
	}
	pg := fe.(*ParameterGroupFencer)
	pg.PollInterval = 50 * time.Millisecond
	return &sandboxFence{fake: f, client: c, fencer: pg, writer: writer, db: db, applier: a}
}

func (s *sandboxFence) serverReadOnly(t *testing.T) bool {
	t.Helper()
	var v int
	if err := s.db.QueryRow("SELECT @@global.read_only").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v == 1
}

func (s *sandboxFence) fenceReadOnly(t *testing.T) bool {
	t.Helper()
	on, err := s.fencer.ReadOnly(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return on
}

func modifyValues(calls []awsfake.RDSCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Params.Get("Parameters.Parameter.1.ParameterValue"))
	}
	return out
}

func TestParameterGroupFencerOnRealWriter(t *testing.T) {
	s := newSandboxFence(t)
	if s.fenceReadOnly(t) || s.serverReadOnly(t) {
		t.Fatal("fenced before the test")
	}

	start := time.Now()
	if err := s.fencer.SetReadOnly(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < s.applier.delay {
		t.Errorf("SetReadOnly returned after %s, before RDS applied the change (%s)", waited, s.applier.delay)
	}
	calls := s.fake.Calls("ModifyDBClusterParameterGroup")
	if len(calls) != 1 {
		t.Fatalf("%d ModifyDBClusterParameterGroup calls, want 1", len(calls))
	}
	want := url.Values{
		"Action": {"ModifyDBClusterParameterGroup"}, "Version": {"2014-10-31"},
		"DBClusterParameterGroupName":           {"orders-old1-params"},
		"Parameters.Parameter.1.ParameterName":  {"read_only"},
		"Parameters.Parameter.1.ParameterValue": {"1"},
		"Parameters.Parameter.1.ApplyMethod":    {"immediate"},
	}
	if !reflect.DeepEqual(calls[0].Params, want) {
		t.Errorf("sent %v\nwant %v", calls[0].Params, want)
	}
	if !s.serverReadOnly(t) || !s.fenceReadOnly(t) {
		t.Error("not fenced after SetReadOnly(true)")
	}
	if g := s.fake.ParameterGroup("orders-old1-params"); g["read_only"] != "1" {
		t.Errorf("group %v", g)
	}

	if err := s.fencer.SetReadOnly(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if s.serverReadOnly(t) || s.fenceReadOnly(t) {
		t.Error("still fenced after SetReadOnly(false)")
	}
	if got := modifyValues(s.fake.Calls("ModifyDBClusterParameterGroup")); !slices.Equal(got, []string{"1", "0"}) {
		t.Errorf("read_only values sent %q", got)
	}
	// No other group was touched.
	for _, g := range []string{"orders-prod-80", "default.aurora-mysql5.7", "billing-shared"} {
		if v := s.fake.ParameterGroup(g)["read_only"]; v != "0" {
			t.Errorf("group %s read_only=%s", g, v)
		}
	}
}

// After switchover RDS keeps the old blue read-only by itself until the
// deployment is deleted (aws-facts §5, §8): the writer already reports
// read_only=1, but that is not the fence, and SetReadOnly must still set
// the group.
func TestParameterGroupFencerIgnoresBlueGreenProtection(t *testing.T) {
	s := newSandboxFence(t)
	if _, err := s.db.Exec("SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	if s.fenceReadOnly(t) {
		t.Fatal("fence reported on while the group has read_only=0")
	}
	if err := s.fencer.SetReadOnly(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if got := modifyValues(s.fake.Calls("ModifyDBClusterParameterGroup")); !slices.Equal(got, []string{"1"}) {
		t.Errorf("read_only values sent %q, want the group set although the writer was read-only", got)
	}
	if !s.fenceReadOnly(t) {
		t.Error("fence not on")
	}
}

func TestParameterGroupFencerUnconfirmedUnfenceIsWithdrawn(t *testing.T) {
	s := newSandboxFence(t)
	if err := s.fencer.SetReadOnly(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	s.applier.ignore = []string{"0"} // the writer never reports the unfence

	s.fencer.Timeout = 400 * time.Millisecond
	err := s.fencer.SetReadOnly(t.Context(), false)
	if err == nil || !strings.Contains(err.Error(), "did not report it within 400ms") || !strings.Contains(err.Error(), "set back to 1") {
		t.Fatalf("err = %v", err)
	}
	// The caller's deadline ends the wait the same way.
	s.fencer.Timeout = 0
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = s.fencer.SetReadOnly(ctx, false)
	if err == nil || !strings.Contains(err.Error(), "caller's deadline") || !strings.Contains(err.Error(), "set back to 1") {
		t.Fatalf("err = %v", err)
	}

	if got := modifyValues(s.fake.Calls("ModifyDBClusterParameterGroup")); !slices.Equal(got, []string{"1", "0", "1", "0", "1"}) {
		t.Errorf("read_only values sent %q", got)
	}
	if g := s.fake.ParameterGroup("orders-old1-params"); g["read_only"] != "1" {
		t.Errorf("group left at read_only=%s", g["read_only"])
	}
	if !s.serverReadOnly(t) || !s.fenceReadOnly(t) {
		t.Error("not fenced after a withdrawn unfence")
	}
}

func TestParameterGroupFencerRefusalsChangeNothing(t *testing.T) {
	s := newSandboxFence(t)
	for cluster, group := range map[string]string{"legacy": "default.aurora-mysql5.7", "billing-a": "billing-shared"} {
		fe, err := s.client.Fencer(orchestrate.Cluster{ID: cluster, ParameterGroup: group}, s.writer)
		if err != nil {
			t.Fatal(err)
		}
		for _, on := range []bool{true, false} {
			err := fe.SetReadOnly(t.Context(), on)
			if !errors.Is(err, ErrFenceRefused) || !strings.Contains(err.Error(), group) {
				t.Errorf("%s SetReadOnly(%v): %v", cluster, on, err)
			}
		}
		if err := fe.Check(t.Context()); !errors.Is(err, ErrFenceRefused) {
			t.Errorf("%s Check: %v", cluster, err)
		}
	}
	if n := len(s.fake.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Errorf("%d ModifyDBClusterParameterGroup calls", n)
	}
	if s.serverReadOnly(t) {
		t.Error("server read-only after refusals")
	}
}
