// Package emf writes CloudWatch metrics in the embedded metric format: a
// JSON log line whose "_aws" member tells CloudWatch Logs which of its
// fields are metrics and which are dimensions. In Lambda, logging the line
// is publishing the metric; no API call, no permission beyond logs.
package emf

import (
	"context"
	"log/slog"
	"time"
)

// Namespace is switchback's CloudWatch namespace.
const Namespace = "Switchback"

// Publish logs one EMF line on logger (a JSON handler writing to stdout)
// with the metrics and one Deployment dimension.
func Publish(ctx context.Context, logger *slog.Logger, deployment string, metrics map[string]float64) {
	defs := make([]map[string]string, 0, len(metrics))
	attrs := []any{}
	for name, v := range metrics {
		defs = append(defs, map[string]string{"Name": name, "Unit": "None"})
		attrs = append(attrs, slog.Float64(name, v))
	}
	meta := map[string]any{
		"Timestamp": time.Now().UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  Namespace,
			"Dimensions": [][]string{{"Deployment"}},
			"Metrics":    defs,
		}},
	}
	attrs = append(attrs, slog.Any("_aws", meta), slog.String("Deployment", deployment))
	logger.InfoContext(ctx, "metric", attrs...)
}
