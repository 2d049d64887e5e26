package canary

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
)

// TestFileStore: helm mode's AppMesh file records every step in place (the
// rest of the file byte for byte), so the team's next routine helm upgrade
// with that file carries the canary; a promotion records the image it
// replaced; a file changed underneath is refused.
func TestFileStore(t *testing.T) {
	ctx := context.Background()
	doc := "# the team's file\napiVersion: meshbundle.dev/v1alpha1\nkind: AppMesh\nmetadata:\n  name: bookinfo\n  namespace: bookinfo\nspec:\n  routes:\n  - service: reviews # the split lives here\n"
	path := filepath.Join(t.TempDir(), "appmesh.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &FileStore{Path: path, App: "bookinfo"}
	cur, err := f.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := startReq
	req.Replaces = "reviews:1"
	p, err := NewPlan(cur, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Steps {
		if _, err := f.Save(ctx, s.Config, s.Message); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), doc) || !strings.Contains(string(data), "phase: Starting") || !strings.Contains(string(data), "replaces: reviews:1") {
		t.Errorf("file after start:\n%s", data)
	}
	// What the team's helm upgrade reads back is the running canary.
	again, err := (&FileStore{Path: path, App: "bookinfo"}).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := again.Spec.Canary; c == nil || c.Phase != appmesh.CanaryStarting {
		t.Fatalf("canary read back %+v", c)
	}
	p, err = NewPlan(again, Request{Op: OpPromote})
	if err != nil {
		t.Fatal(err)
	}
	last := p.Steps[len(p.Steps)-1].Config
	if got := last.Spec.Promoted; len(got) != 1 || got[0].Replaces != "reviews:1" || got[0].Image != "reviews:2" {
		t.Errorf("promotion %+v, want reviews:2 replacing reviews:1", got)
	}
	// Someone edits the file between reading and writing: refused, kept.
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.Save(ctx, last, "promoted")
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("save over a changed file: %v, want a ConflictError", err)
	}
	if data, _ := os.ReadFile(path); string(data) != doc {
		t.Errorf("refused save wrote the file:\n%s", data)
	}
	// Another app's file is bad input.
	_, err = (&FileStore{Path: path, App: "shop"}).Load(ctx)
	var bad *failure.BadInputError
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), `AppMesh of "bookinfo", not "shop"`) {
		t.Errorf("another app's file: %v", err)
	}
}
