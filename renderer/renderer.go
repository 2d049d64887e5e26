// Package renderer is the meshbundle Helm post-renderer: it reads the
// manifests Helm rendered, puts the app into the Istio mesh as its AppMesh
// file says, and writes the manifests back.
//
// It is a pipeline in the style of kustomize's kio: a Reader parses the
// stream into Resources, Filters edit the list in order (one per file:
// inject, ports, routes, alias, state), a Writer prints it. Documents no
// filter touches are written back as their original bytes, edited ones as
// their bytes plus small patches where possible (patch.go), every filter is
// a single pass with index maps, and the output is deterministic.
//
// The package imports no Helm and none of Istio's heavy packages (pilot,
// analysis, operator) so that the post-renderer binary starts fast; Istio's
// analyzers and xDS simulation check its output from tests (meshcheck).
package renderer

import (
	"bytes"
	"fmt"
	"io"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/gatewayconfig"
)

// Filter edits the resource list. Implementations are single pass (O(n)).
type Filter interface {
	Filter(rs []*Resource) ([]*Resource, error)
}

// streamFilter is a Filter whose edits of a document depend on that
// document alone. Render runs Document on each document as it is read,
// while its node tree is in memory, and Finish on the whole stream; Filter
// does both, for callers that hold a list.
type streamFilter interface {
	Filter
	Document(r *Resource) error
	Finish(rs []*Resource) ([]*Resource, error)
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

// Filters returns the pipeline, in order.
func (r *Renderer) Filters() []Filter {
	e := &env{am: r.config, warn: r.warn, gateways: r.gateways}
	return []Filter{
		newInject(e),
		newPorts(e),
		newCanaryWorkloads(e), // canary.go: copy + version labels, before routes sees them
		newRoutes(e),
		newCanaryRoutes(e), // canary.go: weights on the routes' VirtualService
		newAlias(e),
		newState(e),
	}
}

// Render reads all of in, runs the filters and writes the result to out.
// On error nothing is written to out.
func (r *Renderer) Render(in io.Reader, out io.Writer) error {
	filters := r.Filters()
	// The leading stream filters edit each document as it is read; then
	// its tree is released and later filters read its facts (facts.go).
	var stream []streamFilter
	for _, f := range filters {
		sf, ok := f.(streamFilter)
		if !ok {
			break
		}
		stream = append(stream, sf)
	}
	rd := Reader{Namespace: r.config.Metadata.Namespace, Document: func(res *Resource) error {
		for _, sf := range stream {
			if err := sf.Document(res); err != nil {
				return err
			}
		}
		res.release()
		return nil
	}}
	rs, err := rd.Read(in)
	if err != nil {
		return err
	}
	for i, f := range filters {
		if i < len(stream) {
			rs, err = stream[i].Finish(rs)
		} else {
			rs, err = f.Filter(rs)
		}
		if err != nil {
			return err
		}
		// Trees a filter parsed again to edit go as well.
		for _, res := range rs {
			res.release()
		}
	}
	// Generated objects must not collide with the chart's own.
	seen := make(map[objectKey]*Resource, len(rs))
	for _, res := range rs {
		k := rd.key(res)
		if other, dup := seen[k]; dup {
			return fmt.Errorf("generated %s collides with an object of the chart (%s) (fix: rename the alias or route in the AppMesh)", res, other)
		}
		seen[k] = res
	}
	// The Writer fails only before its first write, so out gets all or
	// nothing (short of out's own write errors).
	return Writer{}.Write(out, rs)
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
