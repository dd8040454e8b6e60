// Package emf writes CloudWatch metrics in the embedded metric format: a
// JSON log line whose "_aws" member tells CloudWatch Logs which of its
// fields are metrics and which are dimensions. In Lambda, logging the line
// is publishing the metric; no API call, no permission beyond logs.
package emf

import (
	"context"
	"log/slog"
	"math"
	"sort"
	"time"
)

// Namespace is switchback's CloudWatch namespace.
const Namespace = "Switchback"

// Dimension is the one dimension switchback's metrics carry.
const Dimension = "Deployment"

// Units switchback's metrics use (CloudWatch's StandardUnit names).
const (
	UnitNone    = "None"
	UnitSeconds = "Seconds"
	UnitBytes   = "Bytes"
	UnitCount   = "Count"
)

// Metric is one value of one metric.
type Metric struct {
	Name  string
	Value float64
	// Unit is a CloudWatch unit; "" is None.
	Unit string
}

// Publish logs one EMF line on logger (a JSON handler writing to stdout)
// with the metrics and one Deployment dimension.
func Publish(ctx context.Context, logger *slog.Logger, deployment string, metrics map[string]float64) {
	ms := make([]Metric, 0, len(metrics))
	for name, v := range metrics {
		ms = append(ms, Metric{Name: name, Value: v})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	Emit(ctx, logger, deployment, ms)
}

// Emit logs one EMF line on logger carrying every metric of ms (a value
// that is not a finite number is left out: CloudWatch would reject the
// line) under the Deployment dimension, and attrs as ordinary members that
// CloudWatch keeps in the log but does not turn into metrics (reasons,
// details). A line with no metric left is still logged, without "_aws".
func Emit(ctx context.Context, logger *slog.Logger, deployment string, ms []Metric, attrs ...any) {
	defs := make([]map[string]string, 0, len(ms))
	values := make([]any, 0, 2*len(ms)+len(attrs)+4)
	for _, m := range ms {
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) || m.Name == "" {
			continue
		}
		unit := m.Unit
		if unit == "" {
			unit = UnitNone
		}
		defs = append(defs, map[string]string{"Name": m.Name, "Unit": unit})
		values = append(values, slog.Float64(m.Name, m.Value))
	}
	if len(defs) > 0 {
		meta := map[string]any{
			"Timestamp": time.Now().UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  Namespace,
				"Dimensions": [][]string{{Dimension}},
				"Metrics":    defs,
			}},
		}
		values = append(values, slog.Any("_aws", meta))
	}
	values = append(values, slog.String(Dimension, deployment))
	values = append(values, attrs...)
	logger.InfoContext(ctx, "metric", values...)
}
