package leaktest

import (
	"encoding/base64"
	"strings"
	"testing"
)

// Every form is found inside longer text, base64 of a document holding the
// secret is found at every offset, and a text without the secret has none.
func TestFind(t *testing.T) {
	secret := Password("probe")
	for form, s := range Forms(secret) {
		if got := Find("…before "+s+" after…", map[string]string{"probe": secret}); len(got) == 0 {
			t.Errorf("form %s (%q) not detected", form, s)
		}
	}
	for i := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", i) + `{"password":"` + secret + `"}`))
		if len(Find(enc, map[string]string{"probe": secret})) == 0 {
			t.Errorf("base64 of a JSON document holding the secret (offset %d) not detected: %s", i, enc)
		}
	}
	if got := Find("nothing to see "+Password("other"), map[string]string{"probe": secret}); len(got) != 0 {
		t.Errorf("false positive: %v", got)
	}
}
