package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchback/switchback/shared/sandbox"
)

// stats summarises repeated measurements of one figure, in milliseconds.
type stats struct {
	N      int
	Median float64
	P95    float64
	Min    float64
	Max    float64
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value with at least p % of the values
// at or below it. With 20 values the 95th percentile is the 19th, the
// median (p = 50) the 10th. It returns NaN for no values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// median is the middle value of values (the mean of the two middle ones
// for an even count); NaN for no values.
func median(sorted []float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return math.NaN()
	case n%2 == 1:
		return sorted[n/2]
	default:
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
}

// summarize sorts a copy of values and returns their median, nearest-rank
// p95, min and max.
func summarize(values []float64) stats {
	s := slices.Clone(values)
	slices.Sort(s)
	st := stats{N: len(s), Median: median(s), P95: percentile(s, 95), Min: math.NaN(), Max: math.NaN()}
	if len(s) > 0 {
		st.Min, st.Max = s[0], s[len(s)-1]
	}
	return st
}

// ms converts d to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMS formats a millisecond figure with a precision that suits its size:
// "0.42 ms", "3.7 ms", "26 ms", "1.24 s"; "—" for NaN.
func fmtMS(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', 2, 64) + " s"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
}

// fmtRatio formats a/b as "1.8×"; "—" when b is not positive or either is
// NaN.
func fmtRatio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b <= 0 {
		return "—"
	}
	r := a / b
	if r >= 10 {
		return strconv.FormatFloat(r, 'f', 0, 64) + "×"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "×"
}

// ratio returns a/b, or NaN when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// floorHeader is the table header of a section whose rows compare a
// figure with its floor.
var floorHeader = []string{"measure", "runs", "median", "p95", "floor median", "floor p95", "ratio p95", "ratio median"}

// floorRow is one row under floorHeader: the figure, its floor (measured
// in the same run) and the ratios figure / floor.
func floorRow(name string, fig, floor stats) []string {
	runs := strconv.Itoa(fig.N)
	if floor.N > 0 && floor.N != fig.N {
		runs = fmt.Sprintf("%d (floor %d)", fig.N, floor.N)
	}
	if floor.N == 0 {
		return []string{name, runs, fmtMS(fig.Median), fmtMS(fig.P95), "—", "—", "—", "—"}
	}
	return []string{name, runs, fmtMS(fig.Median), fmtMS(fig.P95), fmtMS(floor.Median), fmtMS(floor.P95),
		fmtRatio(fig.P95, floor.P95), fmtRatio(fig.Median, floor.Median)}
}

// machine is where the figures came from.
type machine struct {
	CPU     string
	Cores   int
	Memory  string
	Kernel  string
	OS      string
	Go      string
	MariaDB string
	Date    time.Time
}

// readMachine describes this machine; what cannot be read is "unknown".
func readMachine(now time.Time) machine {
	m := machine{
		CPU: "unknown", Cores: runtime.NumCPU(), Memory: "unknown", Kernel: "unknown", OS: runtime.GOOS,
		Go: runtime.Version(), MariaDB: "unknown", Date: now,
	}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPU = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		if kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 64); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", kb/1024/1024)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if v := osRelease("/etc/os-release"); v != "" {
		m.OS = v
	}
	if mariadbd, _, err := sandbox.FindBinaries(); err == nil {
		if out, err := exec.Command(mariadbd, "--version").Output(); err == nil {
			m.MariaDB = parseMariaDBVersion(string(out))
		}
	}
	return m
}

