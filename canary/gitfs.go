package canary

import (
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// openRepo opens the working copy at dir so that go-git replaces the files
// it rewrites under .git (branch refs, the index, config) through a
// temporary file and a rename, as git does with its lock files. go-git
// otherwise truncates a ref file in place and then writes it: a command
// killed in between left an empty branch ref, a repository whose HEAD no
// longer resolves (TestGitOpsKilledResumes hit it). go-git writes objects
// and packed-refs through a rename already. A .git that is not a directory
// (a linked worktree, a submodule) is opened the way go-git opens it.
func openRepo(dir string) (*git.Repository, error) {
	dot := filepath.Join(dir, ".git")
	if st, err := os.Stat(dot); err != nil || !st.IsDir() {
		return git.PlainOpen(dir)
	}
	storage := filesystem.NewStorage(renameFS{osfs.New(dot)}, cache.NewObjectLRUDefault())
	return git.Open(storage, osfs.New(dir))
}

// renameFS is a billy file system whose Create writes a temporary file
// beside the named one and renames it into place on Close. It does not
// offer ReadAndWriteCapability, so go-git writes refs with Create
// (dotgit.setRefNorwfs) instead of truncating an open ref file.
type renameFS struct{ billy.Filesystem }

func (r renameFS) Capabilities() billy.Capability {
	return billy.Capabilities(r.Filesystem) &^ billy.ReadAndWriteCapability
}

func (r renameFS) Create(name string) (billy.File, error) {
	tmp, err := r.TempFile(filepath.Dir(name), "."+filepath.Base(name)+".meshbundle-")
	if err != nil {
		return nil, err
	}
	return &renameOnClose{File: tmp, fs: r.Filesystem, to: name}, nil
}

// renameOnClose is a temporary file that becomes the file named to when
// closed; a failed write or close removes it and leaves the old file.
type renameOnClose struct {
	billy.File
	fs     billy.Filesystem
	to     string
	failed bool
}

func (f *renameOnClose) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	if err != nil {
		f.failed = true
	}
	return n, err
}

func (f *renameOnClose) Close() error {
	err := f.File.Close()
	if err == nil && f.failed {
		err = os.ErrInvalid
	}
	if err != nil {
		_ = f.fs.Remove(f.File.Name())
		return err
	}
	if ch, ok := f.fs.(billy.Change); ok {
		_ = ch.Chmod(f.File.Name(), 0o644) // what Create would have made (umask aside)
	}
	return f.fs.Rename(f.File.Name(), f.to)
}
