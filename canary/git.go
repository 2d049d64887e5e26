package canary

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/argocd"
	"github.com/meshbundle/meshbundle/failure"
)

// GitStore keeps the AppMesh in a git working copy, as Argo CD syncs it:
// every step is one commit of the app's AppMesh file, so the history reads
// as the canary's timeline and Argo CD never sees a change that is not in
// git. It refuses to work on a dirty working copy, and each commit checks
// that neither HEAD nor the file moved since it was read (optimistic
// concurrency: a second operator cannot silently overwrite the first).
type GitStore struct {
	// Dir is the root of the working copy.
	Dir string
	// App is the AppMesh metadata.name.
	App string
	// File is the AppMesh file relative to Dir; found by App when empty.
	File string
	// Push pushes after every commit.
	Push bool
	// Values are values files (relative to the chart's directory) the
	// Argo CD Application renders the chart with; see Check.
	Values []string
	// Warn receives progress lines about what Load repaired (a step a
	// killed command left uncommitted or unpushed).
	Warn io.Writer

	repo *git.Repository
	head plumbing.Hash // HEAD when the file was read
	data []byte        // the file as read
}

// ConflictError: the working copy or the file changed underneath.
type ConflictError struct{ Err error }

func (e *ConflictError) Error() string { return e.Err.Error() }
func (e *ConflictError) Unwrap() error { return e.Err }

// Kind is failure.Conflict.
func (e *ConflictError) Kind() failure.Kind { return failure.Conflict }

// Load opens the repository, refuses a dirty working copy and reads the
// app's AppMesh file.
func (g *GitStore) Load(ctx context.Context) (*appmesh.AppMesh, error) {
	repo, err := openRepo(g.Dir)
	if err != nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("--repo %s: %w (fix: point --repo at a git working copy)", g.Dir, err)}
	}
	g.repo = repo
	if g.File == "" {
		if g.File, err = findAppMesh(g.Dir, g.App); err != nil {
			if cerr := g.clean(); cerr != nil {
				return nil, cerr // the likelier cause
			}
			return nil, err
		}
	}
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("--repo %s: read HEAD: %w", g.Dir, err)
	}
	if err := g.resumeUncommitted(head.Hash()); err != nil {
		return nil, err
	}
	if err := g.clean(); err != nil {
		return nil, err
	}
	if g.Push {
		if err := g.pushUnpushed(ctx); err != nil {
			return nil, err
		}
	}
	g.head = head.Hash()
	if g.data, err = os.ReadFile(filepath.Join(g.Dir, g.File)); err != nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("AppMesh file %s: %w (fix: give --file the AppMesh file's path in the repository)", g.File, err)}
	}
	am, err := appmesh.Decode(g.data)
	if err != nil {
		return nil, &failure.BadInputError{Err: fmt.Errorf("AppMesh file %s: %w", g.File, err)}
	}
	if am.Metadata.Name != g.App {
		return nil, &failure.BadInputError{Err: fmt.Errorf("%s is the AppMesh of %q, not %q (fix: give the app's own AppMesh file with --file)", g.File, am.Metadata.Name, g.App)}
	}
	return am, nil
}

// LastStep is HEAD's commit message as Load read it: a canary step's
// timeline entry when the last commit is one ("" when unreadable).
func (g *GitStore) LastStep() string {
	if g.repo == nil {
		return ""
	}
	c, err := g.repo.CommitObject(g.head)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(c.Message)
}

// dirty says whether a file's status could end up in the step's commit:
// untracked files cannot; anything modified or staged could, or would be
// mixed up with it.
func dirty(s *git.FileStatus) bool {
	return (s.Worktree != git.Unmodified && s.Worktree != git.Untracked) || (s.Staging != git.Unmodified && s.Staging != git.Untracked)
}

