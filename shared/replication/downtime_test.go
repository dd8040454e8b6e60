package replication

import (
	"strings"
	"testing"
	"time"
)

func TestBinlogBytesBetween(t *testing.T) {
	files := []BinlogFile{{"bin.000007", 1000}, {"bin.000008", 5000}, {"bin.000009", 300}, {"bin.000010", 120}}
	pos := func(f string, p uint64) BinlogPosition { return BinlogPosition{File: f, Position: p} }
	tests := []struct {
		name   string
		a, b   BinlogPosition
		files  []BinlogFile
		want   int64
		wantOK bool
	}{
		{"same file", pos("bin.000008", 400), pos("bin.000008", 900), nil, 500, true},
		{"same position", pos("bin.000008", 400), pos("bin.000008", 400), nil, 0, true},
		{"backwards in a file", pos("bin.000008", 900), pos("bin.000008", 400), nil, 0, false},
		{"next file", pos("bin.000008", 4000), pos("bin.000009", 200), files, 1000 + 200, true},
		{"across two rotations", pos("bin.000007", 600), pos("bin.000010", 50), files, 400 + 5000 + 300 + 50, true},
		{"earlier file", pos("bin.000009", 10), pos("bin.000008", 10), files, 0, false},
		{"file not listed (purged)", pos("bin.000006", 10), pos("bin.000008", 10), files, 0, false},
		{"no list", pos("bin.000008", 10), pos("bin.000009", 10), nil, 0, false},
		{"position past the listed size", pos("bin.000007", 2000), pos("bin.000008", 10), files, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := binlogBytesBetween(tt.a, tt.b, tt.files)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("binlogBytesBetween(%s, %s) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestPredictDowntime(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	files := []BinlogFile{{"bin.000001", 10_000_000}, {"bin.000002", 2_000_000}}
	sample := func(after time.Duration, prodFile string, prod uint64, execFile string, exec uint64) positionSample {
		return positionSample{At: t0.Add(after), Production: BinlogPosition{File: prodFile, Position: prod}, Executed: BinlogPosition{File: execFile, Position: exec}}
	}
	tests := []struct {
		name          string
		first, last   positionSample
		wantMS        int64 // -1: no prediction
		wantBehind    int64
		wantApply     float64
		wantWrite     float64
		wantUnknownIn string
	}{
		{
			name:   "caught up: nothing to apply",
			first:  sample(0, "bin.000001", 1000, "bin.000001", 1000),
			last:   sample(time.Second, "bin.000001", 5000, "bin.000001", 5000),
			wantMS: 0, wantBehind: 0, wantApply: 4000, wantWrite: 4000,
		},
		{
			name:   "caught up without a window",
			first:  sample(0, "bin.000001", 1000, "bin.000001", 1000),
			last:   sample(0, "bin.000001", 1000, "bin.000001", 1000),
			wantMS: 0,
		},
		{
			name:   "keeping up a few KB behind",
			first:  sample(0, "bin.000001", 1_000_000, "bin.000001", 996_000),
			last:   sample(time.Second, "bin.000001", 3_000_000, "bin.000001", 2_996_000),
			wantMS: 2, wantBehind: 4000, wantApply: 2_000_000, wantWrite: 2_000_000,
		},
		{
			name:   "falling behind: the whole lag at the apply rate",
			first:  sample(0, "bin.000001", 1_000_000, "bin.000001", 500_000),
			last:   sample(2*time.Second, "bin.000001", 7_000_000, "bin.000001", 2_500_000),
			wantMS: 4500, wantBehind: 4_500_000, wantApply: 1_000_000, wantWrite: 3_000_000,
		},
		{
			name:   "across a rotation",
			first:  sample(0, "bin.000001", 9_500_000, "bin.000001", 9_000_000),
			last:   sample(time.Second, "bin.000002", 1_000_000, "bin.000001", 9_500_000),
			wantMS: 3000, wantBehind: 500_000 + 1_000_000, wantApply: 500_000, wantWrite: 1_500_000,
		},
		{
			name:   "behind, nothing executed: blocked",
			first:  sample(0, "bin.000001", 1000, "bin.000001", 500),
			last:   sample(time.Second, "bin.000001", 9000, "bin.000001", 500),
			wantMS: -1, wantBehind: 8500, wantWrite: 8000,
			wantUnknownIn: "executed nothing in 1s",
		},
		{
			name:   "behind, window too short for a rate",
			first:  sample(0, "bin.000001", 1000, "bin.000001", 500),
			last:   sample(50*time.Millisecond, "bin.000001", 2000, "bin.000001", 900),
			wantMS: -1, wantBehind: 1100, wantApply: 8000, wantWrite: 20000,
			wantUnknownIn: "at least 200ms",
		},
		{
			name:   "executed position went backwards",
			first:  sample(0, "bin.000002", 1000, "bin.000002", 900),
			last:   sample(time.Second, "bin.000002", 2000, "bin.000001", 900),
			wantMS: -1, wantBehind: 10_000_000 - 900 + 2000, wantWrite: 1000,
			wantUnknownIn: "reset or re-pointed",
		},
		{
			name:          "bytes behind unknowable",
			first:         sample(0, "bin.000003", 1000, "bin.000001", 900),
			last:          sample(time.Second, "bin.000003", 2000, "bin.000001", 900),
			wantMS:        -1,
			wantUnknownIn: "cannot tell how many bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := predictDowntime(tt.first, tt.last, files)
			got, ok := p.Predicted()
			switch {
			case tt.wantMS < 0 && ok:
				t.Errorf("predicted %s; want no prediction (%s)", got, tt.wantUnknownIn)
			case tt.wantMS >= 0 && (!ok || got != time.Duration(tt.wantMS)*time.Millisecond):
				t.Errorf("predicted %s, %v (%s); want %d ms", got, ok, p.Unknown, tt.wantMS)
			}
			if p.BytesBehind != tt.wantBehind || p.ApplyBytesPerSecond != tt.wantApply || p.WriteBytesPerSecond != tt.wantWrite {
				t.Errorf("behind %d, apply %.0f/s, write %.0f/s; want %d, %.0f/s, %.0f/s", p.BytesBehind, p.ApplyBytesPerSecond, p.WriteBytesPerSecond, tt.wantBehind, tt.wantApply, tt.wantWrite)
			}
			if !strings.Contains(p.Unknown, tt.wantUnknownIn) || (tt.wantUnknownIn == "") != (p.Unknown == "") {
				t.Errorf("Unknown = %q; want it to contain %q", p.Unknown, tt.wantUnknownIn)
			}
			if s := p.String(); !strings.Contains(s, formatBytes(float64(p.BytesBehind))+" behind") {
				t.Errorf("String() = %q does not name the bytes behind", s)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	for in, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := formatBytes(in); got != want {
			t.Errorf("formatBytes(%v) = %q; want %q", in, got, want)
		}
	}
}
