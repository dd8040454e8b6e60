package awsrds

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchback/switchback/shared/awsfake"
	"github.com/switchback/switchback/shared/orchestrate"
)

func TestClusterParameterPaginates(t *testing.T) {
	f, c, _ := newTest(t)
	f.PageSize = 2
	f.AddParameterGroup("orders-green-80", map[string]string{"a": "1", "b": "2", "binlog_format": "ROW", "read_only": "0", "z": "9"})
	got, err := c.ClusterParameter(t.Context(), "orders-green-80", "z")
	if err != nil || got != "9" {
		t.Fatalf("z = %q, %v; want 9", got, err)
	}
	if n := len(f.Calls("DescribeDBClusterParameters")); n != 3 {
		t.Errorf("%d DescribeDBClusterParameters calls; want 3 pages", n)
	}
	if got, err := c.ClusterParameter(t.Context(), "orders-green-80", "binlog_row_image"); err != nil || got != "" {
		t.Errorf("absent parameter = %q, %v; want empty", got, err)
	}
	_, err = c.ClusterParameter(t.Context(), "nope", "binlog_format")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("unknown group: %v; want a NotFoundError", err)
	}
	if _, err := c.ClusterParameter(t.Context(), "", "binlog_format"); err == nil {
		t.Error("empty group name accepted")
	}
}

func TestCheckFenceGroup(t *testing.T) {
	f, c, _ := newTest(t)
	addOrders(f)
	group, err := c.CheckFenceGroup(t.Context(), orchestrate.Cluster{ID: "orders-prod-old1"})
	if err != nil || group != "orders-old1-57" {
		t.Fatalf("own group: %q, %v", group, err)
	}
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod-green-3rnukl", ParameterGroup: "orders-old1-57"})
	_, err = c.CheckFenceGroup(t.Context(), orchestrate.Cluster{ID: "orders-prod-old1"})
	if !errors.Is(err, ErrFenceRefused) || !strings.Contains(err.Error(), "also used by orders-prod-green-3rnukl") {
		t.Errorf("shared group: %v", err)
	}
	if n := len(f.Calls("ModifyDBClusterParameterGroup")); n != 0 {
		t.Errorf("the check modified a group %d times", n)
	}
	if _, err := c.CheckFenceGroup(t.Context(), orchestrate.Cluster{}); err == nil {
		t.Error("a cluster without identifier accepted")
	}
}