func (g *GitStore) clean() error {
	wt, err := g.repo.Worktree()
	if err != nil {
		return err
	}
	st, err := wt.Status()
	if err != nil {
		return err
	}
	var files []string
	for f, s := range st {
		if dirty(s) {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		slices.Sort(files)
		return &ConflictError{Err: fmt.Errorf("the working copy %s has uncommitted changes (%s): a canary step must be exactly one commit (fix: commit or discard them first)", g.Dir, strings.Join(files, ", "))}
	}
	return nil
}

// resumeUncommitted undoes the step a killed command wrote but did not
// commit. Save writes the file, stages it, then commits: a kill between
// leaves the AppMesh file modified (maybe staged) and nothing else. When
// that file is exactly what Save writes for a step planned from HEAD's
// file, it is put back (working file and index) to HEAD: Argo CD never saw
// it, the same command plans that step again and commits it once, and any
// other command plans from HEAD. Anything else dirty is left as it is, and
// clean refuses it.
func (g *GitStore) resumeUncommitted(head plumbing.Hash) error {
	wt, err := g.repo.Worktree()
	if err != nil {
		return err
	}
	st, err := wt.Status()
	if err != nil {
		return err
	}
	path := filepath.ToSlash(g.File)
	fs, ok := st[path]
	if !ok || !dirty(fs) {
		return nil
	}
	for f, s := range st {
		if f != path && dirty(s) {
			return nil // someone's own changes: clean refuses
		}
	}
	if (fs.Worktree != git.Unmodified && fs.Worktree != git.Modified) || (fs.Staging != git.Unmodified && fs.Staging != git.Modified) {
		return nil
	}
	commit, err := g.repo.CommitObject(head)
	if err != nil {
		return err
	}
	f, err := commit.File(path)
	if err != nil {
		return nil // not in HEAD: not a step of ours
	}
	committed, err := f.Contents()
	if err != nil {
		return err
	}
	work, err := os.ReadFile(filepath.Join(g.Dir, g.File))
	if err != nil {
		return err
	}
	// The index holds HEAD's file (killed before staging) or the working
	// file (killed after).
	idx, err := g.repo.Storer.Index()
	if err != nil {
		return err
	}
	entry, err := idx.Entry(path)
	if err != nil {
		return nil
	}
	if entry.Hash != plumbing.ComputeHash(plumbing.BlobObject, []byte(committed)) && entry.Hash != plumbing.ComputeHash(plumbing.BlobObject, work) {
		return nil
	}
	from, err := appmesh.Decode([]byte(committed))
	if err != nil {
		return nil
	}
	step, err := appmesh.Decode(work)
	if err != nil {
		return nil
	}
	if out, err := editAppMesh([]byte(committed), step); err != nil || !bytes.Equal(out, work) || sameCanary(from, step) || !oneStepAhead(from, step) {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(g.Dir, g.File), []byte(committed)); err != nil {
		return fmt.Errorf("put %s back to HEAD: %w", g.File, err)
	}
	if _, err := wt.Add(path); err != nil {
		return fmt.Errorf("put %s back to HEAD in the index: %w", g.File, err)
	}
	fmt.Fprintf(g.progress(), "%s holds canary %s, written but not committed by a command that was stopped: put it back to HEAD (canary %s); the step is made again\n", g.File, describe(step.Spec.Canary), describe(from.Spec.Canary))
	return nil
}

// pushUnpushed pushes what a command stopped between its commit and its
// push left behind, before anything else: Argo CD only sees pushed
// commits, so the cluster could never apply that step.
func (g *GitStore) pushUnpushed(ctx context.Context) error {
	err := g.repo.PushContext(ctx, &git.PushOptions{})
	switch {
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, git.ErrNonFastForwardUpdate) || (err != nil && strings.Contains(err.Error(), "non-fast-forward")):
		return &ConflictError{Err: fmt.Errorf("--push: the remote moved since the last pull (%w); nothing was committed (fix: `git pull --rebase` in %s, then run the command again)", err, g.Dir)}
	case err != nil:
		return fmt.Errorf("--push: push the commits not pushed yet: %w", err)
	}
	fmt.Fprintf(g.progress(), "pushed commits a stopped command had made but not pushed (Argo CD only sees pushed commits)\n")
	return nil
}

