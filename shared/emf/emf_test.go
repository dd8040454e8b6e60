package emf

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"testing"
)

// The line must be valid EMF: "_aws" with the namespace, the dimension set
// and each metric's definition, and the metric and dimension values as top
// level members.
func TestPublishWritesEMF(t *testing.T) {
	var buf bytes.Buffer
	Publish(t.Context(), slog.New(slog.NewJSONHandler(&buf, nil)), "bgd-123", map[string]float64{"NeedsAttention": 1})
	var line struct {
		AWS struct {
			Timestamp         int64 `json:"Timestamp"`
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Deployment     string
		NeedsAttention float64
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	m := line.AWS.CloudWatchMetrics
	if line.AWS.Timestamp == 0 || len(m) != 1 || m[0].Namespace != "Switchback" || len(m[0].Dimensions) != 1 || m[0].Dimensions[0][0] != "Deployment" ||
		len(m[0].Metrics) != 1 || m[0].Metrics[0].Name != "NeedsAttention" || line.Deployment != "bgd-123" || line.NeedsAttention != 1 {
		t.Fatalf("not the EMF line expected: %s", buf.Bytes())
	}
}

// One line carries several metrics, each with its unit; values that are
// not numbers are left out; ordinary members ride along; the line
// validates.
func TestEmitSeveralMetricsValidates(t *testing.T) {
	var buf bytes.Buffer
	Emit(t.Context(), slog.New(slog.NewJSONHandler(&buf, nil)), "bgd-123", []Metric{
		{Name: "ReplicaLagSeconds", Value: 3, Unit: UnitSeconds},
		{Name: "BytesBehind", Value: 1024, Unit: UnitBytes},
		{Name: "RollbackReady", Value: 0},
		{Name: "Broken", Value: math.NaN()},
	}, "reasons", []string{"lagging"})
	doc, err := Validate(bytes.TrimSpace(buf.Bytes()))
	if err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if doc.Dimensions["Deployment"] != "bgd-123" || doc.Namespaces[0] != Namespace || len(doc.Metrics) != 3 ||
		doc.Metrics["ReplicaLagSeconds"] != "Seconds" || doc.Metrics["RollbackReady"] != "None" {
		t.Fatalf("decoded %+v from %s", doc, buf.Bytes())
	}
	if v, ok := doc.Value("BytesBehind"); !ok || v != 1024 {
		t.Fatalf("BytesBehind = %v %v", v, ok)
	}
	if _, ok := doc.Value("Broken"); ok {
		t.Fatal("a NaN metric was published")
	}
}

// Documents that break the specification are refused, each with a reason.
func TestValidateRefusesBrokenDocuments(t *testing.T) {
	good := `{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"Switchback","Dimensions":[["Deployment"]],"Metrics":[{"Name":"RollbackReady","Unit":"None"}]}]},"Deployment":"bgd-1","RollbackReady":1}`
	if _, err := Validate([]byte(good)); err != nil {
		t.Fatalf("good document refused: %v", err)
	}
	for name, doc := range map[string]string{
		"not json":            `{`,
		"no _aws":             `{"RollbackReady":1}`,
		"no timestamp":        `{"_aws":{"CloudWatchMetrics":[{"Namespace":"S","Dimensions":[],"Metrics":[]}]}}`,
		"string timestamp":    `{"_aws":{"Timestamp":"now","CloudWatchMetrics":[{"Namespace":"S","Dimensions":[],"Metrics":[]}]}}`,
		"no directives":       `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}`,
		"no namespace":        `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Dimensions":[],"Metrics":[]}]}}`,
		"dimension missing":   `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"S","Dimensions":[["Deployment"]],"Metrics":[]}]}}`,
		"dimension a number":  `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"S","Dimensions":[["Deployment"]],"Metrics":[]}]},"Deployment":3}`,
		"metric missing":      `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"S","Dimensions":[],"Metrics":[{"Name":"M"}]}]}}`,
		"metric a string":     `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"S","Dimensions":[],"Metrics":[{"Name":"M"}]}]},"M":"1"}`,
		"bad unit":            `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"S","Dimensions":[],"Metrics":[{"Name":"M","Unit":"Hours"}]}]},"M":1}`,
		"bad resolution":      `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"S","Dimensions":[],"Metrics":[{"Name":"M","StorageResolution":5}]}]},"M":1}`,
		"dimensions not sets": `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"S","Dimensions":["Deployment"],"Metrics":[]}]},"Deployment":"x"}`,
	} {
		if _, err := Validate([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
}
