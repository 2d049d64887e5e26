package failure

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// fixMarker is how every bad-input message says what to do: the Fix field
// of BadInputError prints it, and messages built by hand spell it.
const fixMarker = "(fix: "

// wrapsWithFix lists the bad-input sites whose message is an error of
// another package that carries its own "(fix: ...)": the file (from the
// module root), a piece of the site's source, and where that is tested.
// Every other site must show its fix in the source (fixMissing).
var wrapsWithFix = []struct {
	file, site, why string
}{
	{"renderer/postrendercmd/postrendercmd.go", `"post-render: %w"`, "renderer refusals carry their fix (renderer TestRenderBadInput; cmd/meshbundle TestBadInputMessages)"},
	{"renderer/postrendercmd/postrendercmd.go", `appmesh.Load`, "appmesh.Load errors carry their fix (appmesh TestLoadErrors; TestBadInputMessages)"},
	{"renderer/postrendercmd/postrendercmd.go", `gatewayconfig.Load`, "gatewayconfig.Load errors carry their fix (gatewayconfig TestLoadErrors; TestBadInputMessages)"},
	{"cmd/meshbundle/gateway.go", `gatewayconfig.Load`, "gatewayconfig.Load errors carry their fix (gatewayconfig TestLoadErrors; TestBadInputMessages)"},
	{"canary/file.go", `appmesh.Decode`, "appmesh.Decode errors carry their fix (appmesh TestLoadErrors)"},
	{"canary/git.go", `appmesh.Decode`, "appmesh.Decode errors carry their fix (appmesh TestLoadErrors)"},
	{"gateway/analyze.go", `AnalysisError{`, "AnalysisError's message ends with its fix (gateway TestAnalysisErrorMessage)"},
}

// TestBadInputSitesNameTheFix: every failure.BadInputf and
// failure.BadInputError in the module's code says the fix in its source
// (a "(fix: " in the format, or a Fix field), or is listed in wrapsWithFix.
func TestBadInputSitesNameTheFix(t *testing.T) {
	root := filepath.Join("..")
	fset := token.NewFileSet()
	sites, allowed := 0, map[int]bool{}
	var missing []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if rel == "failure/failure.go" {
			return nil // the definitions
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		src := sourceOf(t, path)
		for _, s := range fixMissing(f, fset) {
			sites++
			if !s.missing {
				continue
			}
			code := string(src[fset.Position(s.node.Pos()).Offset:fset.Position(s.node.End()).Offset])
			// The site and the two lines before it (where the wrapped
			// error is made).
			from := fset.Position(s.node.Pos()).Offset
			for n := 0; from > 0 && n < 3; from-- {
				if src[from-1] == '\n' {
					n++
				}
			}
			around := string(src[from:fset.Position(s.node.End()).Offset])
			ok := false
			for i, w := range wrapsWithFix {
				if w.file == rel && strings.Contains(around, w.site) {
					ok, allowed[i] = true, true
				}
			}
			if !ok {
				missing = append(missing, fmt.Sprintf("%s:%d: %s", rel, fset.Position(s.node.Pos()).Line, oneLine(code)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sites < 100 { // the walk must see the module (about 150 sites)
		t.Fatalf("found only %d bad-input sites: the walk missed the module", sites)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("bad-input error without its fix (add %q to the message, or set Fix): %s", fixMarker+"...)", m)
	}
	for i, w := range wrapsWithFix {
		if !allowed[i] {
			t.Errorf("wrapsWithFix entry %s %s matches no site: remove it", w.file, w.site)
		}
	}
	t.Logf("%d bad-input sites, %d wrapping errors that carry their fix", sites, len(allowed))
}

// TestFixMissingControl: the checker flags the sites that lack a fix and
// passes those that have one (a checker that finds nothing proves nothing).
func TestFixMissingControl(t *testing.T) {
	const src = `package p
func f() {
	_ = failure.BadInputf("--x %q: bad", x)                          // missing
	_ = failure.BadInputf("--x %q: bad (fix: use y)", x)             // fine
	_ = failure.BadInputf("--x: " + "bad (fix: " + "use y)")         // fine
	_ = failure.BadInputf(format, x)                                 // missing: not a literal
	_ = &failure.BadInputError{Err: err}                             // missing
	_ = &failure.BadInputError{Err: err, Fix: ""}                    // missing
	_ = &failure.BadInputError{Err: err, Fix: "use y"}               // fine
	_ = &failure.BadInputError{Err: err, Fix: hint}                  // fine: computed
	_ = &failure.BadInputError{Err: fmt.Errorf("x (fix: use y)")}   // fine
	_ = &failure.BadInputError{Err: fmt.Errorf("x: %w", err)}       // missing
	_ = fmt.Errorf("not bad input")                                  // not a site
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(src, "\n")
	got := fixMissing(f, fset)
	if len(got) != 10 {
		t.Fatalf("found %d sites, want 10", len(got))
	}
	for _, s := range got {
		line := lines[fset.Position(s.node.Pos()).Line-1]
		want := strings.HasSuffix(strings.TrimSpace(line), "// missing") || strings.Contains(line, "// missing:")
		if s.missing != want {
			t.Errorf("missing = %v for %s", s.missing, strings.TrimSpace(line))
		}
	}
}

// site is one bad-input error in the source.
type site struct {
	node    ast.Node
	missing bool // no fix in the source
}

// fixMissing finds the bad-input sites of f: calls of BadInputf and
// BadInputError literals, qualified (failure.) or not.
func fixMissing(f *ast.File, fset *token.FileSet) []site {
	var out []site
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if !isName(n.Fun, "BadInputf") || len(n.Args) == 0 {
				return true
			}
			lit, ok := literal(n.Args[0])
			out = append(out, site{n, !ok || !strings.Contains(lit, fixMarker)})
		case *ast.CompositeLit:
			if !isName(n.Type, "BadInputError") {
				return true
			}
			missing := true
			for _, e := range n.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				switch key := kv.Key.(*ast.Ident); {
				case key == nil:
				case key.Name == "Fix":
					if lit, ok := literal(kv.Value); !ok || lit != "" {
						missing = false // a literal fix, or one computed
					}
				case key.Name == "Err":
					if call, ok := kv.Value.(*ast.CallExpr); ok && isName(call.Fun, "Errorf") && len(call.Args) > 0 {
						if lit, ok := literal(call.Args[0]); ok && strings.Contains(lit, fixMarker) {
							missing = false
						}
					}
				}
			}
			out = append(out, site{n, missing})
			return true
		}
		return true
	})
	return out
}

// isName reports whether e is name or pkg.name.
func isName(e ast.Expr, name string) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == name
	case *ast.SelectorExpr:
		return e.Sel.Name == name
	}
	return false
}

// literal is the value of a string literal or a sum of them.
func literal(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		a, ok1 := literal(e.X)
		b, ok2 := literal(e.Y)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return literal(e.X)
	}
	return "", false
}

func sourceOf(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oneLine shortens a site's source for the report.
func oneLine(code string) string {
	code = strings.Join(strings.Fields(code), " ")
	if len(code) > 160 {
		code = code[:160] + "..."
	}
	return code
}