func (g *GitStore) progress() io.Writer {
	if g.Warn == nil {
		return io.Discard
	}
	return g.Warn
}

// findAppMesh finds the AppMesh file of app below dir.
func findAppMesh(dir, app string) (string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(data, []byte("kind: AppMesh")) {
			return nil
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if sigsyaml.Unmarshal(data, &head) == nil && head.Kind == appmesh.Kind && head.Metadata.Name == app {
			rel, _ := filepath.Rel(dir, path)
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", &failure.BadInputError{Err: fmt.Errorf("no AppMesh file with metadata.name %q in %s (fix: check the app name, or give --file)", app, dir)}
	case 1:
		return found[0], nil
	}
	return "", &failure.BadInputError{Err: fmt.Errorf("several AppMesh files name app %q: %s (fix: give --file)", app, strings.Join(found, ", "))}
}

// Check validates the edited file and, when the file sits in a chart's
// directory (the layout meshbundle's Argo CD plugin renders), renders the
// chart with it as the plugin will: a step that would not render is bad
// input, refused before it is committed.
func (g *GitStore) Check(_ context.Context, am *appmesh.AppMesh) error {
	out, err := editAppMesh(g.data, am)
	if err != nil {
		return err
	}
	if _, err := appmesh.Decode(out); err != nil {
		return err
	}
	appDir := filepath.Dir(g.File)
	if _, err := os.Stat(filepath.Join(g.Dir, appDir, "Chart.yaml")); err != nil {
		return nil // no chart here: Argo CD renders it from elsewhere
	}
	p := argocd.Params{ValuesFiles: g.Values, ReleaseName: g.App, Namespace: am.Metadata.Namespace, SourcePath: filepath.ToSlash(appDir)}
	if err := argocd.Render(filepath.Join(g.Dir, appDir), p, am, io.Discard, io.Discard); err != nil {
		return fmt.Errorf("the chart in %s does not render with this step's AppMesh, so Argo CD could not sync it; nothing was committed: %w", appDir, err)
	}
	return nil
}

// Save writes the canary and promoted sections into the file, keeping the
// rest of it (comments included), and commits it.
func (g *GitStore) Save(ctx context.Context, am *appmesh.AppMesh, message string) (string, error) {
	if err := g.clean(); err != nil {
		return "", err
	}
	head, err := g.repo.Head()
	if err != nil {
		return "", err
	}
	path := filepath.Join(g.Dir, g.File)
	now, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if head.Hash() != g.head || !bytes.Equal(now, g.data) {
		return "", &ConflictError{Err: fmt.Errorf("%s changed underneath (HEAD %s, read at %s): someone else committed; nothing was written (fix: look at `git log`, then run the command again)", g.File, head.Hash().String()[:8], g.head.String()[:8])}
	}
	out, err := editAppMesh(g.data, am)
	if err != nil {
		return "", err
	}
	if bytes.Equal(out, g.data) {
		// The file records the step already. As a GitOps step that cannot
		// happen (a plan skips what the file records); as the source of a
		// Helm-mode step it is a command killed after its commit, before
		// its helm upgrade finished: the re-run applies the step again
		// and that commit stands (no second one; go-git refuses an empty
		// commit anyway). Load pushed it if it was not.
		return head.Hash().String()[:8], nil
	}
	if err := writeFileAtomic(path, out); err != nil {
		return "", err
	}
	wt, err := g.repo.Worktree()
	if err != nil {
		return "", err
	}
	if _, err := wt.Add(filepath.ToSlash(g.File)); err != nil {
		return "", err
	}
	opts := &git.CommitOptions{}
	if cfg, err := g.repo.ConfigScoped(config.GlobalScope); err != nil || cfg.User.Name == "" || cfg.User.Email == "" {
		opts.Author = &object.Signature{Name: "meshbundle", Email: "meshbundle@localhost", When: time.Now()}
	}
	hash, err := wt.Commit(message, opts)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", g.File, err)
	}
	g.head, g.data = hash, out
	if g.Push {
		if err := g.repo.PushContext(ctx, &git.PushOptions{}); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return hash.String(), fmt.Errorf("push %s: %w (the commit is made locally; run the command again to push it first)", hash.String()[:8], err)
		}
	}
	return hash.String()[:8], nil
}

