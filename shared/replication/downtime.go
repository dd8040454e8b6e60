package replication

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Write downtime prediction: how long production would be fenced if a
// cutover started now. Once production is fenced it stops writing, so the
// cutover waits for the rollback target to execute what it has not yet
// executed (the bytes behind) at the rate it applies; the rest of the
// fenced window is a few round trips.
const (
	// DefaultMaxWriteDowntime is the longest predicted write downtime at
	// which rollback --execute fences production when
	// RollbackRequest.MaxWriteDowntime is zero.
	DefaultMaxWriteDowntime = time.Second
	// DefaultPredictionWindow is how long status watches both positions to
	// measure the rates a prediction is made from.
	DefaultPredictionWindow = time.Second
	// minPredictionWindow is the shortest measurement a prediction for a
	// target that is behind is made from: a shorter one measures the
	// rhythm of group commits, not a rate.
	minPredictionWindow = 200 * time.Millisecond
	// predictionPollInterval is how often the pre-fence gate samples.
	predictionPollInterval = 20 * time.Millisecond
)

// DowntimePrediction is how long production would be fenced if a cutover
// started now, and the figures it comes from. Rates are binlog bytes per
// second over the measurement window.
type DowntimePrediction struct {
	// BytesBehind is what the rollback target has still to execute:
	// production's binlog from the target's executed position to
	// production's current one, across files.
	BytesBehind int64 `json:"bytes_behind"`
	// ApplyBytesPerSecond is how fast the rollback target executed
	// production's binlog during the window.
	ApplyBytesPerSecond float64 `json:"apply_bytes_per_second"`
	// WriteBytesPerSecond is how fast production wrote its binlog during
	// the window.
	WriteBytesPerSecond float64 `json:"write_bytes_per_second"`
	// WindowMS is the measurement window.
	WindowMS int64 `json:"window_ms"`
	// PredictedMS is BytesBehind at the apply rate; nil when it cannot be
	// predicted (see Unknown).
	PredictedMS *int64 `json:"predicted_ms"`
	// Unknown says why there is no prediction.
	Unknown string `json:"unknown,omitempty"`
}

// Predicted returns the prediction and whether there is one.
func (p DowntimePrediction) Predicted() (time.Duration, bool) {
	if p.PredictedMS == nil {
		return 0, false
	}
	return time.Duration(*p.PredictedMS) * time.Millisecond, true
}

// String describes the prediction in one line, for people.
func (p DowntimePrediction) String() string {
	rates := fmt.Sprintf("%s behind; the rollback target applies %s/s while production writes %s/s (over %s)",
		formatBytes(float64(p.BytesBehind)), formatBytes(p.ApplyBytesPerSecond), formatBytes(p.WriteBytesPerSecond),
		(time.Duration(p.WindowMS) * time.Millisecond).String())
	if p.PredictedMS == nil {
		return "unknown (" + p.Unknown + "): " + rates
	}
	return fmt.Sprintf("%d ms: %s", *p.PredictedMS, rates)
}

// positionSample is production's binlog position and the rollback
// target's executed position (in production's coordinates) at one moment.
type positionSample struct {
	At         time.Time
	Production BinlogPosition
	Executed   BinlogPosition
}

// predictDowntime predicts the write downtime of a cutover started at
// last, from the rates between first and last; files is production's SHOW
// BINARY LOGS, needed only when positions lie in different files. It is a
// pure function.
func predictDowntime(first, last positionSample, files []BinlogFile) DowntimePrediction {
	window := last.At.Sub(first.At)
	p := DowntimePrediction{WindowMS: window.Milliseconds()}
	behind, ok := binlogBytesBetween(last.Executed, last.Production, files)
	if !ok {
		p.Unknown = fmt.Sprintf("cannot tell how many bytes lie between the rollback target's executed %s and production's %s (is a file between them purged?)", last.Executed, last.Production)
		return p
	}
	p.BytesBehind = behind
	applied, appliedOK := binlogBytesBetween(first.Executed, last.Executed, files)
	written, writtenOK := binlogBytesBetween(first.Production, last.Production, files)
	if secs := window.Seconds(); secs > 0 {
		if appliedOK {
			p.ApplyBytesPerSecond = float64(applied) / secs
		}
		if writtenOK {
			p.WriteBytesPerSecond = float64(written) / secs
		}
	}
	var predicted int64
	switch {
	case behind == 0:
		// Nothing to apply: the fenced window is only round trips.
	case window < minPredictionWindow:
		p.Unknown = fmt.Sprintf("the apply rate is measured over at least %s", minPredictionWindow)
		return p
	case !appliedOK:
		p.Unknown = fmt.Sprintf("the rollback target's executed position went from %s to %s: replication was reset or re-pointed", first.Executed, last.Executed)
		return p
	case applied == 0:
		p.Unknown = fmt.Sprintf("the rollback target executed nothing in %s while %s behind", window.Round(time.Millisecond), formatBytes(float64(behind)))
		return p
	default:
		predicted = int64(math.Ceil(float64(behind) / p.ApplyBytesPerSecond * 1000))
	}
	p.PredictedMS = &predicted
	return p
}

