package replication

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The kill points the engine names in its code are exactly KillPoints:
// every string literal shaped like a kill point in rollback.go and
// configure.go is registered, and every registered point is named there
// (so the table in RELIABILITY.md, built from KillPoints, and the tests
// that kill at each point cover what the engine calls). callHook panics
// on an unregistered name at run time.
func TestKillPointsMatchTheCode(t *testing.T) {
	shape := regexp.MustCompile(`^(rollback|configure)/[a-z-]+:[a-z]+$`)
	inCode := map[string]string{}
	fset := token.NewFileSet()
	for _, file := range []string{"rollback.go", "configure.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && shape.MatchString(s) {
				inCode[s] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	registered := map[string]bool{}
	for _, p := range KillPoints {
		if registered[p.Name] {
			t.Errorf("%s is registered twice", p.Name)
		}
		registered[p.Name] = true
		if !shape.MatchString(p.Name) || p.Meaning == "" || p.Reached == "" {
			t.Errorf("%+v: a name <operation>/<step>:<where>, a meaning and when it is reached", p)
		}
		if _, ok := inCode[p.Name]; !ok {
			t.Errorf("%s is registered but the engine never calls it", p.Name)
		}
	}
	for name, pos := range inCode {
		if !registered[name] {
			t.Errorf("%s: %s is called but not in KillPoints", pos, name)
		}
	}
	if len(inCode) < 50 {
		t.Errorf("found %d kill points in the code; the scan is broken", len(inCode))
	}
	// Every step of Rollback (the step* constants of rollback.go) has its
	// kill points before and after it.
	f, err := parser.ParseFile(fset, "rollback.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "step") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					continue
				}
				name, _ := strconv.Unquote(lit.Value)
				steps++
				pts, ok := stepPoints[name]
				if !ok || !strings.HasSuffix(pts[0], ":before") || !strings.HasSuffix(pts[1], ":after") ||
					strings.TrimSuffix(pts[0], ":before") != strings.TrimSuffix(pts[1], ":after") {
					t.Errorf("step %s (%q) has kill points %q; want <name>:before and <name>:after in stepPoints", id.Name, name, pts)
				}
			}
		}
	}
	if steps < 15 {
		t.Errorf("found %d step constants in rollback.go; the scan is broken", steps)
	}
}

// callHook calls the hook with registered points, does nothing without a
// hook, and refuses a point that is not registered.
func TestCallHook(t *testing.T) {
	var got []string
	callHook(func(p string) { got = append(got, p) }, "rollback/fence:after")
	callHook(nil, "rollback/fence:after")
	callHook(nil, "not/registered:either") // no hook: nothing checked, nothing called
	if !slices.Equal(got, []string{"rollback/fence:after"}) {
		t.Fatalf("hook got %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("an unregistered point did not panic")
		}
	}()
	callHook(func(string) {}, "rollback/no-such-step:before")
}

// IsKillPoint knows the registered names only.
func TestIsKillPoint(t *testing.T) {
	if !IsKillPoint("configure/wait-threads:wait") || IsKillPoint("configure/wait-threads") || IsKillPoint("") {
		t.Error("IsKillPoint")
	}
}
