package renderer

import (
	"slices"
	"strings"
)

// stream is what every filter gets: the documents in order, the indexes
// over them (built once, after reading, and kept current by add and set),
// and the canary's plan for the routes filter. Filters change the stream
// only through set (edit a document), add and insertAfter (new
// documents).
type stream struct {
	*env
	docs []*Resource
	ix   *index
	// canary is what the canary filter decided for the routes filter:
	// the destinations of the target's hosts (nil without a canary).
	canary *canaryPlan

	stage   int         // the running stage, for the patches it makes
	touched []*Resource // documents the running stage edited
	keepAll bool        // keep every tree (tests: the pipeline without releases)
	// texts holds one copy of each short patch text.
	texts texts
}

// texts keeps one shared copy of each short patch text: a filter makes
// the same edit in many documents (the injection label of every pod
// template, at one indentation), and the patches are held until the
// Writer runs, so a copy per document would be state per document. It
// also lends edits a buffer to make a text in (bytes).
type texts struct {
	m   map[string]string
	buf []byte
}

// maxText and maxTexts bound what is worth sharing.
const maxText, maxTexts = 256, 4096

// str returns the shared copy of text.
func (t *texts) str(text string) string {
	if len(text) > maxText {
		return text
	}
	if c, ok := t.m[text]; ok {
		return c
	}
	t.add(text)
	return text
}

// bytes returns the shared copy of text as a string, copying it only when
// it is new.
func (t *texts) bytes(text []byte) string {
	if c, ok := t.m[string(text)]; ok { // no copy for a lookup
		return c
	}
	c := string(text)
	if len(c) <= maxText {
		t.add(c)
	}
	return c
}

func (t *texts) add(text string) {
	if t.m == nil {
		t.m = map[string]string{}
	}
	if len(t.m) < maxTexts {
		t.m[text] = text
	}
}

// index holds what filters look documents up by.
type index struct {
	services    map[string]*Resource // non-hook Services by name
	deployments map[string]*Resource // non-hook Deployments by name
	namespaces  map[string]bool      // non-hook Namespaces by name
	workloads   *workloads           // non-hook workloads by pod label
	// vs and dr map the hosts of VirtualServices and DestinationRules
	// (short names resolved like Istio: relative to the object's
	// namespace) to the objects.
	vs, dr map[string][]*Resource
}

func newIndex() *index {
	return &index{services: map[string]*Resource{}, deployments: map[string]*Resource{}, namespaces: map[string]bool{},
		workloads: newWorkloads(), vs: map[string][]*Resource{}, dr: map[string][]*Resource{}}
}

// indexAll builds the indexes over the documents read.
func (s *stream) indexAll() {
	s.ix = newIndex()
	for _, r := range s.docs {
		s.indexDoc(r, false)
	}
}

// indexDoc adds one document to the indexes, again after an edit.
func (s *stream) indexDoc(r *Resource, again bool) {
	if r.IsHook() {
		return
	}
	ix := s.ix
	switch {
	case r.is("", "Service"):
		ix.services[r.Name] = r
	case r.is("apps", "Deployment"):
		ix.deployments[r.Name] = r
	case r.is("", "Namespace"):
		ix.namespaces[r.Name] = true
	case r.is("networking.istio.io", "VirtualService"), r.is("networking.istio.io", "DestinationRule"):
		m := ix.vs
		if r.Kind == "DestinationRule" {
			m = ix.dr
		}
		if again { // an edit may have changed the hosts
			for h, list := range m {
				m[h] = slices.DeleteFunc(list, func(o *Resource) bool { return o == r })
			}
		}
		for _, h := range r.facts().hosts() {
			key := s.resolveHost(h, r)
			m[key] = append(m[key], r)
		}
	}
	ix.workloads.add(r)
}

// set edits document r at p (see Resource.set): the one way a filter
// changes a document.
func (s *stream) set(r *Resource, p path, value any) {
	r.edit(p, value, s.stage, &s.texts)
	if r.touchedIn != int8(s.stage+1) {
		r.touchedIn = int8(s.stage + 1)
		s.touched = append(s.touched, r)
	}
}

// endStage settles the documents the stage edited and brings the indexes
// up to date with them.
func (s *stream) endStage() {
	for _, r := range s.touched {
		r.settle()
		if s.ix != nil && r.listed {
			s.indexDoc(r, true)
		}
	}
	s.touched = nil
}

// add appends documents to the stream.
func (s *stream) add(rs ...*Resource) {
	for _, r := range rs {
		s.insert(len(s.docs), r)
	}
}

// insertAfter puts r right after at (the canary copy after its stable).
func (s *stream) insertAfter(at, r *Resource) { s.insert(slices.Index(s.docs, at)+1, r) }

// insert puts a new document at position i and indexes it; its tree goes
// once its facts are taken (no filter edits what the renderer generated).
func (s *stream) insert(i int, r *Resource) {
	s.docs = slices.Insert(s.docs, i, r)
	r.listed, r.generated = true, true
	s.indexDoc(r, false)
	if !s.keepAll {
		r.release()
	}
}

// resolveHost is the host a VirtualService or DestinationRule of r's
// namespace means by h.
func (e *env) resolveHost(h string, r *Resource) string {
	if ns := e.namespaceOf(r); ns != "" && !strings.Contains(h, ".") && h != "*" {
		return h + "." + ns + ".svc.cluster.local"
	}
	return h
}