// binlogBytesBetween returns how many bytes of a server's binary log lie
// from a to b (b at or after a), with files its SHOW BINARY LOGS when a
// and b are in different files; ok is false when it cannot tell (b before
// a, a file not listed).
func binlogBytesBetween(a, b BinlogPosition, files []BinlogFile) (int64, bool) {
	if a.File == b.File {
		if b.Position < a.Position {
			return 0, false
		}
		return int64(b.Position - a.Position), true
	}
	if compareBinlogFiles(a.File, b.File) > 0 {
		return 0, false
	}
	i := slices.IndexFunc(files, func(f BinlogFile) bool { return f.Name == a.File })
	j := slices.IndexFunc(files, func(f BinlogFile) bool { return f.Name == b.File })
	if i < 0 || j < 0 || j < i || files[i].Size < a.Position {
		return 0, false
	}
	n := files[i].Size - a.Position + b.Position
	for _, f := range files[i+1 : j] {
		n += f.Size
	}
	return int64(n), true
}

// samplePositions reads the rollback target's replica status, then
// production's binlog position (in that order, so production is never
// behind what the target reports as executed).
func samplePositions(ctx context.Context, prod, rollback *Server) (positionSample, ReplicaStatus, error) {
	rs, err := rollback.ReplicaStatus(ctx)
	if err != nil {
		return positionSample{}, rs, err
	}
	pos, err := prod.BinlogPosition(ctx)
	if err != nil {
		return positionSample{}, rs, err
	}
	return positionSample{At: time.Now(), Production: pos, Executed: rs.ExecutedPosition()}, rs, nil
}

// predictFrom predicts from two samples, reading production's binary log
// list only when the samples' positions are not all in one file.
func predictFrom(ctx context.Context, prod *Server, first, last positionSample) (DowntimePrediction, error) {
	var files binlogFiles
	return files.predict(ctx, prod, first, last)
}

// binlogFiles is production's SHOW BINARY LOGS, read when a prediction
// spans files and read again only when a newer file appears: the sizes of
// the files before the newest listed one are final.
type binlogFiles []BinlogFile

func (fs *binlogFiles) predict(ctx context.Context, prod *Server, first, last positionSample) (DowntimePrediction, error) {
	if !sameFile(first.Production, first.Executed, last.Production, last.Executed) &&
		!slices.ContainsFunc(*fs, func(f BinlogFile) bool { return f.Name == last.Production.File }) {
		cols, rows, err := prod.queryRows(ctx, showBinaryLogs())
		if err != nil {
			return DowntimePrediction{}, fmt.Errorf("%s: list binary logs: %w", prod, err)
		}
		if *fs, err = parseBinaryLogs(cols, rows); err != nil {
			return DowntimePrediction{}, fmt.Errorf("%s: %w", prod, err)
		}
	}
	return predictDowntime(first, last, *fs), nil
}

func sameFile(ps ...BinlogPosition) bool {
	for _, p := range ps[1:] {
		if p.File != ps[0].File {
			return false
		}
	}
	return true
}

// predictionWindow samples both positions and predicts over the last
// DefaultPredictionWindow.
type predictionWindow struct {
	prod, rollback *Server
	samples        []positionSample // oldest first
	files          binlogFiles
}

// sample reads both positions and predicts from the oldest sample still
// in the window to this one.
func (w *predictionWindow) sample(ctx context.Context) (DowntimePrediction, ReplicaStatus, error) {
	s, rs, err := samplePositions(ctx, w.prod, w.rollback)
	if err != nil {
		return DowntimePrediction{}, rs, err
	}
	w.samples = append(w.samples, s)
	// Keep one sample at least DefaultPredictionWindow old: the rates are
	// measured over the last window, not since the start.
	for len(w.samples) > 2 && s.At.Sub(w.samples[1].At) >= DefaultPredictionWindow {
		w.samples = w.samples[1:]
	}
	p, err := w.files.predict(ctx, w.prod, w.samples[0], s)
	return p, rs, err
}

// last is the newest sample (zero before the first).
func (w *predictionWindow) last() positionSample {
	if len(w.samples) == 0 {
		return positionSample{}
	}
	return w.samples[len(w.samples)-1]
}

// PredictWriteDowntime watches production's and the rollback target's
// positions for window and predicts the write downtime of a cutover
// started at its end. It changes nothing.
func PredictWriteDowntime(ctx context.Context, prod, rollback *Server, window time.Duration) (DowntimePrediction, error) {
	first, _, err := samplePositions(ctx, prod, rollback)
	if err != nil {
		return DowntimePrediction{}, err
	}
	return predictAfter(ctx, prod, rollback, first, window)
}

// predictAfter samples again window after first (at once if that has
// passed) and predicts from the two samples.
func predictAfter(ctx context.Context, prod, rollback *Server, first positionSample, window time.Duration) (DowntimePrediction, error) {
	if wait := time.Until(first.At.Add(window)); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return DowntimePrediction{}, ctx.Err()
		case <-t.C: // the measurement window: a rate needs an interval
		}
	}
	last, _, err := samplePositions(ctx, prod, rollback)
	if err != nil {
		return DowntimePrediction{}, err
	}
	return predictFrom(ctx, prod, first, last)
}

// formatBytes renders a byte count or rate with a binary unit.
func formatBytes(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}
