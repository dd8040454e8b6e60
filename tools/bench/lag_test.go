package main

import (
	"bytes"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParsePTCheck(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    float64
		wantErr bool
	}{
		{name: "hires", out: "3.02\n", want: 3.02},
		{name: "zero", out: "0.00\n", want: 0},
		// --print-master-server-id appends the id after the delay.
		{name: "with server id", out: "1.10 12345\n", want: 1.10},
		{name: "empty", out: "", wantErr: true},
		{name: "error text", out: "DBI connect failed\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePTCheck(tt.out)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Errorf("parsePTCheck(%q) = %v, %v; want %v (error %t)", tt.out, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLagPhaseSpreadsOverTheSecond(t *testing.T) {
	// Any run of readings must cover the second evenly: 20 phases put one
	// in each 100 ms tenth at least once, and none outside [0, 1 s).
	tenths := map[int]bool{}
	for i := range 20 {
		p := lagPhase(i)
		if p < 0 || p >= time.Second {
			t.Fatalf("lagPhase(%d) = %v; want within [0, 1s)", i, p)
		}
		tenths[int(p/(100*time.Millisecond))] = true
	}
	if len(tenths) != 10 {
		t.Errorf("20 phases hit %d of the 10 tenths of a second; want all", len(tenths))
	}
}

func TestNextPhase(t *testing.T) {
	base := time.Date(2026, 1, 1, 12, 0, 5, 0, time.UTC)
	tests := []struct {
		now   time.Time
		phase time.Duration
		want  time.Time
	}{
		{base.Add(100 * time.Millisecond), 300 * time.Millisecond, base.Add(300 * time.Millisecond)},
		// The phase has passed in this second: the next second's.
		{base.Add(700 * time.Millisecond), 300 * time.Millisecond, base.Add(1300 * time.Millisecond)},
		// Exactly now is not after now.
		{base.Add(300 * time.Millisecond), 300 * time.Millisecond, base.Add(1300 * time.Millisecond)},
	}
	for _, tt := range tests {
		if got := nextPhase(tt.now, tt.phase); !got.Equal(tt.want) {
			t.Errorf("nextPhase(%s, %v) = %s; want %s", tt.now.Format("05.000"), tt.phase, got.Format("05.000"), tt.want.Format("05.000"))
		}
	}
}

func TestLagSetErrors(t *testing.T) {
	s := lagSet{Delay: 3, Readings: []lagReading{
		{Actual: 2.7, Probe: 2.71, SBM: 3, PT: 3.1},
		{Actual: 3.3, Probe: 3.29, SBM: 4, PT: 3.1},
	}}
	v, eN, eA := s.methodValues(methodSBM)
	if !floatsNear(v, []float64{3, 4}) || !floatsNear(eN, []float64{0, 1}) || !floatsNear(eA, []float64{0.3, 0.7}) {
		t.Errorf("methodValues(SBM) = %v, %v, %v; want [3 4], [0 1], [0.3 0.7]", v, eN, eA)
	}
	_, _, eA = s.methodValues(methodProbe)
	if !floatsNear(eA, []float64{0.01, 0.01}) {
		t.Errorf("methodValues(probe) errors against the actual lag = %v; want [0.01 0.01]", eA)
	}
	rows := s.rows()
	if len(rows) != 4 {
		t.Fatalf("rows() = %d rows; want the truth and three methods", len(rows))
	}
	for _, r := range rows {
		if len(r) != len(lagHeader) {
			t.Errorf("row %q has %d cells; the header has %d", r, len(r), len(lagHeader))
		}
	}
	if rows[0][0] != "3 s (MASTER_DELAY)" || rows[2][1] != methodSBM {
		t.Errorf("rows() = %q", rows)
	}
}

func TestLagTarget(t *testing.T) {
	good := lagSet{Delay: 1, Readings: []lagReading{{Actual: 0.6, Probe: 0.61}, {Actual: 1.1, Probe: 1.1}}}
	// Off by more than 0.5 s from the actual lag of its own write: the
	// probe is wrong, whatever N says.
	bad := lagSet{Delay: 3, Readings: []lagReading{{Actual: 3, Probe: 3.7}}}
	if got := lagTarget([]lagSet{good}); !strings.Contains(got, "**met**") {
		t.Errorf("lagTarget(good) = %q; want met", got)
	}
	if got := lagTarget([]lagSet{good, bad}); !strings.Contains(got, "**not met**") || !strings.Contains(got, "0.700 s at 3 s") {
		t.Errorf("lagTarget(good, bad) = %q; want not met, naming 0.700 s at 3 s", got)
	}
}

func TestStallRows(t *testing.T) {
	lag := 0.004
	s := stallSet{Readings: []stallReading{
		{After: 2 * time.Second, Actual: 2.01, SBM: 0, SBMActual: 2.02, IO: "Yes", SQL: "Yes", PT: 2.7, PTActual: 2.69, ProbeTimeout: 2 * time.Second},
		{After: 5 * time.Second, Actual: 5, SBM: 0, SBMActual: 5, IO: "Yes", SQL: "Yes", PT: 5, PTActual: 5, ProbeTimeout: 2 * time.Second, ProbeLag: &lag},
	}}
	rows := s.rows()
	if len(rows) != 8 {
		t.Fatalf("rows() = %d rows; want 4 per reading", len(rows))
	}
	if !strings.Contains(rows[1][3], "no token within 2 s") || rows[1][6] != "—" {
		t.Errorf("a timed-out probe's row = %q; want its verdict and no error", rows[1])
	}
	if rows[2][6] != "2.020 s" || !strings.Contains(rows[2][1], "IO Yes, SQL Yes") {
		t.Errorf("SBM row = %q; want error 2.020 s against the true lag at its instant", rows[2])
	}
	if rows[3][6] != "0.010 s" {
		t.Errorf("pt-heartbeat row = %q; want error 0.010 s against the true lag at its instant", rows[3])
	}
	if rows[5][3] != "0.004 s" {
		t.Errorf("a probe that answered: row %q; want its lag", rows[5])
	}
	if n := s.notes(); !strings.Contains(n[0], "read 0 in 2 of 2 readings") {
		t.Errorf("notes() = %q", n)
	}
}

func TestLagSec(t *testing.T) {
	if got := lagSec(1.0344); got != "1.034 s" {
		t.Errorf("lagSec(1.0344) = %q", got)
	}
	if got := lagSec(math.NaN()); got != "—" {
		t.Errorf("lagSec(NaN) = %q", got)
	}
}

// TestStallProxy forwards through the proxy to a local echo server,
// pauses it (nothing gets through, the connection stays open), resumes it
// (what was held arrives).
func TestStallProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := startStallProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	host, port := p.hostPort()
	c, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func(msg string, wait time.Duration) (string, error) {
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		return string(buf), err
	}
	if got, err := roundTrip("hello", 5*time.Second); err != nil || got != "hello" {
		t.Fatalf("through the proxy: %q, %v; want hello", got, err)
	}
	p.pause()
	if got, err := roundTrip("stalled", 200*time.Millisecond); err == nil {
		t.Fatalf("paused proxy forwarded %q", got)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("paused proxy: %v; want a read timeout (the connection stays open)", err)
	}
	p.resume()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len("stalled"))
	if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, []byte("stalled")) {
		t.Fatalf("after resume: %q, %v; want the held bytes", buf, err)
	}
}

func TestGateWaitEndsWhenDone(t *testing.T) {
	var g gate
	g.close()
	done := make(chan struct{})
	close(done)
	if g.wait(done) {
		t.Error("wait on a closed gate returned true after done")
	}
	g.open()
	if !g.wait(make(chan struct{})) {
		t.Error("wait on an open gate returned false")
	}
}

func floatsNear(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9 {
			return false
		}
	}
	return true
}
