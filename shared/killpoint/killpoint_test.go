package killpoint

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec, point string
		n           int
		err         string
	}{
		{"rollback/fence:after", "rollback/fence:after", 1, ""},
		{" rollback/catch-up:wait#3 ", "rollback/catch-up:wait", 3, ""},
		{"configure/wait-threads:wait#1", "configure/wait-threads:wait", 1, ""},
		{"rollback/fence:after#0", "", 0, "whole number from 1"},
		{"rollback/fence:after#x", "", 0, "whole number from 1"},
		{"rollback/fence", "", 0, "is not a kill point"},
		{"fence production", "", 0, "is not a kill point"},
	} {
		point, n, err := Parse(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), Env) {
				t.Errorf("Parse(%q) = %q %d %v; want an error naming %s and %q", tc.spec, point, n, err, Env, tc.err)
			}
			continue
		}
		if err != nil || point != tc.point || n != tc.n {
			t.Errorf("Parse(%q) = %q %d %v; want %q %d", tc.spec, point, n, err, tc.point, tc.n)
		}
	}
}

// The hook kills on the n-th call with its point, once, and ignores
// other points.
func TestNew(t *testing.T) {
	kills := 0
	h := New("rollback/catch-up:wait", 2, func() { kills++ })
	for _, p := range []string{"rollback/settle:after", "rollback/catch-up:wait", "rollback/settle:after"} {
		h(p)
	}
	if kills != 0 {
		t.Fatalf("killed after the first pass; want the second")
	}
	h("rollback/catch-up:wait")
	h("rollback/catch-up:wait")
	if kills != 1 {
		t.Fatalf("killed %d times; want once, on the second pass", kills)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(Env, "")
	if h, err := FromEnv(); h != nil || err != nil {
		t.Fatalf("unset: %v %v; want no hook", h != nil, err)
	}
	t.Setenv(Env, "rollback/nowhere:before")
	if h, err := FromEnv(); h != nil || err == nil {
		t.Fatalf("unknown point: hook %v, error %v; want an error", h != nil, err)
	}
	t.Setenv(Env, "rollback/fence:after#2")
	if h, err := FromEnv(); h == nil || err != nil {
		t.Fatalf("valid: hook %v, error %v", h != nil, err)
	}
}
