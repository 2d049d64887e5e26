package main

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/canary"
	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/gateway"
	"github.com/meshbundle/meshbundle/installer"
	"github.com/meshbundle/meshbundle/lease"
	"github.com/meshbundle/meshbundle/renderer"
)

// exitCodeCases: every error type of the module as the CLI receives it,
// and its exit code (failure.KindOf, the one mapping). Errors without a
// kind and wrappers that hide none are the negative controls: they must
// come out as 1, not as whatever code is nearest.
var exitCodeCases = []struct {
	name string       // "<package>.<Type>" for an error type of the module, else what the case shows
	err  error        // as a command returns it
	want failure.Kind // exit code
}{
	{"nil", nil, failure.OK},
	{"failure.BadInputError", &failure.BadInputError{Object: "flag", Field: "--output", Err: errors.New("xml"), Fix: "use json"}, failure.BadInput},
	{"failure.BadInputError wrapped with %w", fmt.Errorf("install: %w", failure.BadInputf("bad")), failure.BadInput},
	{"failure.InUseError", failure.InUsef("refusing to remove tag prod"), failure.InUse},
	{"installer.RevisionInUseError (inside failure.InUseError, as uninstall returns it)", &failure.InUseError{Err: &installer.RevisionInUseError{Revision: "1-30"}}, failure.InUse},
	{"installer.ClusterUnreachableError", &installer.ClusterUnreachableError{Err: errors.New("connection refused")}, failure.Unreachable},
	{"installer.TimeoutError", &installer.TimeoutError{Err: errors.New("istiod not available")}, failure.Timeout},
	{"installer.LockedError", fmt.Errorf("install: %w", &installer.LockedError{Holder: "other"}), failure.Locked},
	{"installer.LeaseLostError", &installer.LeaseLostError{Err: errors.New("lost")}, failure.Failed},
	{"lease.LockedError", fmt.Errorf("canary weight: %w", &lease.LockedError{Namespace: "shop", Name: "meshbundle-canary-web", Holder: "other"}), failure.Locked},
	{"lease.LostError", &lease.LostError{Err: errors.New("lost")}, failure.Failed},
	{"canary.ConflictError", &canary.ConflictError{Err: errors.New("changed underneath")}, failure.Conflict},
	{"canary.TimeoutError", &canary.TimeoutError{Last: "0/1 ready"}, failure.Timeout},
	{"gateway.AnalysisError (inside failure.BadInputError, as the analyzers return it)", &failure.BadInputError{Err: &gateway.AnalysisError{Gateway: "ns/gw"}}, failure.BadInput},
	{"renderer.OutputError", &renderer.OutputError{Err: errors.New("broken pipe")}, failure.Failed},
	{"context deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), failure.Timeout},
	{"outermost kind wins", &failure.BadInputError{Err: &installer.TimeoutError{Err: errors.New("x")}}, failure.BadInput},
	// Negative controls.
	{"plain error", errors.New("boom"), failure.Failed},
	{"context canceled", fmt.Errorf("run: %w", context.Canceled), failure.Failed},
	{"kind lost by %v", fmt.Errorf("install: %v", failure.BadInputf("bad")), failure.Failed},
}

func TestExitCodes(t *testing.T) {
	for _, tc := range exitCodeCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure.KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf(%v) = %d (%s), want %d (%s)", tc.err, got, got, tc.want, tc.want)
			}
		})
	}
}

// TestExitCodesCoverEveryErrorType: every exported type named *Error in the
// module's packages (tests and the ci harness aside) has a case above, so a
// new error type cannot silently exit 1.
func TestExitCodesCoverEveryErrorType(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range exitCodeCases {
		covered[strings.Fields(tc.name)[0]] = true
	}
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch name := d.Name(); {
			case path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "ci" || name == "bin"):
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				name := spec.(*ast.TypeSpec).Name.Name
				if ast.IsExported(name) && strings.HasSuffix(name, "Error") {
					found = append(found, f.Name.Name+"."+name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 10 { // the walk itself must see the module (there are 11 today)
		t.Fatalf("found only %d error types (%v): the walk missed the module", len(found), found)
	}
	for _, name := range found {
		if !covered[name] {
			t.Errorf("error type %s has no case in exitCodeCases: add one with its exit code", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
}

// TestUsageErrorsAreBadInput: cobra's own checks (flags, subcommands,
// argument counts) exit 2 like the commands' checks, in every command group.
func TestUsageErrorsAreBadInput(t *testing.T) {
	tests := []struct {
		args       []string     // command line
		want       failure.Kind // exit code
		wantStderr string       // part of stderr
	}{
		{[]string{"install", "--no-such-flag"}, failure.BadInput, "unknown flag: --no-such-flag"},
		{[]string{"install", "--timeout", "soon"}, failure.BadInput, `invalid argument "soon"`},
		{[]string{"no-such-command"}, failure.BadInput, `unknown command "no-such-command"`},
		{[]string{"canary", "rollback", "shop"}, failure.BadInput, `unknown command "rollback"`},
		{[]string{"tag", "set"}, failure.BadInput, "accepts 1 arg(s), received 0"},
		{[]string{"status", "extra"}, failure.BadInput, `unknown command "extra"`},
		{[]string{"postrender", "extra"}, failure.BadInput, `unknown command "extra"`},
		{[]string{"version"}, failure.OK, ""}, // negative control
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			if got := run(tt.args, strings.NewReader(""), &stdout, &stderr); got != tt.want {
				t.Errorf("exit code %d, want %d; stderr: %s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