// procField returns the value of the first "name : value" line of a /proc
// file, or "".
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// osRelease returns PRETTY_NAME from an os-release file, or "".
func osRelease(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

var mariadbVersionRe = regexp.MustCompile(`Ver\s+(\S+)`)

// parseMariaDBVersion extracts the version from `mariadbd --version`
// ("/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for …"); the
// trimmed output when it has no "Ver".
func parseMariaDBVersion(out string) string {
	if m := mariadbVersionRe.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return strings.TrimSpace(out)
}

// result is one benchmark's outcome: its section, or the error that
// stopped it.
type result struct {
	Name    string
	Section section
	Err     error
}

// report is everything BENCHMARKS.md and the stdout table show.
type report struct {
	Machine machine
	// Command is how this report was produced.
	Command string
	Runs    int
	Quick   bool
	Results []result
	Took    time.Duration
}

// mdEscape makes s safe inside a Markdown table cell.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// mdTable writes a Markdown table.
func mdTable(w io.Writer, header []string, rows [][]string) {
	cells := func(r []string) string {
		out := make([]string, len(header))
		for i := range header {
			if i < len(r) {
				out[i] = mdEscape(r[i])
			}
		}
		return "| " + strings.Join(out, " | ") + " |"
	}
	fmt.Fprintln(w, cells(header))
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintln(w, "| "+strings.Join(seps, " | ")+" |")
	for _, r := range rows {
		fmt.Fprintln(w, cells(r))
	}
}

// renderMarkdown writes BENCHMARKS.md.
func renderMarkdown(w io.Writer, rep report) {
	m := rep.Machine
	fmt.Fprintln(w, "# Benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Generated by `%s` on %s, in %s. Do not edit by hand: run it again.\n",
		rep.Command, m.Date.UTC().Format("2006-01-02 15:04 MST"), rep.Took.Round(time.Second))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every figure is measured against real MariaDB servers started on this machine, repeated, and")
	fmt.Fprintln(w, "summarised as a median and a 95th percentile (nearest rank: with 20 runs, the 19th smallest).")
	fmt.Fprintln(w, "Next to it stands its **floor**: the same job done with bare SQL statements and no tool, measured")
	fmt.Fprintln(w, "in the same run on the same servers, interleaved with the tool's runs. The machine is small and")
	fmt.Fprintln(w, "shared, so absolute times move from run to run; the **ratio** to the floor is the figure to read.")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Machine")
	fmt.Fprintln(w)
	mdTable(w, []string{"", ""}, [][]string{
		{"CPU", m.CPU},
		{"cores", strconv.Itoa(m.Cores)},
		{"memory", m.Memory},
		{"OS", m.OS},
		{"kernel", m.Kernel},
		{"Go", m.Go},
		{"MariaDB", m.MariaDB},
		{"date", m.Date.UTC().Format(time.RFC3339)},
		{"runs per figure", strconv.Itoa(rep.Runs)},
	})
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## How to reproduce")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```sh")
	fmt.Fprintln(w, "make bench        # micro-benchmarks, then every benchmark below; rewrites BENCHMARKS.md")
	fmt.Fprintln(w, "make bench-quick  # a smoke run: 3 runs each, short holds; prints the table, writes nothing")
	fmt.Fprintln(w, "go run ./tools/bench -only configure,downtime-saturating -runs 50 -o /tmp/b.md")
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`make bench` installs what it needs when it is missing (mariadb-server and percona-toolkit from")
	fmt.Fprintln(w, "apt). It starts its own throw-away servers on free loopback ports and removes them afterwards.")
	fmt.Fprintf(w, "Benchmarks: %s.\n", strings.Join(benchmarkNames(), ", "))
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Summary")
	fmt.Fprintln(w)
	var rows [][]string
	for _, r := range rep.Results {
		switch {
		case r.Err != nil:
			rows = append(rows, []string{r.Name, "FAILED: " + r.Err.Error()})
		case r.Section.Target != "":
			rows = append(rows, []string{r.Section.Title, r.Section.Target})
		default:
			rows = append(rows, []string{r.Section.Title, "no target in the issue; see below"})
		}
	}
	mdTable(w, []string{"benchmark", "target"}, rows)

	for _, r := range rep.Results {
		fmt.Fprintln(w)
		if r.Err != nil {
			fmt.Fprintf(w, "## %s\n\nFAILED: %s\n", r.Name, r.Err)
			continue
		}
		s := r.Section
		fmt.Fprintf(w, "## %s\n\n", s.Title)
		if s.What != "" {
			fmt.Fprintf(w, "%s\n\n", s.What)
		}
		if s.Floor != "" {
			fmt.Fprintf(w, "**Floor:** %s\n\n", s.Floor)
		}
		if len(s.Header) > 0 {
			mdTable(w, s.Header, s.Rows)
			fmt.Fprintln(w)
		}
		if s.Target != "" {
			fmt.Fprintf(w, "**Target:** %s\n\n", s.Target)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		if len(s.Notes) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "_Took %s._\n", s.Took.Round(100*time.Millisecond))
	}
}

// writeTable prints the figures of every section to w as plain-text
// tables, with each target and any failure.
func writeTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "switchback benchmarks: %s, %d cores, %s; Go %s; MariaDB %s; %d runs per figure%s\n",
		rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Memory, strings.TrimPrefix(rep.Machine.Go, "go"), rep.Machine.MariaDB, rep.Runs,
		map[bool]string{true: " (quick: smoke run, not written to BENCHMARKS.md)", false: ""}[rep.Quick])
	for _, r := range rep.Results {
		fmt.Fprintln(w)
		if r.Err != nil {
			fmt.Fprintf(w, "%s: FAILED: %s\n", r.Name, r.Err)
			continue
		}
		s := r.Section
		fmt.Fprintf(w, "%s  (%s)\n", s.Title, s.Took.Round(100*time.Millisecond))
		if len(s.Header) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  "+strings.Join(s.Header, "\t")+"\t")
			for _, row := range s.Rows {
				fmt.Fprintln(tw, "  "+strings.Join(row, "\t")+"\t")
			}
			tw.Flush()
		}
		if s.Target != "" {
			fmt.Fprintf(w, "  target: %s\n", s.Target)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	fmt.Fprintf(w, "\ntotal %s\n", rep.Took.Round(time.Second))
}

// stepTimes collects the time of named steps over repeated runs, in the
// order the names first appeared.
type stepTimes struct {
	order []string
	ms    map[string][]float64
}

// add records one run of step name.
func (s *stepTimes) add(name string, v float64) {
	if s.ms == nil {
		s.ms = map[string][]float64{}
	}
	if _, ok := s.ms[name]; !ok {
		s.order = append(s.order, name)
	}
	s.ms[name] = append(s.ms[name], v)
}

// medians renders "name 12 ms; other 0.31 ms" with each step's median;
// whole says the times are whole milliseconds (the engine's steps).
func (s *stepTimes) medians(whole bool) string {
	var parts []string
	for _, name := range s.order {
		parts = append(parts, name+" "+stepMedian(*s, name, whole))
	}
	return strings.Join(parts, "; ")
}

// stepMedian is the median of one step in s, formatted as by medians; "—"
// when the step never ran.
func stepMedian(s stepTimes, name string, whole bool) string {
	v, ok := s.ms[name]
	if !ok {
		return "—"
	}
	m := summarize(v).Median
	if whole {
		return strconv.FormatFloat(m, 'f', 0, 64) + " ms"
	}
	return fmtMS(m)
}
