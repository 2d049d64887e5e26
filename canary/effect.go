package canary

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	analysis "istio.io/api/analysis/v1alpha1"
	istiometa "istio.io/api/meta/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshbundle/meshbundle/renderer"
)

// "Applied" means in effect (docs/canary.md, "When a step counts as
// applied"): after the Kubernetes conditions of a step hold, the app's
// routing objects (VirtualServices, DestinationRules, Gateway API routes)
// are observed and accepted by istiod, and the connected proxies that
// import them, in any namespace, acknowledged a push that carries them
// (istiod.go). Only then does the
// next step run.

// Kinds of the app's routing objects, as istiod's /debug/configz names them.
const (
	kindVirtualService  = "VirtualService"
	kindDestinationRule = "DestinationRule"
	kindHTTPRoute       = "HTTPRoute"
	kindGRPCRoute       = "GRPCRoute"
	kindTCPRoute        = "TCPRoute"
)

// routingObject is one of the app's routing objects as the API server has it.
type routingObject struct {
	Kind, Name      string
	ResourceVersion string
	Generation      int64
	// Status says what istiod wrote about this generation: "" when it
	// accepted it, "not observed yet" while its status is for an older
	// generation, or the problem it reported. Unknown is true when istiod
	// writes no status for the kind (VirtualServices and DestinationRules
	// without PILOT_ENABLE_ANALYSIS): then only /debug/configz can tell
	// that istiod has this version.
	Status  string
	Unknown bool
	// Rejected: Status is an error istiod reported (an analysis error, a
	// route not Accepted): waiting does not fix it.
	Rejected bool
	// Routes (VirtualServices): per named HTTP route, the destinations a
	// proxy's route of that name must send to once it has this version.
	Routes map[string]routeTargets
	// Hosts are the hosts the object routes, as written: a proxy whose
	// routes show one of them imports the app's routing (appHosts).
	Hosts []string
	// Rendered is the object's renderer.RenderedAnnotation: the hash of
	// the render it came from ("" on an object meshbundle did not render).
	Rendered string
}

func (o routingObject) key() string { return o.Kind + "/" + o.Name }

// routingObjects lists the app's routing objects (label meshbundle.dev/app).
// Gateway API routes are read only when the Gateway API client is set.
func (c *Cluster) routingObjects(ctx context.Context) ([]routingObject, error) {
	if c.Istio == nil {
		return nil, nil
	}
	app := metav1.ListOptions{LabelSelector: "meshbundle.dev/app=" + c.App}
	var out []routingObject
	vss, err := c.Istio.NetworkingV1().VirtualServices(c.Namespace).List(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("list VirtualServices: %w", err)
	}
	for _, vs := range vss.Items {
		o := istioObject(kindVirtualService, vs.ObjectMeta, &vs.Status)
		o.Routes = map[string]routeTargets{}
		o.Hosts = slices.Clone(vs.Spec.Hosts)
		for _, r := range vs.Spec.Http {
			for _, d := range r.Route {
				o.Hosts = append(o.Hosts, d.Destination.GetHost())
			}
			if r.Name == "" {
				continue
			}
			t := routeTargets{}
			for _, d := range r.Route {
				w := uint32(d.Weight)
				if len(r.Route) == 1 {
					w = 100
				}
				if w > 0 {
					t[d.Destination.Subset+"|"+d.Destination.Host] = w
				}
			}
			o.Routes[r.Name] = t
		}
		out = append(out, o)
	}
	drs, err := c.Istio.NetworkingV1().DestinationRules(c.Namespace).List(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("list DestinationRules: %w", err)
	}
	for _, dr := range drs.Items {
		o := istioObject(kindDestinationRule, dr.ObjectMeta, &dr.Status)
		o.Hosts = []string{dr.Spec.Host}
		out = append(out, o)
	}
	if c.Gateway == nil {
		return out, nil
	}
	// A cluster without the Gateway API CRDs (or without a kind's CRD:
	// TCPRoute and GRPCRoute came to the standard channel later) answers
	// 404 to the list: it holds no such route, so none of the app's.
	gw := c.Gateway.GatewayV1()
	https, err := gw.HTTPRoutes(c.Namespace).List(ctx, app)
	if err != nil && !notServed(err) {
		return nil, fmt.Errorf("list HTTPRoutes: %w", err)
	}
	for _, r := range https.Items {
		o := routeObject(kindHTTPRoute, r.ObjectMeta, r.Status.Parents)
		o.Hosts = serviceRefs(r.Spec.ParentRefs, nil, c.Namespace)
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				o.Hosts = append(o.Hosts, serviceRefs(nil, []gwapi.BackendRef{b.BackendRef}, c.Namespace)...)
			}
		}
		out = append(out, o)
	}
	grpcs, err := gw.GRPCRoutes(c.Namespace).List(ctx, app)
	if err != nil && !notServed(err) {
		return nil, fmt.Errorf("list GRPCRoutes: %w", err)
	}
	for _, r := range grpcs.Items {
		o := routeObject(kindGRPCRoute, r.ObjectMeta, r.Status.Parents)
		o.Hosts = serviceRefs(r.Spec.ParentRefs, nil, c.Namespace)
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				o.Hosts = append(o.Hosts, serviceRefs(nil, []gwapi.BackendRef{b.BackendRef}, c.Namespace)...)
			}
		}
		out = append(out, o)
	}
	tcps, err := gw.TCPRoutes(c.Namespace).List(ctx, app)
	if err != nil && !notServed(err) {
		return nil, fmt.Errorf("list TCPRoutes: %w", err)
	}
	for _, r := range tcps.Items {
		o := routeObject(kindTCPRoute, r.ObjectMeta, r.Status.Parents)
		o.Hosts = serviceRefs(r.Spec.ParentRefs, nil, c.Namespace)
		for _, rule := range r.Spec.Rules {
			o.Hosts = append(o.Hosts, serviceRefs(nil, rule.BackendRefs, c.Namespace)...)
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b routingObject) int { return strings.Compare(a.key(), b.key()) })
	return out, nil
}

