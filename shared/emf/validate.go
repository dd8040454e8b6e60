package emf

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// validUnits are the units the EMF specification allows (CloudWatch's
// StandardUnit values).
var validUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true,
	"Bytes": true, "Kilobytes": true, "Megabytes": true, "Gigabytes": true, "Terabytes": true,
	"Bits": true, "Kilobits": true, "Megabits": true, "Gigabits": true, "Terabits": true,
	"Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true, "Terabytes/Second": true,
	"Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true, "Gigabits/Second": true, "Terabits/Second": true,
	"Count/Second": true, "None": true,
}

// Document is one EMF log line, decoded: its members, and the metrics and
// dimensions its directives name.
type Document struct {
	Members map[string]any
	// Namespaces, Metrics (name → unit) and Dimensions (name → value)
	// across the line's directives.
	Namespaces []string
	Metrics    map[string]string
	Dimensions map[string]string
	// Timestamp is _aws.Timestamp, milliseconds since the epoch.
	Timestamp int64
}

// Value returns a metric's value (the first one, for an array of values)
// and whether the line carries it.
func (d Document) Value(name string) (float64, bool) {
	if _, ok := d.Metrics[name]; !ok {
		return 0, false
	}
	switch v := d.Members[name].(type) {
	case float64:
		return v, true
	case []any:
		if len(v) > 0 {
			f, ok := v[0].(float64)
			return f, ok
		}
	}
	return 0, false
}

// Validate checks one log line against the CloudWatch embedded metric
// format specification and decodes it: a JSON object with an "_aws" object
// holding a Timestamp (an integer of milliseconds) and a non-empty
// CloudWatchMetrics array of directives, each with a Namespace (1 to 255
// characters), Dimensions (an array of dimension sets, each an array of at
// most 30 dimension names) and Metrics (at most 100 objects, each with a
// Name of 1 to 1024 characters, an optional Unit from the specification's
// list and an optional StorageResolution of 1 or 60); every dimension must
// be a top-level member holding a string, and every metric a top-level
// member holding a number or an array of at most 100 numbers.
func Validate(line []byte) (Document, error) {
	var doc Document
	if err := json.Unmarshal(line, &doc.Members); err != nil {
		return doc, fmt.Errorf("not a JSON object: %w", err)
	}
	aws, ok := doc.Members["_aws"].(map[string]any)
	if !ok {
		return doc, errors.New(`no "_aws" object: not an EMF document`)
	}
	ts, ok := aws["Timestamp"].(float64)
	if !ok || ts != float64(int64(ts)) || ts <= 0 {
		return doc, fmt.Errorf("_aws.Timestamp %v is not a positive integer of milliseconds", aws["Timestamp"])
	}
	doc.Timestamp = int64(ts)
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		return doc, errors.New("_aws.CloudWatchMetrics is not a non-empty array")
	}
	doc.Metrics, doc.Dimensions = map[string]string{}, map[string]string{}
	for i, raw := range directives {
		dir, ok := raw.(map[string]any)
		if !ok {
			return doc, fmt.Errorf("CloudWatchMetrics[%d] is not an object", i)
		}
		ns, ok := dir["Namespace"].(string)
		if !ok || ns == "" || len(ns) > 255 || strings.HasPrefix(ns, ":") {
			return doc, fmt.Errorf("CloudWatchMetrics[%d].Namespace %v is not a namespace", i, dir["Namespace"])
		}
		doc.Namespaces = append(doc.Namespaces, ns)
		sets, ok := dir["Dimensions"].([]any)
		if !ok {
			return doc, fmt.Errorf("CloudWatchMetrics[%d].Dimensions is not an array", i)
		}
		for j, rawSet := range sets {
			set, ok := rawSet.([]any)
			if !ok || len(set) > 30 {
				return doc, fmt.Errorf("CloudWatchMetrics[%d].Dimensions[%d] is not an array of at most 30 names", i, j)
			}
			for _, rawName := range set {
				name, ok := rawName.(string)
				if !ok || name == "" {
					return doc, fmt.Errorf("CloudWatchMetrics[%d].Dimensions[%d] holds %v, not a name", i, j, rawName)
				}
				v, ok := doc.Members[name].(string)
				if !ok || v == "" {
					return doc, fmt.Errorf("dimension %q is not a top-level member holding a string (%v)", name, doc.Members[name])
				}
				doc.Dimensions[name] = v
			}
		}
		metrics, ok := dir["Metrics"].([]any)
		if !ok || len(metrics) > 100 {
			return doc, fmt.Errorf("CloudWatchMetrics[%d].Metrics is not an array of at most 100 definitions", i)
		}
		for j, rawDef := range metrics {
			def, ok := rawDef.(map[string]any)
			if !ok {
				return doc, fmt.Errorf("CloudWatchMetrics[%d].Metrics[%d] is not an object", i, j)
			}
			name, ok := def["Name"].(string)
			if !ok || name == "" || len(name) > 1024 {
				return doc, fmt.Errorf("CloudWatchMetrics[%d].Metrics[%d].Name %v is not a name", i, j, def["Name"])
			}
			unit := "None"
			if u, present := def["Unit"]; present {
				s, ok := u.(string)
				if !ok || !validUnits[s] {
					return doc, fmt.Errorf("metric %q: Unit %v is not a CloudWatch unit", name, u)
				}
				unit = s
			}
			if r, present := def["StorageResolution"]; present && r != float64(1) && r != float64(60) {
				return doc, fmt.Errorf("metric %q: StorageResolution %v is neither 1 nor 60", name, r)
			}
			switch v := doc.Members[name].(type) {
			case float64:
			case []any:
				if len(v) == 0 || len(v) > 100 {
					return doc, fmt.Errorf("metric %q: %d values; want 1 to 100", name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(float64); !ok {
						return doc, fmt.Errorf("metric %q: value %v is not a number", name, x)
					}
				}
			default:
				return doc, fmt.Errorf("metric %q is not a top-level member holding a number (%v)", name, doc.Members[name])
			}
			doc.Metrics[name] = unit
		}
	}
	return doc, nil
}
