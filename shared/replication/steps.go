package replication

import (
	"context"
	"errors"
	"strings"
	"time"
)

// StepOutcome is what happened to one step of an operation.
type StepOutcome string

// Step outcomes.
const (
	StepDone        StepOutcome = "done"         // the step changed something
	StepAlreadyDone StepOutcome = "already-done" // the state was already right; nothing changed
	StepFailed      StepOutcome = "failed"
	StepSkipped     StepOutcome = "skipped" // not run because an earlier step failed or it does not apply
	StepPlanned     StepOutcome = "planned" // dry run: would run
)

// Step is the record of one step: what it did, how long it took, and the
// error and advice when it failed. It never holds a secret.
type Step struct {
	Name    string      `json:"name"`
	Outcome StepOutcome `json:"outcome"`
	MS      int64       `json:"ms"`
	Detail  string      `json:"detail"`
	Error   string      `json:"error,omitempty"`
	Hint    string      `json:"hint,omitempty"`
}

// ErrRefused means the operation refused to start because the servers are
// not in a state it may act on; nothing was changed.
var ErrRefused = errors.New("refused")

// stepRunner runs named steps in order, timing each and reporting it as it
// ends.
type stepRunner struct {
	steps  []Step
	onStep func(Step)
	now    func() time.Time
}

// run executes fn as the step name. fn returns the outcome and a detail; an
// error marks the step failed and is returned with advice attached.
func (r *stepRunner) run(ctx context.Context, name string, fn func(ctx context.Context) (StepOutcome, string, error)) error {
	now := r.now
	if now == nil {
		now = time.Now
	}
	start := now()
	outcome, detail, err := fn(ctx)
	st := Step{Name: name, Outcome: outcome, MS: now().Sub(start).Milliseconds(), Detail: detail}
	if err != nil {
		err = withHint(err)
		st.Outcome = StepFailed
		st.Error = err.Error()
		var h *HintedError
		if errors.As(err, &h) {
			st.Error = withoutHint(err, h)
			st.Hint = h.Hint
		}
	}
	r.add(st)
	return err
}

// add records a step that did not run through run (skipped, planned).
func (r *stepRunner) add(st Step) {
	r.steps = append(r.steps, st)
	if r.onStep != nil {
		r.onStep(st)
	}
}

// changed reports whether any step changed something.
func (r *stepRunner) changed() bool {
	for _, s := range r.steps {
		if s.Outcome == StepDone {
			return true
		}
	}
	return false
}

// changedStep reports whether the named step ran and changed something.
func (r *stepRunner) changedStep(name string) bool {
	for _, s := range r.steps {
		if s.Name == name {
			return s.Outcome == StepDone
		}
	}
	return false
}

// withoutHint is err's message without the hint h appended to it, keeping
// any context wrapped around the hinted error.
func withoutHint(err error, h *HintedError) string {
	return strings.TrimSuffix(err.Error(), hintSeparator+h.Hint)
}
