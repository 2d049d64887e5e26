// Package renderer is the meshbundle Helm post-renderer: it reads the
// manifests Helm rendered, puts the app into the Istio mesh as its AppMesh
// file says, and writes the manifests back.
//
// It is a pipeline in the style of kustomize's kio: a Reader parses the
// stream into documents (Resource, the one document model), the filters of
// pipeline (one per file: inject, ports, canary, routes, alias, state) read
// the stream's indexes and edit it through stream.set, a Writer prints it.
// Documents no filter touches are written back as their original bytes,
// edited ones as their bytes plus small patches where possible (patch.go),
// every filter is a single pass with index maps, and the output is
// deterministic.
//
// The package imports no Helm and none of Istio's heavy packages (pilot,
// analysis, operator) so that the post-renderer binary starts fast; Istio's
// analyzers and xDS simulation check its output from tests (meshcheck).
package renderer

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"istio.io/api/annotation"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/gatewayconfig"
)

// The pipeline, in order: the one place that says which filters run and
// when. A filter is one file (inject.go, ports.go, ...): a type built from
// the env with a Filter method, run once on the whole stream, and
// optionally
//   - Document (documentFilter): edits or notes each document as it is
//     read, while its tree is in memory; the per-document work of every
//     filter runs before any Filter;
//   - keepTree (treeKeeper): the documents it will edit in Filter, whose
//     trees must survive reading (all others are released then);
//   - readsTree (treeReader): the kinds of documents it reads or edits at
//     all (in Document or Filter) beyond their names and facts. Documents
//     of a kind no filter (and no fact, factsRead) reads are skimmed: never
//     built into a tree (skim), so they cost their bytes;
//   - readsWholeTree (wholeTreeReader): the kinds it reads all of, which a
//     wide document's tree is then not pruned of (prunedTree says what
//     of Services and workloads no filter reads).
//
// docs/renderer.md shows how to add one.
var pipeline = []stage{
	{"inject", func(e *env) filter { return newInject(e) }},
	{"ports", func(e *env) filter { return newPorts(e) }},
	{"canary", func(e *env) filter { return newCanary(e) }},         // before routes: the copy and version labels are pods routes must see
	{"routes", func(e *env) filter { return newRoutes(e) }},         // routeAPI istio; takes the canary's destinations (stream.canary)
	{"gatewayapi", func(e *env) filter { return newGatewayAPI(e) }}, // routeAPI gateway-api; the same destinations as Gateway API routes
	{"waypoint", func(e *env) filter { return newWaypoint(e) }},     // dataplane ambient: the waypoint the routes run in
	{"alias", func(e *env) filter { return newAlias(e) }},
	{"state", func(e *env) filter { return newState(e) }},
}

// stage is one named filter of the pipeline.
type stage struct {
	name string
	new  func(*env) filter
}

// filter is one step of the pipeline. Filter runs once on the stream, after
// every document is read; it reads the indexes and documents and changes
// them only through the stream (set, add, insertAfter).
type filter interface {
	Filter(s *stream) error
}

// documentFilter is a filter with per-document work (see pipeline).
type documentFilter interface {
	filter
	Document(s *stream, r *Resource) error
}

// treeKeeper is a filter that edits some documents in Filter (see
// pipeline).
type treeKeeper interface {
	keepTree(r *Resource) bool
}

// treeReader is a filter that reads documents of some kinds (see
// pipeline).
type treeReader interface {
	readsTree(group, kind string) bool
}

// wholeTreeReader is a filter that reads all of the documents of some
// kinds, which the Reader then does not prune (prunedTree).
type wholeTreeReader interface {
	readsWholeTree(group, kind string) bool
}

// treeOf says what the Reader builds of the tree of a document of a kind:
// nothing for a kind neither the facts nor a filter reads (headKeep: it is
// skimmed), the pruned tree of prunedTree unless a filter reads the whole,
// else the whole tree (nil). Lists are flattened by the Reader: whole.
func treeOf(filters []filter) func(group, kind string) *keepSet {
	return func(group, kind string) *keepSet {
		if strings.HasSuffix(kind, "List") {
			return nil
		}
		reads := factsRead(group, kind)
		for _, f := range filters {
			if tr, ok := f.(treeReader); ok && tr.readsTree(group, kind) {
				reads = true
			}
			if wr, ok := f.(wholeTreeReader); ok && wr.readsWholeTree(group, kind) {
				return nil
			}
		}
		if !reads {
			return headKeep
		}
		return prunedTree(group, kind)
	}
}

// Renderer runs the pipeline for one AppMesh.
type Renderer struct {
	config *appmesh.AppMesh
	// warn receives notes about values the renderer kept from the chart
	// instead of overwriting them (e.g. an explicit inject annotation).
	warn io.Writer
	// gateways, when set, are the only gateways routes may bind to.
	gateways map[string]*gatewayconfig.GatewayConfig
}

// New returns a Renderer for a defaulted, validated AppMesh (appmesh.Load or
// appmesh.Decode); nil means appmesh.Default(): injection on, ports enforced.
// Warnings go to warn when it is not nil.
func New(config *appmesh.AppMesh, warn io.Writer) *Renderer {
	if config == nil {
		config = appmesh.Default()
	}
	return &Renderer{config: config, warn: warn}
}

// WithGateways makes the routes filter check every route's gateway
// ("namespace/name") and hosts against these GatewayConfigs: a route to any
// other gateway, or with a host none of its servers accepts, is an error.
func (r *Renderer) WithGateways(gcs ...*gatewayconfig.GatewayConfig) *Renderer {
	if r.gateways == nil {
		r.gateways = map[string]*gatewayconfig.GatewayConfig{}
	}
	for _, gc := range gcs {
		r.gateways[gc.Ref()] = gc
	}
	return r
}