// serviceRefs are the hosts ("name.namespace") of the Services among a
// Gateway API route's parents (GAMMA: a route of a Service's traffic) and
// backends.
func serviceRefs(parents []gwapi.ParentReference, backends []gwapi.BackendRef, ns string) []string {
	var out []string
	host := func(group *gwapi.Group, kind *gwapi.Kind, name gwapi.ObjectName, refNS *gwapi.Namespace) {
		if (group != nil && *group != "" && *group != "core") || (kind != nil && *kind != "Service") {
			return
		}
		n := ns
		if refNS != nil {
			n = string(*refNS)
		}
		out = append(out, string(name)+"."+n)
	}
	for _, p := range parents {
		host(p.Group, p.Kind, p.Name, p.Namespace)
	}
	for _, b := range backends {
		host(b.Group, b.Kind, b.Name, b.Namespace)
	}
	return out
}

// notServed: the API server does not serve the kind listed (its CRD is not
// installed), as opposed to a failed list.
func notServed(err error) bool {
	return apierrors.IsNotFound(err) || meta.IsNoMatchError(err)
}

// istioObject reads the status istiod writes on Istio objects when its
// analysis runs (PILOT_ENABLE_ANALYSIS): observedGeneration and analysis
// messages, of which an Error rejects the object.
func istioObject(kind string, m metav1.ObjectMeta, st *istiometa.IstioStatus) routingObject {
	o := routingObject{Kind: kind, Name: m.Name, ResourceVersion: m.ResourceVersion, Generation: m.Generation, Rendered: m.Annotations[renderer.RenderedAnnotation]}
	switch {
	case st.GetObservedGeneration() == 0 && len(st.GetValidationMessages()) == 0:
		o.Unknown = true
	case st.GetObservedGeneration() < m.Generation:
		o.Status = fmt.Sprintf("istiod's status is for generation %d, not %d yet", st.GetObservedGeneration(), m.Generation)
	default:
		for _, msg := range st.GetValidationMessages() {
			if msg.GetLevel() == analysis.AnalysisMessageBase_ERROR {
				o.Status = fmt.Sprintf("istiod's analysis reports %s (%s, %s)", msg.GetType().GetName(), msg.GetType().GetCode(), msg.GetDocumentationUrl())
				o.Rejected = true
			}
		}
	}
	return o
}

