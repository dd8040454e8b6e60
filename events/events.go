// Package events holds EventBridge RDS event fixtures: real-shaped envelopes
// (source "aws.rds") for every event switchback acts on or deliberately
// ignores, plus malformed ones under malformed/. README.md lists each file and
// what switchback makes of it.
//
// The name clashes with github.com/aws/aws-lambda-go/events; import this
// package under an alias, e.g. fixtures "github.com/switchback/switchback/events".
package events

import (
	"embed"
	"io/fs"
)

// FS holds every fixture: the *.json files at the top level and
// malformed/*.json, with paths relative to this folder
// (e.g. "cluster-binlog-coordinates.json", "malformed/not-json.json").
//
//go:embed *.json malformed/*.json
var FS embed.FS

// All returns every fixture's contents by path, malformed ones included:
// the seed corpus of the decoders' fuzz targets.
func All() (map[string][]byte, error) {
	all := map[string][]byte{}
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := FS.ReadFile(path)
		all[path] = data
		return err
	})
	return all, err
}
