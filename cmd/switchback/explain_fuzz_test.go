package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	fixtures "github.com/switchback/switchback/events"
	"github.com/switchback/switchback/shared/rdsevent"
)

// FuzzExplainEvent: explain-event reads its input (here standard input)
// with rdsevent.Decode and nothing else. Whatever the input, it exits 0
// or 1, never 2 (usage) or with a panic; a malformed event exits 1 with
// nothing on stdout and exactly the decoder's error, naming the input, on
// stderr; a readable one exits 0 with nothing on stderr, its JSON is
// exactly the decoded fact, and the text form names its kind.
func FuzzExplainEvent(f *testing.F) {
	all, err := fixtures.All()
	if err != nil {
		f.Fatal(err)
	}
	for _, data := range all {
		f.Add(data)
	}
	f.Add([]byte(`{"Events":[{"Message":"Binary log coordinates in green environment after switchover: file a.1 and position 4"}]}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fact, derr := rdsevent.Decode(data)
		code, out, errOut := runCLI(t, string(data), nil, "explain-event", "-", "--output", "json")
		if derr != nil {
			if want := "switchback explain-event: standard input: " + derr.Error() + "\n"; code != 1 || out != "" || errOut != want {
				t.Fatalf("malformed input: exit %d, stdout %q, stderr %q; want 1, nothing, %q", code, out, errOut, want)
			}
			return
		}
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q for an event Decode reads as %+v", code, errOut, fact)
		}
		var got explainJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("--output json is not JSON (%v): %q", err, out)
		}
		if want := explainJSONFrom(fact); !reflect.DeepEqual(got, want) {
			t.Fatalf("--output json says %+v; the event decodes to %+v", got, want)
		}
		code, out, errOut = runCLI(t, string(data), nil, "explain-event", "-")
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "kind:") || !strings.Contains(out, string(fact.Kind)) {
			t.Fatalf("text: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}