// routeObject reads a Gateway API route's status, which istiod writes
// (PILOT_ENABLE_GATEWAY_API_STATUS, on by default): every parent must have
// Accepted and ResolvedRefs true for this generation. A route with no
// parent status yet has not been observed.
func routeObject(kind string, m metav1.ObjectMeta, parents []gwapi.RouteParentStatus) routingObject {
	o := routingObject{Kind: kind, Name: m.Name, ResourceVersion: m.ResourceVersion, Generation: m.Generation, Rendered: m.Annotations[renderer.RenderedAnnotation]}
	if len(parents) == 0 {
		o.Status = "no parent status from istiod yet"
		return o
	}
	for _, p := range parents {
		for _, t := range []gwapi.RouteConditionType{gwapi.RouteConditionAccepted, gwapi.RouteConditionResolvedRefs} {
			i := slices.IndexFunc(p.Conditions, func(c metav1.Condition) bool { return c.Type == string(t) })
			switch {
			case i < 0 || p.Conditions[i].ObservedGeneration < m.Generation:
				o.Status = fmt.Sprintf("parent %s: condition %s not observed for generation %d yet", p.ParentRef.Name, t, m.Generation)
			case p.Conditions[i].Status != metav1.ConditionTrue:
				c := p.Conditions[i]
				o.Status = fmt.Sprintf("parent %s: %s is %s: %s: %s", p.ParentRef.Name, t, c.Status, c.Reason, c.Message)
				o.Rejected = true
				return o
			}
		}
	}
	return o
}

// renderedRouting reads the app's routing objects as the render the state
// ConfigMap came from generated them (renderer.RoutingAnnotation): object
// key -> hash. ok is false when the ConfigMap does not list them (none, or
// written by a renderer without the annotation).
func (c *Cluster) renderedRouting(ctx context.Context) (want map[string]string, ok bool, err error) {
	cm, err := c.Client.CoreV1().ConfigMaps(c.Namespace).Get(ctx, renderer.StateConfigMapName(c.App), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read ConfigMap %s/%s: %w", c.Namespace, renderer.StateConfigMapName(c.App), err)
	}
	list, ok := cm.Annotations[renderer.RoutingAnnotation]
	if !ok {
		return nil, false, nil
	}
	want, err = parseRouting(list)
	if err != nil {
		return nil, false, fmt.Errorf("ConfigMap %s/%s annotation %s: %w", c.Namespace, cm.Name, renderer.RoutingAnnotation, err)
	}
	return want, true, nil
}

// parseRouting reads renderer.RoutingAnnotation: "<Kind>/<name>=<hash>"
// joined by commas.
func parseRouting(list string) (map[string]string, error) {
	want := map[string]string{}
	if list == "" {
		return want, nil
	}
	for _, e := range strings.Split(list, ",") {
		key, hash, ok := strings.Cut(e, "=")
		if !ok || !strings.Contains(key, "/") || hash == "" {
			return nil, fmt.Errorf("entry %q is not <Kind>/<name>=<hash>", e)
		}
		want[key] = hash
	}
	return want, nil
}

