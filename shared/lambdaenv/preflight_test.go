package lambdaenv

import (
	"errors"
	"testing"
)

func TestPreflightFixRetention(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"", false}, {"true", true}, {"1", true}, {"false", false}} {
		c, err := Load(env(map[string]string{EnvPreflightFixRetention: tc.value}), Needs{})
		if err != nil || c.PreflightFixRetention != tc.want {
			t.Errorf("%s=%q: %v, %v; want %v", EnvPreflightFixRetention, tc.value, c.PreflightFixRetention, err, tc.want)
		}
	}
	_, err := Load(env(map[string]string{EnvPreflightFixRetention: "sometimes"}), Needs{})
	var e *Error
	if !errors.As(err, &e) || len(e.Problems) != 1 || e.Problems[0].Variable != EnvPreflightFixRetention {
		t.Errorf("a bad value: %v; want one problem naming %s", err, EnvPreflightFixRetention)
	}
}
