package main

import (
	"context"
	"time"
)

// section is one benchmark's part of BENCHMARKS.md and of the table
// `make bench` prints.
type section struct {
	// Title is the heading, e.g. "Rollback write downtime".
	Title string
	// What says in a sentence or two what is measured and how.
	What string
	// Floor says what the floor is and how it was measured in the same
	// run (bare SQL statements, no tool), or "" when there is none.
	Floor string
	// Header and Rows are the table; every figure a string already
	// formatted (medians, p95, ratios to the floor).
	Header []string
	Rows   [][]string
	// Target is the target and whether this run met it, e.g.
	// "p95 ≤ 200 ms and ≤ 1.5× floor: met (142 ms, 1.2×)"; "" when none.
	Target string
	// Notes are caveats worth reading next to the figures.
	Notes []string
	// Took is how long the section ran.
	Took time.Duration
}

// benchConfig is what every benchmark gets.
type benchConfig struct {
	// Runs is the number of repetitions where the issue asks for ≥ 20.
	Runs int
	// Quick shrinks every benchmark (fewer runs, shorter holds) for a
	// smoke run; the figures of a quick run are not written to
	// BENCHMARKS.md.
	Quick bool
	// WorkDir is a scratch directory for servers and binaries.
	WorkDir string
	// Progress prints one progress line to stderr.
	Progress func(format string, args ...any)
}

// benchmark is one entry of the benchmark list main runs in order.
type benchmark struct {
	Name string // short name for -only
	Run  func(ctx context.Context, cfg benchConfig) (section, error)
}