// editAppMesh replaces the spec.canary and spec.promoted blocks of the
// file with am's as a text splice at the lines yaml.v3 reports, so every
// other byte (comments, indentation, order) stays as the user wrote it and
// a finished abort leaves the file as it was before start.
func editAppMesh(data []byte, am *appmesh.AppMesh) ([]byte, error) {
	out := data
	for _, f := range []struct {
		key   string
		value any
		empty bool
	}{
		{"canary", am.Spec.Canary, am.Spec.Canary == nil},
		{"promoted", am.Spec.Promoted, len(am.Spec.Promoted) == 0},
	} {
		var err error
		if out, err = spliceSpecKey(out, f.key, f.value, f.empty); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// spliceSpecKey replaces (or inserts, or deletes) the block of spec.<key>.
func spliceSpecKey(data []byte, key string, value any, del bool) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("AppMesh file is not a YAML mapping: %v", err)
	}
	root := doc.Content[0]
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	// The lines of spec: from its first key to the next top-level key.
	specEnd := len(lines)
	var spec *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "spec" {
			spec = root.Content[i+1]
			if i+2 < len(root.Content) {
				specEnd = root.Content[i+2].Line - 1
			}
		}
	}
	if spec == nil || spec.Kind != yaml.MappingNode || spec.Style&yaml.FlowStyle != 0 || len(spec.Content) == 0 {
		return nil, fmt.Errorf("the AppMesh file needs a block-style spec mapping to record the canary in (fix: write spec: as an indented block)")
	}
	indent := spec.Content[0].Column - 1
	start, end := specEnd, specEnd
	for i := 0; i+1 < len(spec.Content); i += 2 {
		if spec.Content[i].Value == key {
			start = spec.Content[i].Line - 1
			end = specEnd
			if i+2 < len(spec.Content) {
				end = spec.Content[i+2].Line - 1
			}
		}
	}
	var block []byte
	if !del {
		raw, err := sigsyaml.Marshal(map[string]any{key: value})
		if err != nil {
			return nil, err
		}
		// sigs.k8s.io/yaml writes block style with "- " at the key's
		// indentation; shift it under spec.
		for _, l := range bytes.SplitAfter(raw, []byte("\n")) {
			if len(l) > 0 {
				block = append(block, bytes.Repeat([]byte(" "), indent)...)
				block = append(block, l...)
			}
		}
	}
	// Keep blank lines and comments that close the replaced range with what
	// follows it.
	for end > start && start != specEnd && isTrivia(lines[end-1]) {
		end--
	}
	var out []byte
	for _, l := range lines[:start] {
		out = append(out, l...)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, block...)
	for _, l := range lines[end:] {
		out = append(out, l...)
	}
	return out, nil
}

func isTrivia(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) == 0 || t[0] == '#'
}

// LastCommit is "<hash> <subject>" of the last commit that changed the
// AppMesh file (after Load): the last canary step in GitOps mode.
func (g *GitStore) LastCommit() (string, error) {
	file := filepath.ToSlash(g.File)
	iter, err := g.repo.Log(&git.LogOptions{FileName: &file})
	if err != nil {
		return "", err
	}
	c, err := iter.Next()
	if err != nil {
		return "", fmt.Errorf("no commit touches %s: %w", file, err)
	}
	subject, _, _ := strings.Cut(c.Message, "\n")
	return c.Hash.String()[:8] + " " + subject, nil
}
