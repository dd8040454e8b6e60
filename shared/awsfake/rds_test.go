package awsfake_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/switchback/switchback/shared/awsfake"
)

// post sends a raw Query request, signed or not (the fake only checks the
// Authorization header's shape).
func post(t *testing.T, f *awsfake.RDS, form url.Values, signed bool) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.URL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if signed {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260310/us-east-1/rds/aws4_request, SignedHeaders=host, Signature=00")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// rdsSpy records the test errors a started fake reports.
type rdsSpy struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (s *rdsSpy) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *rdsSpy) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
	ReqID   string   `xml:"RequestId"`
}

func parseError(t *testing.T, body string) errorResponse {
	t.Helper()
	var e errorResponse
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestRDSWireShapes(t *testing.T) {
	f := awsfake.StartRDS(t)
	f.AddCluster(awsfake.RDSCluster{ID: "orders-prod", ParameterGroup: "orders-pg"})

	status, body := post(t, f, url.Values{"Action": {"DescribeDBClusters"}, "Version": {"2014-10-31"}}, true)
	var ok struct {
		XMLName  xml.Name `xml:"DescribeDBClustersResponse"`
		Clusters []string `xml:"DescribeDBClustersResult>DBClusters>DBCluster>DBClusterIdentifier"`
		ReqID    string   `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal([]byte(body), &ok); err != nil || status != 200 || !slices.Equal(ok.Clusters, []string{"orders-prod"}) || ok.ReqID == "" {
		t.Errorf("success: %d %q (%v)", status, body, err)
	}

	status, body = post(t, f, url.Values{"Action": {"DescribeDBClusters"}, "Version": {"2014-10-31"}, "DBClusterIdentifier": {"nope"}}, true)
	if e := parseError(t, body); status != 404 || e.Type != "Sender" || e.Code != "DBClusterNotFoundFault" || e.Message == "" || e.ReqID == "" {
		t.Errorf("not found: %d %+v", status, e)
	}
}

func TestRDSRejectsWhatItDoesNotUnderstand(t *testing.T) {
	spy := &rdsSpy{TB: t}
	f := awsfake.StartRDS(spy)
	f.AddParameterGroup("orders-pg", map[string]string{"read_only": "0"})
	for _, tc := range []struct {
		name   string
		form   url.Values
		signed bool
		status int
		code   string
		text   string
	}{
		{"unsigned", url.Values{"Action": {"DescribeDBClusters"}, "Version": {"2014-10-31"}}, false, 403, "MissingAuthenticationToken", "SigV4"},
		{"no action", url.Values{"Version": {"2014-10-31"}}, true, 400, "MissingAction", "Action"},
		{"unknown action", url.Values{"Action": {"RebootDBCluster"}, "Version": {"2014-10-31"}}, true, 400, "InvalidAction", "RebootDBCluster"},
		{"wrong version", url.Values{"Action": {"DescribeDBClusters"}, "Version": {"2013-01-10"}}, true, 400, "InvalidParameterValue", "2014-10-31"},
		{"missing group name", url.Values{"Action": {"ModifyDBClusterParameterGroup"}, "Version": {"2014-10-31"},
			"Parameters.Parameter.1.ParameterName": {"read_only"}, "Parameters.Parameter.1.ParameterValue": {"1"}, "Parameters.Parameter.1.ApplyMethod": {"immediate"}},
			true, 400, "MissingParameter", "DBClusterParameterGroupName"},
		{"no parameters", url.Values{"Action": {"ModifyDBClusterParameterGroup"}, "Version": {"2014-10-31"}, "DBClusterParameterGroupName": {"orders-pg"}},
			true, 400, "MissingParameter", "Parameters"},
		{"missing value", url.Values{"Action": {"ModifyDBClusterParameterGroup"}, "Version": {"2014-10-31"}, "DBClusterParameterGroupName": {"orders-pg"},
			"Parameters.Parameter.1.ParameterName": {"read_only"}, "Parameters.Parameter.1.ApplyMethod": {"immediate"}},
			true, 400, "MissingParameter", "ParameterValue"},
		{"bad apply method", url.Values{"Action": {"ModifyDBClusterParameterGroup"}, "Version": {"2014-10-31"}, "DBClusterParameterGroupName": {"orders-pg"},
			"Parameters.Parameter.1.ParameterName": {"read_only"}, "Parameters.Parameter.1.ParameterValue": {"1"}, "Parameters.Parameter.1.ApplyMethod": {"now"}},
			true, 400, "InvalidParameterValue", "ApplyMethod"},
		{"unmodeled parameter", url.Values{"Action": {"DescribeDBClusters"}, "Version": {"2014-10-31"}, "Filters.Filter.1.Name": {"engine"}},
			true, 400, "InvalidParameterValue", "Filters.Filter.1.Name"},
		{"identifier without type", url.Values{"Action": {"DescribeEvents"}, "Version": {"2014-10-31"}, "SourceIdentifier": {"orders-prod"}},
			true, 400, "InvalidParameterCombination", "SourceType"},
		{"bad marker", url.Values{"Action": {"DescribeEvents"}, "Version": {"2014-10-31"}, "Marker": {"xyz"}},
			true, 400, "InvalidParameterValue", "Marker"},
		{"max records below 20", url.Values{"Action": {"DescribeDBClusters"}, "Version": {"2014-10-31"}, "MaxRecords": {"5"}},
			true, 400, "InvalidParameterValue", "MaxRecords"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(spy.errors())
			status, body := post(t, f, tc.form, tc.signed)
			e := parseError(t, body)
			if status != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.text) {
				t.Errorf("got %d %s %q, want %d %s mentioning %q", status, e.Code, e.Message, tc.status, tc.code, tc.text)
			}
			// The rejection is also reported to the fake's test.
			if errs := spy.errors(); len(errs) != before+1 || !strings.Contains(errs[before], tc.code) {
				t.Errorf("test errors %q, want one more naming %s", errs[before:], tc.code)
			}
		})
	}
	if g := f.ParameterGroup("orders-pg"); g["read_only"] != "0" {
		t.Errorf("a rejected request changed the group: %v", g)
	}
}

func TestRDSThroughSDK(t *testing.T) {
	spy := &rdsSpy{TB: t}
	f := awsfake.StartRDS(spy)
	f.PageSize = 2
	for i := range 5 {
		f.AddCluster(awsfake.RDSCluster{ID: fmt.Sprintf("c%d", i), Port: 3306,
			Members: []awsfake.RDSClusterMember{{Instance: fmt.Sprintf("c%d-1", i), Writer: true}}})
	}
	api := f.Client()

	var ids []string
	p := rds.NewDescribeDBClustersPaginator(api, &rds.DescribeDBClustersInput{})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range page.DBClusters {
			ids = append(ids, aws.ToString(c.DBClusterIdentifier))
			if aws.ToInt32(c.Port) != 3306 || !aws.ToBool(c.DBClusterMembers[0].IsClusterWriter) {
				t.Errorf("cluster decoded as %+v", c)
			}
		}
	}
	if pages != 3 || !slices.Equal(ids, []string{"c0", "c1", "c2", "c3", "c4"}) {
		t.Errorf("%d pages, ids %q", pages, ids)
	}

	// An action the fake does not implement fails loudly through the SDK.
	_, err := api.DescribeDBInstances(t.Context(), &rds.DescribeDBInstancesInput{})
	if apiCode(err) != "InvalidAction" || !strings.Contains(err.Error(), "DescribeDBInstances") {
		t.Errorf("DescribeDBInstances: %v", err)
	}
	// So does a parameter it does not model.
	_, err = api.DescribeDBClusters(t.Context(), &rds.DescribeDBClustersInput{Filters: []types.Filter{{Name: aws.String("engine"), Values: []string{"aurora-mysql"}}}})
	if apiCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "awsfake") {
		t.Errorf("Filters: %v", err)
	}
	// Modeled faults decode to the SDK's types.
	_, err = api.DescribeDBClusters(t.Context(), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("nope")})
	var nf *types.DBClusterNotFoundFault
	if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "nope") {
		t.Errorf("not found: %v", err)
	}
	// The two requests the fake did not understand failed its test; the
	// not-found answer did not.
	if errs := spy.errors(); len(errs) != 2 || !strings.Contains(errs[0], "DescribeDBInstances") || !strings.Contains(errs[1], "Filters") {
		t.Errorf("test errors %q", errs)
	}
}

func TestRDSModifyParameterGroup(t *testing.T) {
	spy := &rdsSpy{TB: t}
	f := awsfake.StartRDS(spy)
	f.AddParameterGroup("orders-pg", map[string]string{"read_only": "0", "binlog_format": "ROW"})
	f.AddParameterGroup("default.aurora-mysql8.0", map[string]string{"read_only": "0"})
	var applied []awsfake.RDSParameter
	f.OnModifyDBClusterParameterGroup = func(group string, params []awsfake.RDSParameter) error {
		applied = append(applied, params...)
		return nil
	}
	api := f.Client()
	_, err := api.ModifyDBClusterParameterGroup(t.Context(), &rds.ModifyDBClusterParameterGroupInput{
		DBClusterParameterGroupName: aws.String("orders-pg"),
		Parameters:                  []types.Parameter{{ParameterName: aws.String("read_only"), ParameterValue: aws.String("1"), ApplyMethod: types.ApplyMethodImmediate}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []awsfake.RDSParameter{{Name: "read_only", Value: "1", ApplyMethod: "immediate"}}; !slices.Equal(applied, want) {
		t.Errorf("hook got %+v", applied)
	}
	out, err := api.DescribeDBClusterParameters(t.Context(), &rds.DescribeDBClusterParametersInput{DBClusterParameterGroupName: aws.String("orders-pg")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range out.Parameters {
		got[aws.ToString(p.ParameterName)] = aws.ToString(p.ParameterValue)
	}
	if got["read_only"] != "1" || got["binlog_format"] != "ROW" {
		t.Errorf("parameters %v", got)
	}

	many := make([]types.Parameter, 21)
	for i := range many {
		many[i] = types.Parameter{ParameterName: aws.String(fmt.Sprintf("p%d", i)), ParameterValue: aws.String("1"), ApplyMethod: types.ApplyMethodImmediate}
	}
	_, err = api.ModifyDBClusterParameterGroup(t.Context(), &rds.ModifyDBClusterParameterGroupInput{DBClusterParameterGroupName: aws.String("orders-pg"), Parameters: many})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("21 parameters: %v", err)
	}
	for group, code := range map[string]string{"default.aurora-mysql8.0": "InvalidParameterValue", "missing-pg": "DBParameterGroupNotFound"} {
		_, err = api.ModifyDBClusterParameterGroup(t.Context(), &rds.ModifyDBClusterParameterGroupInput{
			DBClusterParameterGroupName: aws.String(group),
			Parameters:                  []types.Parameter{{ParameterName: aws.String("read_only"), ParameterValue: aws.String("1"), ApplyMethod: types.ApplyMethodImmediate}},
		})
		if apiCode(err) != code {
			t.Errorf("%s: %v, want %s", group, err, code)
		}
	}
	if len(applied) != 1 {
		t.Errorf("hook called for rejected requests: %+v", applied)
	}
	// Only the 21-parameter request was not understood.
	if errs := spy.errors(); len(errs) != 1 || !strings.Contains(errs[0], "20") {
		t.Errorf("test errors %q", errs)
	}
}

func TestRDSDeleteTargetRefusedAfterSwitchover(t *testing.T) {
	f := awsfake.StartRDS(t)
	f.AddDeployment(awsfake.RDSDeployment{ID: "bgd-1", Status: "SWITCHOVER_COMPLETED", Source: "s", Target: "t"})
	_, err := f.Client().DeleteBlueGreenDeployment(t.Context(), &rds.DeleteBlueGreenDeploymentInput{
		BlueGreenDeploymentIdentifier: aws.String("bgd-1"), DeleteTarget: aws.Bool(true)})
	var fault *types.InvalidBlueGreenDeploymentStateFault
	if !errors.As(err, &fault) || !f.HasDeployment("bgd-1") {
		t.Errorf("DeleteTarget after switchover: %v", err)
	}
}

// Parameters defined with their metadata: DescribeDBClusterParameters
// lists the apply type, modifiability, allowed values and source through
// the real SDK, and ModifyDBClusterParameterGroup refuses what RDS
// refuses — well-formed requests, so they do not fail the test.
func TestRDSParameterMetadata(t *testing.T) {
	spy := &rdsSpy{TB: t}
	f := awsfake.StartRDS(spy)
	f.AddParameterGroup("orders-pg", map[string]string{"read_only": "0"})
	f.DefineParameters("orders-pg",
		awsfake.RDSGroupParameter{Name: "slave_parallel_workers", Value: "0", AllowedValues: "0-1024"},
		awsfake.RDSGroupParameter{Name: "slave_preserve_commit_order", ApplyType: "static", AllowedValues: "0,1"},
		awsfake.RDSGroupParameter{Name: "binlog_row_image", Value: "FULL", Fixed: true})
	f.AddCluster(awsfake.RDSCluster{ID: "orders-old1", ParameterGroup: "orders-pg",
		Members: []awsfake.RDSClusterMember{{Instance: "orders-old1-1", Writer: true}}})
	var applied []awsfake.RDSParameter
	f.OnModifyDBClusterParameterGroup = func(group string, params []awsfake.RDSParameter) error {
		applied = append(applied, params...)
		return nil
	}
	api := f.Client()
	out, err := api.DescribeDBClusterParameters(t.Context(), &rds.DescribeDBClusterParametersInput{DBClusterParameterGroupName: aws.String("orders-pg")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]types.Parameter{}
	for _, p := range out.Parameters {
		got[aws.ToString(p.ParameterName)] = p
	}
	if p := got["slave_parallel_workers"]; aws.ToString(p.ParameterValue) != "0" || aws.ToString(p.ApplyType) != "dynamic" || !aws.ToBool(p.IsModifiable) ||
		aws.ToString(p.AllowedValues) != "0-1024" || aws.ToString(p.Source) != "engine-default" {
		t.Errorf("slave_parallel_workers %+v", p)
	}
	if p := got["slave_preserve_commit_order"]; p.ParameterValue != nil || aws.ToString(p.ApplyType) != "static" || aws.ToString(p.AllowedValues) != "0,1" {
		t.Errorf("slave_preserve_commit_order %+v", p)
	}
	if p := got["binlog_row_image"]; aws.ToBool(p.IsModifiable) {
		t.Errorf("binlog_row_image %+v", p)
	}
	if p := got["read_only"]; aws.ToString(p.Source) != "user" || aws.ToString(p.ApplyType) != "dynamic" || !aws.ToBool(p.IsModifiable) {
		t.Errorf("read_only %+v", p)
	}
	modify := func(name, value string, method types.ApplyMethod) error {
		_, err := api.ModifyDBClusterParameterGroup(t.Context(), &rds.ModifyDBClusterParameterGroupInput{
			DBClusterParameterGroupName: aws.String("orders-pg"),
			Parameters:                  []types.Parameter{{ParameterName: aws.String(name), ParameterValue: aws.String(value), ApplyMethod: method}},
		})
		return err
	}
	for _, tc := range []struct {
		name, value string
		method      types.ApplyMethod
		code        string
	}{
		{"no_such_parameter", "1", types.ApplyMethodImmediate, "InvalidParameterValue"},
		{"binlog_row_image", "MINIMAL", types.ApplyMethodPendingReboot, "InvalidParameterValue"},
		{"slave_preserve_commit_order", "1", types.ApplyMethodImmediate, "InvalidParameterCombination"},
		{"slave_preserve_commit_order", "ON", types.ApplyMethodPendingReboot, "InvalidParameterValue"},
		{"slave_parallel_workers", "2000", types.ApplyMethodImmediate, "InvalidParameterValue"},
	} {
		if err := modify(tc.name, tc.value, tc.method); apiCode(err) != tc.code {
			t.Errorf("%s=%s (%s): %v; want %s", tc.name, tc.value, tc.method, err, tc.code)
		}
	}
	if len(applied) != 0 || f.PendingReboot("orders-pg") {
		t.Fatalf("refused changes reached the hook (%+v) or the group", applied)
	}
	status := func() string {
		out, err := api.DescribeDBClusters(t.Context(), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("orders-old1")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.DBClusters[0].DBClusterMembers[0].DBClusterParameterGroupStatus)
	}
	if err := modify("slave_parallel_workers", "4", types.ApplyMethodImmediate); err != nil || status() != "in-sync" {
		t.Errorf("immediate dynamic change: %v, status %s", err, status())
	}
	if err := modify("slave_preserve_commit_order", "1", types.ApplyMethodPendingReboot); err != nil || status() != "pending-reboot" || !f.PendingReboot("orders-pg") {
		t.Errorf("pending-reboot static change: %v, status %s", err, status())
	}
	f.Reboot("orders-pg")
	if status() != "in-sync" {
		t.Errorf("after the reboot: %s", status())
	}
	if g := f.ParameterGroup("orders-pg"); g["slave_parallel_workers"] != "4" || g["slave_preserve_commit_order"] != "1" {
		t.Errorf("group %v", g)
	}
	if want := []awsfake.RDSParameter{{Name: "slave_parallel_workers", Value: "4", ApplyMethod: "immediate"}, {Name: "slave_preserve_commit_order", Value: "1", ApplyMethod: "pending-reboot"}}; !slices.Equal(applied, want) {
		t.Errorf("hook got %+v", applied)
	}
	if errs := spy.errors(); len(errs) != 0 {
		t.Errorf("well-formed requests failed the test: %q", errs)
	}
}
