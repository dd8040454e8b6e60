package emf

import (
	"bytes"
	"encoding/json"
	"log/slog"
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
