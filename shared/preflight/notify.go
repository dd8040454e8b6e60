package preflight

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds of the notification: a pager and a chat line show the first line;
// the whole message stays short enough to read on a phone. The report
// itself (the function's result, the CLI's output) has every detail.
const (
	// MaxSubjectChars is SNS's subject limit (under 100 characters).
	MaxSubjectChars = 99
	// MaxMessageChars bounds the whole message.
	MaxMessageChars = 900
	// maxNotifiedFailures is how many failing checks are spelled out.
	maxNotifiedFailures = 4
	// maxFixChars bounds one failing check's line.
	maxFixChars = 200
)

// Notification is the subject and message on-call gets for the report: the
// deployment, the verdict, the failing checks with what each saw, and what
// to do next (each check's fix is in the report). rerun says how to run preflight again (for example
// the function's payload); "" leaves it out.
func (r Report) Notification(rerun string) (subject, message string) {
	who := r.Deployment
	if who == "" {
		who = r.Production + " → " + r.Rollback
	}
	fails, warns := r.With(Fail), r.With(Warn)
	verdict := strings.ToUpper(string(r.Verdict))
	subject = fmt.Sprintf("switchback preflight %s: %s", verdict, who)
	if len(fails) > 0 {
		subject += fmt.Sprintf(" (%d failing)", len(fails))
	}
	subject = shorten(subject, MaxSubjectChars)

	header := shorten(fmt.Sprintf("%s: preflight %s — %d failing, %d warning, %d passed (production %s → rollback %s).",
		who, verdict, len(fails), len(warns), len(r.With(Pass)), r.Production, r.Rollback), 2*maxFixChars)
	warnLine := ""
	if len(warns) > 0 {
		var names []string
		for _, c := range warns {
			names = append(names, c.Title)
		}
		warnLine = shorten("WARN "+strings.Join(names, "; "), maxFixChars)
	}
	var next string
	switch r.Verdict {
	case Fail:
		next = "Next: apply each failing check's fix (in the report) and run preflight again"
		if rerun != "" {
			next += " (" + rerun + ")"
		}
		next += "; until it passes, do not count on rolling back."
	case Warn:
		next = "Next: read the warnings in the report; the rollback path can be built."
	default:
		next = "Next: nothing; the rollback path can be built."
	}
	next = shorten(next, 2*maxFixChars)
	// The failing checks get what is left, keeping room for "… and N more".
	const moreRoom = 40
	budget := MaxMessageChars - runes(header) - runes(warnLine) - runes(next) - 3 - moreRoom
	lines := []string{header}
	shown := 0
	for _, c := range fails {
		if shown == maxNotifiedFailures {
			break
		}
		line := shorten("FAIL "+c.Title+": "+c.Evidence, maxFixChars)
		if runes(line)+1 > budget {
			break
		}
		budget -= runes(line) + 1
		lines = append(lines, line)
		shown++
	}
	if shown < len(fails) {
		lines = append(lines, fmt.Sprintf("… and %d more failing (see the report).", len(fails)-shown))
	}
	if warnLine != "" {
		lines = append(lines, warnLine)
	}
	lines = append(lines, next)
	return subject, strings.Join(lines, "\n")
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// shorten cuts s to at most n characters, ending with "…" when cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