// notRendered says which of the app's routing objects are not yet as the
// state ConfigMap's render made them ("" when all are): one it lists is
// missing or carries another hash, or one meshbundle rendered (it has a
// hash) that the render does not list still exists. Objects without a
// hash are not meshbundle's output (a chart's, labelled alike) and are
// not waited for.
func notRendered(want map[string]string, objs []routingObject) string {
	live := map[string]string{}
	for _, o := range objs {
		live[o.key()] = o.Rendered
		if _, listed := want[o.key()]; !listed && o.Rendered != "" {
			return fmt.Sprintf("%s: still exists, and the step's render does not have it", o.key())
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		have, ok := live[k]
		switch {
		case !ok:
			return fmt.Sprintf("%s: not created yet", k)
		case have != want[k]:
			return fmt.Sprintf("%s: rendered %q, the step's render is %q", k, have, want[k])
		}
	}
	return ""
}

// wantRoutes are the named HTTP routes of the app's VirtualServices.
func wantRoutes(objs []routingObject) map[string]routeTargets {
	out := map[string]routeTargets{}
	for _, o := range objs {
		maps.Copy(out, o.Routes)
	}
	return out
}

// versions maps each object to its resourceVersion.
func versions(objs []routingObject) map[string]string {
	out := make(map[string]string, len(objs))
	for _, o := range objs {
		out[o.key()] = o.ResourceVersion
	}
	return out
}

// changedKinds lists the kinds of the objects that differ between two
// snapshots (created, changed or deleted).
func changedKinds(before, after map[string]string) []string {
	kinds := map[string]bool{}
	for k, v := range after {
		if before[k] != v {
			kinds[strings.SplitN(k, "/", 2)[0]] = true
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			kinds[strings.SplitN(k, "/", 2)[0]] = true
		}
	}
	return slices.Sorted(maps.Keys(kinds))
}

// waitInEffect waits until the step applied after m is in effect: the
// app's routing objects observed and accepted by istiod, and every
// connected proxy that imports them, in any namespace, acknowledged a push
// carrying them. When that cannot be told (no istiod endpoint or Istio
// client, istiod unreachable, no connected proxy imports them), it waits
// the settle delay instead and says so. A routing object istiod rejected is an error.
func (c *Cluster) waitInEffect(ctx context.Context, m *pushMark, opts Options) error {
	if c.Istio == nil {
		return settle(ctx, opts, "no Istio client to read the app's routing objects")
	}
	deadline := time.Now().Add(opts.Timeout)
	// The step's routing objects first: a sync tool may apply the state
	// ConfigMap long before them (Argo CD: ConfigMaps first, custom
	// resources last), and all below reads the live objects.
	want, listed, err := c.renderedRouting(ctx)
	if err != nil {
		return err
	}
	switch {
	case opts.NoRenderedCheck:
		fmt.Fprintf(opts.Progress, "  not checking that the step's routing objects arrived (test hook)\n")
	case !listed:
		fmt.Fprintf(opts.Progress, "  the state ConfigMap does not list the routing objects of its render (an older meshbundle rendered it): the live ones are taken as the step's\n")
	default:
		fmt.Fprintf(opts.Progress, "  waiting for the %d routing objects of the step's render to arrive, and the ones it removes to go\n", len(want))
	}
	var objs []routingObject
	arriving, firstPending := time.Now(), ""
	fmt.Fprintf(opts.Progress, "  waiting for istiod to observe and accept the app's routing objects\n")
	for {
		var err error
		if objs, err = c.routingObjects(ctx); err != nil {
			return fmt.Errorf("read the app's routing objects: %w", err)
		}
		if listed && !opts.NoRenderedCheck {
			pending := notRendered(want, objs)
			if pending != "" {
				if firstPending == "" {
					firstPending = pending
				}
				if err := pause(ctx, deadline, opts, "the step's routing objects to arrive", pending); err != nil {
					return err
				}
				continue
			}
			if firstPending != "" {
				fmt.Fprintf(opts.Progress, "  the step's routing objects arrived after %s (at first %s)\n", time.Since(arriving).Round(100*time.Millisecond), firstPending)
				firstPending = ""
			}
		}
		pending := ""
		for _, o := range objs {
			if o.Rejected {
				return fmt.Errorf("istiod rejected %s %s/%s generation %d: %s (fix: correct the AppMesh or the chart, then run the command again, or abort)", o.Kind, c.Namespace, o.Name, o.Generation, o.Status)
			}
			if o.Status != "" && pending == "" {
				pending = o.key() + ": " + o.Status
			}
		}
		if pending == "" {
			break
		}
		if err := pause(ctx, deadline, opts, "istiod to observe the app's routing objects", pending); err != nil {
			return err
		}
	}
	resumed := m == nil
	if resumed {
		// The step was applied by an earlier run (killed, or --no-wait):
		// which push carried it is not known. What can be told: istiod
		// holds the routing objects as they are, and every proxy
		// acknowledged all istiod sent it.
		m = &pushMark{objects: map[string]string{}, proxies: map[proxyKey]*markedProxy{}, passed: map[proxyKey]bool{}}
		if c.Istiod == nil {
			m.unknown = "no istiod debug endpoint was given"
		}
	}
	kinds := changedKinds(m.objects, versions(objs))
	if len(kinds) == 0 {
		fmt.Fprintf(opts.Progress, "  no routing object of the app changed: nothing for istiod to push\n")
		return nil
	}
	if m.unknown != "" {
		return settle(ctx, opts, "istiod cannot tell whether the proxies have it: "+m.unknown)
	}
	types := pushedTypes(kinds)
	what := "the changed"
	if resumed {
		what = "the app's"
	}
	scope := "that import the app's routing (any namespace)"
	if c.WaitNamespaceOnly {
		scope = "of namespace " + c.Namespace + " (only: WaitNamespaceOnly)"
	}
	if m.dumps > 0 {
		fmt.Fprintf(opts.Progress, "  waiting for the connected proxies %s to acknowledge istiod's push of %s %s (before the step: %d config dumps in %s)\n", scope, what, strings.Join(kinds, ", "), m.dumps, m.took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(opts.Progress, "  waiting for the connected proxies %s to acknowledge istiod's push of %s %s\n", scope, what, strings.Join(kinds, ", "))
	}
	app := appRoutingOf(objs, c.Namespace).with(m.app)
	var unchangedSince time.Time
	lastBehind, dumps, checks := "", 0, 0
	began := time.Now()
	for {
		n, err := c.proxiesHave(ctx, m, versions(objs), wantRoutes(objs), app, types)
		if err != nil {
			return settle(ctx, opts, "istiod cannot tell whether the proxies have it: "+err.Error())
		}
		checks++
		dumps += n.dumps
		cost := fmt.Sprintf("%d checks, %d config dumps, %s", checks, dumps, time.Since(began).Round(100*time.Millisecond))
		waiting := n.waiting()
		switch {
		case waiting == "" && n.waited == 0:
			return settle(ctx, opts, fmt.Sprintf("none of the %d proxies connected to istiod imports the app's routing, so it cannot tell", n.connected))
		case waiting == "" && resumed:
			fmt.Fprintf(opts.Progress, "  in effect as far as istiod can tell on a resumed run: it holds the routing objects and %s acknowledged all it sent (a push it has not begun yet cannot be seen; %s)\n", n.where(n.have), cost)
			return nil
		case waiting == "":
			fmt.Fprintf(opts.Progress, "  in effect: istiod holds the step and %s acknowledged a push that carries it (%s)\n", n.where(n.have), cost)
			return nil
		case n.istiodBehind == "" && n.have+n.unchanged == n.waited:
			// Every proxy acknowledged a push after the step, and for some
			// the routes (or routes and clusters) istiod last pushed do not
			// show it: the step changes none of theirs (another
			// VirtualService of theirs names its routes alike), or the push
			// that carries it is still to come. Only time tells these apart.
			if unchangedSince.IsZero() {
				unchangedSince = time.Now()
			}
			if time.Since(unchangedSince) >= max(opts.Settle, 0) {
				fmt.Fprintf(opts.Progress, "  in effect as far as istiod can tell: %s acknowledged a push after the step, but for %d of them what istiod last pushed did not show the step within the settle delay %s (%s; %s)\n", n.where(n.have+n.unchanged), n.unchanged, opts.Settle, waiting, cost)
				return nil
			}
		default:
			unchangedSince = time.Time{}
		}
		// Say who is behind when that changes, not at every poll.
		if behind := strings.Join(n.behind, "; "); behind != lastBehind && n.istiodBehind == "" {
			fmt.Fprintf(opts.Progress, "  %s\n", waiting)
			lastBehind = behind
		}
		if err := pause(ctx, deadline, opts, "the connected proxies "+scope+" to acknowledge the step", waiting); err != nil {
			return err
		}
	}
}

// pause waits one poll interval, or fails with a TimeoutError past the
// deadline (a condition name and what was seen last).
func pause(ctx context.Context, deadline time.Time, opts Options, what, last string) error {
	if time.Now().After(deadline) {
		return &TimeoutError{What: what, Last: last}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(opts.Interval):
		return nil
	}
}

// settle is the fallback when istiod cannot tell: the settle delay, said.
func settle(ctx context.Context, opts Options, why string) error {
	if opts.Settle <= 0 {
		fmt.Fprintf(opts.Progress, "  not waiting for the proxies: %s, and the settle delay is off\n", why)
		return nil
	}
	fmt.Fprintf(opts.Progress, "  waiting the settle delay %s for istiod to push it to the proxies: %s\n", opts.Settle, why)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(opts.Settle):
		return nil
	}
}
