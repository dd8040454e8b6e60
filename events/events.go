// Package events holds EventBridge RDS event fixtures: real-shaped envelopes
// (source "aws.rds") for every event switchback acts on or deliberately
// ignores, plus malformed ones under malformed/. README.md lists each file and
// what switchback makes of it.
//
// The name clashes with github.com/aws/aws-lambda-go/events; import this
// package under an alias, e.g. fixtures "github.com/switchback/switchback/events".
package events

import "embed"

// FS holds every fixture: the *.json files at the top level and
// malformed/*.json, with paths relative to this folder
// (e.g. "cluster-binlog-coordinates.json", "malformed/not-json.json").
//
//go:embed *.json malformed/*.json
var FS embed.FS