// Render reads all of in, runs the filters and writes the result to out.
// On error nothing is written to out.
func (r *Renderer) Render(in io.Reader, out io.Writer) error {
	s, err := r.run(in, pipeline, false)
	if err != nil {
		return err
	}
	// The Writer prints bytes, patches and edited trees only: the facts
	// of every document (and, with s, the indexes) are let go before it
	// runs, so the collector has them back while it encodes and prints.
	docs := s.docs
	for _, d := range docs {
		d.f = nil
	}
	// The Writer fails only before its first write, so out gets all or
	// nothing (short of out's own write errors).
	return Writer{}.Write(out, docs)
}

// run reads the stream and runs the stages. Each document's trees is
// released once read (its per-document edits made and facts taken) unless
// a stage keeps it, or keepAll (tests: the same pipeline holding every
// tree).
func (r *Renderer) run(in io.Reader, stages []stage, keepAll bool) (*stream, error) {
	// The whole input is read first: its bytes are kept as documents
	// anyway, and one scan tells whether any Istio gateway pod template
	// can be in it (see ports.Document).
	data, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	e := &env{am: r.config, warn: r.warn, gateways: r.gateways,
		noGateways: !bytes.Contains(data, []byte(annotation.InjectTemplates.Name))}
	s := &stream{env: e, keepAll: keepAll}
	filters := make([]filter, len(stages))
	for i, st := range stages {
		filters[i] = st.new(e)
	}
	rd := Reader{Namespace: r.config.Metadata.Namespace, Document: func(res *Resource) error {
		for _, f := range filters {
			if df, ok := f.(documentFilter); ok {
				if err := df.Document(s, res); err != nil {
					return err
				}
			}
		}
		res.settle()
		s.touched = s.touched[:0]
		keep := keepAll
		for _, f := range filters {
			if k, ok := f.(treeKeeper); ok && k.keepTree(res) {
				keep = true
			}
		}
		if !keep {
			res.release()
		}
		return nil
	}}
	if !keepAll {
		rd.treeOf = treeOf(filters)
	}
	docs, err := rd.read(data)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		d.listed = true
	}
	s.docs = docs
	s.indexAll()
	for i, f := range filters {
		s.stage = i + 1
		if err := f.Filter(s); err != nil {
			return nil, err
		}
		s.endStage()
		if !keepAll {
			releaseKept(s.docs, filters[i+1:])
		}
	}
	// Generated objects must not collide with the chart's own (which
	// the Reader found distinct) or each other. Only their keys are held:
	// this runs when the heap is at its largest.
	keys := map[objectKey]*Resource{} // generated objects' keys -> the first document with the key
	for _, res := range s.docs {
		if res.generated {
			keys[rd.key(res)] = nil
		}
	}
	for _, res := range s.docs {
		k := rd.key(res)
		other, ours := keys[k]
		if !ours {
			continue
		}
		if other != nil {
			return nil, fmt.Errorf("generated %s collides with an object of the chart (%s) (fix: rename the alias or route in the AppMesh)", res, other)
		}
		keys[k] = res
	}
	return s, nil
}

// releaseKept drops the trees kept for a filter that has run, unless a
// filter still to run keeps them too.
func releaseKept(docs []*Resource, later []filter) {
	for _, r := range docs {
		if r.doc == nil || r.dirty {
			continue
		}
		keep := false
		for _, f := range later {
			if k, ok := f.(treeKeeper); ok && k.keepTree(r) {
				keep = true
				break
			}
		}
		if !keep {
			r.release()
		}
	}
}

// Run has the shape of Helm's postrender.PostRenderer interface
// (Run(*bytes.Buffer) (*bytes.Buffer, error)), so the Helm SDK can use a
// *Renderer directly without this package importing Helm.
func (r *Renderer) Run(renderedManifests *bytes.Buffer) (*bytes.Buffer, error) {
	var out bytes.Buffer
	if err := r.Render(renderedManifests, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// env is what filters share: the AppMesh, the warning sink and the known
// gateways (nil: not checked).
type env struct {
	am       *appmesh.AppMesh
	warn     io.Writer
	gateways map[string]*gatewayconfig.GatewayConfig
	// noGateways: the input has no Istio gateway pod template (not even
	// the annotation's name), so no Service fronts one.
	noGateways bool
	// scratch is generate's buffer, reused from object to object.
	scratch []byte
	// rendered holds the app's routing objects generated so far,
	// "<Kind>/<name>" -> hash (state.go), for the state ConfigMap.
	rendered map[string]string
}

func (e *env) warnf(format string, args ...any) {
	if e.warn != nil {
		fmt.Fprintf(e.warn, "warning: "+format+"\n", args...)
	}
}

// namespaceOf is where an object will live: its own namespace or the
// release namespace from the AppMesh.
func (e *env) namespaceOf(r *Resource) string {
	if r.Namespace != "" {
		return r.Namespace
	}
	return e.am.Metadata.Namespace
}

// serviceHost is the host Istio knows a Service by: the FQDN when the
// namespace is known, else the short name, which Istio resolves relative
// to the namespace of the VirtualService/DestinationRule (the same one).
func (e *env) serviceHost(svc *Resource) string {
	ns := e.namespaceOf(svc)
	if ns == "" {
		return svc.Name
	}
	return svc.Name + "." + ns + ".svc.cluster.local"
}
