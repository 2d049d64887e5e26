package renderer

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// internalErrors are the renderer's errors that are not about its input
// (the encoder failing on a value it built, the input stream failing to
// read), or that their one caller wraps with the fix: the format's start.
var internalErrors = []string{
	"encode ", "read input", "generated %s %s", "derived document",
	"invalid Yaml document separator",           // Reader.read: "read document %d: %w (fix: ...)"
	"not a Kubernetes object",                   // Reader.read: withFix
	"%s: not a Kubernetes object",               // flatten's items; Reader.read: withFix
	"%q is not a valid label selector operator", // labelSelector; its callers: "%s spec.selector: %w (fix: ...)"
}

// TestRefusalsSayTheFix: every error the renderer makes (fmt.Errorf,
// errors.New) says "(fix: ...)" in its format, wraps one that does (%w), or
// is internal. TestRenderBadInput checks the messages themselves; this
// check reaches the refusals it has no row for.
func TestRefusalsSayTheFix(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	sites := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range errorsWithoutFix(f) {
			sites++
			if s.missing {
				t.Errorf("%s: error %q says no fix: add \"(fix: ...)\", or list it in internalErrors if it is not about the input", fset.Position(s.pos), s.format)
			}
		}
	}
	if sites < 40 {
		t.Fatalf("found %d error sites: the walk missed the package", sites)
	}
}

// TestErrorsWithoutFixControl: the check flags an error without a fix.
func TestErrorsWithoutFixControl(t *testing.T) {
	const src = `package p
func f() {
	_ = fmt.Errorf("AppMesh spec.routes[%d].port: %s has no port %d", i, svc, p)
	_ = errors.New("no ports")
	_ = fmt.Errorf("%s has no port (fix: add one)", svc)
	_ = fmt.Errorf("%s: %w", f, err)
	_ = fmt.Errorf("encode %s: %v", r, err)
}`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, s := range errorsWithoutFix(f) {
		if s.missing {
			missing = append(missing, s.format)
		}
	}
	if want := []string{"AppMesh spec.routes[%d].port: %s has no port %d", "no ports"}; strings.Join(missing, "|") != strings.Join(want, "|") {
		t.Errorf("flagged %q, want %q", missing, want)
	}
}

type errorSite struct {
	pos     token.Pos
	format  string
	missing bool
}

func errorsWithoutFix(f *ast.File) []errorSite {
	var out []errorSite
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		pkg, ok := sel.X.(*ast.Ident)
		if !ok || !(pkg.Name == "fmt" && sel.Sel.Name == "Errorf" || pkg.Name == "errors" && sel.Sel.Name == "New") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			out = append(out, errorSite{call.Pos(), "(not a literal)", true})
			return true
		}
		format, _ := strconv.Unquote(lit.Value)
		missing := !strings.Contains(format, "(fix: ") && !strings.Contains(format, "%w")
		for _, p := range internalErrors {
			if strings.HasPrefix(format, p) {
				missing = false
			}
		}
		out = append(out, errorSite{call.Pos(), format, missing})
		return true
	})
	return out
}
