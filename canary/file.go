package canary

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/failure"
)

// FileStore keeps the AppMesh in a plain file: the file a team's own
// `helm upgrade --post-renderer-args --config=<file>` uses. Each step
// rewrites only its spec.canary / spec.promoted blocks (as in GitOps mode)
// and replaces the file atomically. Used as HelmStore.Source.
type FileStore struct {
	// Path of the AppMesh file.
	Path string
	// App is the AppMesh metadata.name the file must have.
	App string

	data []byte // the file as read
}

// Load reads and decodes the file.
func (f *FileStore) Load(context.Context) (*appmesh.AppMesh, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("--file: %w (fix: give the AppMesh file your helm upgrade passes to the post-renderer's --config)", err)}
	}
	am, err := appmesh.Decode(data)
	if err != nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("AppMesh file %s: %w", f.Path, err)}
	}
	if am.Metadata.Name != f.App {
		return nil, &failure.BadInputError{Err: fmt.Errorf("%s is the AppMesh of %q, not %q (fix: give the app's own AppMesh file)", f.Path, am.Metadata.Name, f.App)}
	}
	f.data = data
	return am, nil
}

// Check validates the edited file.
func (f *FileStore) Check(_ context.Context, am *appmesh.AppMesh) error {
	out, err := editAppMesh(f.data, am)
	if err != nil {
		return err
	}
	_, err = appmesh.Decode(out)
	return err
}

// Save writes the canary and promoted blocks into the file, refusing when
// the file changed since it was read.
func (f *FileStore) Save(_ context.Context, am *appmesh.AppMesh, _ string) (string, error) {
	now, err := os.ReadFile(f.Path)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(now, f.data) {
		return "", &ConflictError{Err: fmt.Errorf("%s changed underneath since this command read it; nothing was written (fix: look at the file, then run the command again)", f.Path)}
	}
	out, err := editAppMesh(f.data, am)
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(f.Path, out); err != nil {
		return "", err
	}
	f.data = out
	return f.Path, nil
}

// writeFileAtomic replaces path with data through a temporary file and a
// rename, so that a reader (the team's pipeline, Argo CD's repo server, an
// editor) never sees a half-written AppMesh and a kill leaves the old file
// or the new one, never an empty one. The file's mode is kept.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".appmesh-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
