package canary

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"istio.io/istio/pilot/pkg/xds"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	istiokube "istio.io/istio/pkg/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Whether the app's proxies have a step is istiod's to say. The pinned
// Istio no longer has `istioctl x wait` nor the config distribution
// tracking it read (PILOT_ENABLE_CONFIG_DISTRIBUTION_TRACKING, removed
// upstream), so the gate reads what istiod still serves on its debug
// endpoints (monitoring port 15014, as `istioctl proxy-status` does):
//
//   - /debug/configz: the config istiod's store holds, with each object's
//     resourceVersion. istiod has a step once it holds the app's routing
//     objects at the API server's resourceVersions.
//   - /debug/syncz: for every proxy connected to this istiod, per xDS
//     type, the nonce last sent and the nonce last acknowledged.
//     istiod's nonces start with the push version, "<time>/<counter>"
//     (pilot/pkg/xds NextVersion): the counter grows by one for every full
//     push, and a full push builds its PushContext from the store after it
//     took its counter.
//
// So a proxy has a step when, for each xDS type the step's objects feed
// (routes for VirtualServices and Gateway API routes, clusters for
// DestinationRules), it acknowledged what istiod last sent and that came
// from a full push with a counter above every counter istiod had sent
// before the step was applied (pushMark). The one push that can pass
// without the change is a full push istiod began before the apply and sent
// only after it: it takes milliseconds, the debounce (PILOT_DEBOUNCE_AFTER)
// comes before the counter, and a later push carries the change anyway.
//   - /debug/config_dump?types=rds&proxyID=ID: the routes istiod last
//     pushed to a proxy. They say which proxies import the app's routing
//     (appRouting: exportTo and Sidecar scoping decided it), in any
//     namespace: the gate waits for those, and only those, and checks that
//     their routes are the step's.

// Istiod reads istiod's debug endpoints.
type Istiod interface {
	// Debug GETs path ("/debug/syncz?namespace=shop") from every istiod
	// instance: instance name -> response body.
	Debug(ctx context.Context, path string) (map[string][]byte, error)
	// DebugOne GETs path from one instance (a name Debug returned).
	DebugOne(ctx context.Context, instance, path string) ([]byte, error)
}

// IstiodPods reaches every Running istiod pod (label app=istiod) of a
// namespace through the API server's port-forward, on its monitoring port,
// the way istioctl does (istio.io/istio/pkg/kube AllDiscoveryDo).
type IstiodPods struct {
	Client    istiokube.CLIClient
	Namespace string
}

// Debug implements Istiod.
func (p *IstiodPods) Debug(ctx context.Context, path string) (map[string][]byte, error) {
	out, err := p.Client.AllDiscoveryDo(ctx, p.Namespace, strings.TrimPrefix(path, "/"))
	if err != nil {
		return nil, fmt.Errorf("istiod in namespace %s: %w", p.Namespace, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no istiod in namespace %s answered %s", p.Namespace, path)
	}
	return out, nil
}

// DebugOne implements Istiod: instance is the istiod pod's name.
func (p *IstiodPods) DebugOne(ctx context.Context, instance, path string) ([]byte, error) {
	pod, err := p.Client.Kube().CoreV1().Pods(p.Namespace).Get(ctx, instance, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("istiod pod %s/%s: %w", p.Namespace, instance, err)
	}
	out, err := p.Client.EnvoyDoWithPort(ctx, instance, p.Namespace, http.MethodGet, path, istiokube.FindIstiodMonitoringPort(pod))
	if err != nil {
		return nil, fmt.Errorf("istiod pod %s/%s %s: %w", p.Namespace, instance, path, err)
	}
	return out, nil
}

// IstiodURL is one istiod's monitoring address as a URL
// ("http://127.0.0.1:15014", e.g. through `kubectl port-forward`).
type IstiodURL string

// Debug implements Istiod.
func (u IstiodURL) Debug(ctx context.Context, path string) (map[string][]byte, error) {
	body, err := u.DebugOne(ctx, string(u), path)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{string(u): body}, nil
}

// DebugOne implements Istiod; there is one instance.
func (u IstiodURL) DebugOne(ctx context.Context, _, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(string(u), "/")+path, nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("istiod %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("istiod %s%s: %w", u, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("istiod %s%s: %s: %s", u, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// pushMark is what a step's gate compares against: taken just before the
// step is applied.
type pushMark struct {
	// objects: the app's routing objects' resourceVersions.
	objects map[string]string
	// app: what shows a proxy imports them.
	app appRouting
	// counters: per istiod instance, the highest push counter it had sent
	// to any proxy.
	counters map[string]uint64
	// proxies: per proxy connected at the mark or seen since
	// (instance/proxy ID), whether it imports the app's routing and what
	// istiod had pushed to it at the mark.
	proxies map[proxyKey]*markedProxy
	// passed: proxies seen to have the step (proxiesHave).
	passed map[proxyKey]bool
	// unknown says why istiod cannot tell (not reachable, no Istiod given).
	unknown string
	// took: how long reading what istiod pushed to the proxies took at
	// the mark, and how many config dumps that was (for the progress).
	took  time.Duration
	dumps int
}

// proxyKey names one proxy's connection: the istiod instance and the
// proxy's ID there.
type proxyKey struct{ inst, id string }

// markedProxy is what the gate knows of one proxy.
type markedProxy struct {
	// decided: imports was read from the routes istiod pushed to it.
	decided bool
	// imports: those routes send to one of the app's hosts (or name one
	// as a virtual host): Istio's exportTo and the proxy's Sidecar let it
	// import the app's Services and routes, so the step changes its
	// routing and the gate waits for it. A proxy that does not import
	// them gets no push for the app's objects: the gate does not wait.
	imports bool
	// config: a fingerprint of the routes and clusters istiod had pushed
	// to it at the mark ("" for a proxy first seen after the mark).
	config string
}

// dumpConcurrency bounds the config dumps the gate asks istiod for at
// once: each one makes istiod regenerate a proxy's routes (and clusters).
const dumpConcurrency = 8

// markPush records the state a step's push is compared with: one
// /debug/syncz for every connected proxy (per istiod instance), then for
// each proxy one config dump (dumpConcurrency at once) that says whether
// it imports the app's hosts and fingerprints its routes and clusters.
func (c *Cluster) markPush(ctx context.Context) (*pushMark, error) {
	objs, err := c.routingObjects(ctx)
	if err != nil {
		return nil, err
	}
	m := &pushMark{objects: versions(objs), proxies: map[proxyKey]*markedProxy{}, passed: map[proxyKey]bool{}}
	if c.Istiod == nil {
		m.unknown = "no istiod debug endpoint was given"
		return m, nil
	}
	syncs, err := c.syncz(ctx, "")
	if err != nil {
		m.unknown = err.Error()
		return m, nil
	}
	m.app, m.counters = appRoutingOf(objs, c.Namespace), map[string]uint64{}
	var keys []proxyKey
	for inst, proxies := range syncs {
		m.counters[inst] = 0
		for _, p := range proxies {
			for _, r := range p.Resources {
				m.counters[inst] = max(m.counters[inst], pushCounter(r.Sent))
			}
			if c.WaitNamespaceOnly && proxyNamespace(p.ProxyID) != c.Namespace {
				continue
			}
			key := proxyKey{inst, p.ProxyID}
			m.proxies[key] = &markedProxy{}
			keys = append(keys, key)
		}
	}
	began := time.Now()
	err = forEach(len(keys), func(i int) error {
		inst, id := keys[i].inst, keys[i].id
		mp := m.proxies[keys[i]]
		body, err := c.Istiod.DebugOne(ctx, inst, "/debug/config_dump?types=rds,cds&proxyID="+url.QueryEscape(id))
		if err != nil {
			return err
		}
		if mp.config, err = configFingerprint(body); err != nil {
			return fmt.Errorf("istiod %s /debug/config_dump of %s: %w", inst, id, err)
		}
		// The app's routing before the step: a step changes subsets and
		// weights, not which Services the app routes nor its routes'
		// names. An app without routing objects yet is decided after the
		// step.
		if !m.app.empty() {
			_, seen, err := parseRoutes(body)
			if err != nil {
				return fmt.Errorf("istiod %s /debug/config_dump of %s: %w", inst, id, err)
			}
			mp.decided, mp.imports = true, m.app.importedBy(seen) || c.WaitNamespaceOnly
		}
		return nil
	})
	m.took, m.dumps = time.Since(began), len(keys)
	if err != nil {
		m.unknown = err.Error()
	}
	return m, nil
}

// forEach runs f(0) ... f(n-1), dumpConcurrency at a time, and returns the
// first error.
func forEach(n int, f func(i int) error) error {
	sem := make(chan struct{}, dumpConcurrency)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// configFingerprint is a fingerprint of the routes and clusters in a
// /debug/config_dump?types=rds,cds body, which istiod regenerates from the
// PushContext of the proxy's last push (conn.proxy.LastPushContext). A
// step that changes the app's routing changes it once the push that
// carries the step reached the proxy; no push counter can tell that apart
// from a push istiod began just before it received the step.
func configFingerprint(body []byte) (string, error) {
	var dump struct {
		Configs []any `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		return "", err
	}
	// Re-encoded with sorted keys, in a fixed order: istiod lists a
	// proxy's resources in no particular order.
	parts := make([]string, 0, len(dump.Configs))
	for _, cfg := range dump.Configs {
		b, err := json.Marshal(cfg)
		if err != nil {
			return "", err
		}
		parts = append(parts, string(b))
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:]), nil
}

// pushedConfig is configFingerprint of what istiod last pushed to a proxy.
func (c *Cluster) pushedConfig(ctx context.Context, inst, proxyID string) (string, error) {
	body, err := c.Istiod.DebugOne(ctx, inst, "/debug/config_dump?types=rds,cds&proxyID="+url.QueryEscape(proxyID))
	if err != nil {
		return "", err
	}
	fp, err := configFingerprint(body)
	if err != nil {
		return "", fmt.Errorf("istiod %s /debug/config_dump of %s: %w", inst, proxyID, err)
	}
	return fp, nil
}

// syncz reads /debug/syncz of every istiod, for the proxies of namespace
// ns ("" for all).
func (c *Cluster) syncz(ctx context.Context, ns string) (map[string][]xds.SyncStatus, error) {
	path := "/debug/syncz"
	if ns != "" {
		path += "?namespace=" + ns
	}
	bodies, err := c.Istiod.Debug(ctx, path)
	if err != nil {
		return nil, err
	}
	out := map[string][]xds.SyncStatus{}
	for inst, body := range bodies {
		var s []xds.SyncStatus
		if err := json.Unmarshal(body, &s); err != nil {
			return nil, fmt.Errorf("istiod %s /debug/syncz: %w", inst, err)
		}
		out[inst] = s
	}
	return out, nil
}

// configz reads /debug/configz of every istiod: instance -> kind/name ->
// resourceVersion, for the app's namespace.
func (c *Cluster) configz(ctx context.Context) (map[string]map[string]string, error) {
	bodies, err := c.Istiod.Debug(ctx, "/debug/configz")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for inst, body := range bodies {
		var cfgs []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name            string `json:"name"`
				Namespace       string `json:"namespace"`
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(body, &cfgs); err != nil {
			return nil, fmt.Errorf("istiod %s /debug/configz: %w", inst, err)
		}
		out[inst] = map[string]string{}
		for _, cfg := range cfgs {
			if cfg.Metadata.Namespace == c.Namespace {
				out[inst][cfg.Kind+"/"+cfg.Metadata.Name] = cfg.Metadata.ResourceVersion
			}
		}
	}
	return out, nil
}

// proxyName is "namespace/name" of an Istio proxy ID: the ID istiod's
// /debug/syncz lists ("web-1.shop") or the whole node ID a proxy sends
// ("sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local"); the ID itself
// when it is neither. A namespace has no dot; a pod's name may.
func proxyName(id string) string {
	short := id
	if parts := strings.Split(id, "~"); len(parts) >= 4 {
		short = parts[2]
	}
	i := strings.LastIndexByte(short, '.')
	if i <= 0 || i == len(short)-1 {
		return id
	}
	return short[i+1:] + "/" + short[:i]
}

// proxyNamespace is the namespace of an Istio proxy ID (proxyName); ""
// when it names none.
func proxyNamespace(id string) string {
	name := proxyName(id)
	if name == id {
		return ""
	}
	ns, _, _ := strings.Cut(name, "/")
	return ns
}

// pushCounter is the counter of the push version a nonce starts with
// ("2026-12-07T05:00:00Z/12" + a 36-character UUID); 0 for none.
func pushCounter(nonce string) uint64 {
	const uuidLen = 36
	if len(nonce) <= uuidLen {
		return 0
	}
	version := nonce[:len(nonce)-uuidLen]
	i := strings.LastIndexByte(version, '/')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseUint(version[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// pushedTypes are the xDS types a change of these kinds is pushed in.
func pushedTypes(kinds []string) []string {
	var out []string
	for _, k := range kinds {
		t := v3.RouteType
		if k == kindDestinationRule {
			t = v3.ClusterType
		}
		if !strings.Contains(strings.Join(out, " "), t) {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// proxiesHave checks, once, whether istiod holds the objects at the
// versions of want and every connected proxy that imports the app's
// routing (app) has the step: it acknowledged a push of types newer than the mark, and
// the routes istiod last pushed to it route as the step says (routes), or,
// for a step that changed no named route, its routes and clusters differ
// from those it had at the mark. One /debug/syncz per istiod instance says
// which proxies acknowledged what; a config dump is read only for a proxy
// not yet decided (connected after the mark) and for one whose
// acknowledgements passed the mark, dumpConcurrency at a time.
func (c *Cluster) proxiesHave(ctx context.Context, m *pushMark, want map[string]string, routes map[string]routeTargets, app appRouting, types []string) (proxyCount, error) {
	stores, err := c.configz(ctx)
	if err != nil {
		return proxyCount{}, err
	}
	for inst, store := range stores {
		for k, rv := range want {
			// Gateway API routes are not in istiod's config store under
			// their own kind; their status says istiod observed them.
			kind := strings.SplitN(k, "/", 2)[0]
			if kind != kindVirtualService && kind != kindDestinationRule {
				continue
			}
			if store[k] != rv {
				return proxyCount{istiodBehind: fmt.Sprintf("istiod %s holds %s at resourceVersion %q, the API server at %q", inst, k, store[k], rv)}, nil
			}
		}
	}
	ns := ""
	if c.WaitNamespaceOnly {
		ns = c.Namespace
	}
	syncs, err := c.syncz(ctx, ns)
	if err != nil {
		return proxyCount{}, err
	}
	// One check per proxy not passed yet; those that need a config dump
	// run dumpConcurrency at a time.
	type check struct {
		inst  string
		p     xds.SyncStatus
		mp    *markedProxy
		lag   string // proxyLag
		state proxyState
		why   string
	}
	var n proxyCount
	var checks []*check
	for inst, proxies := range syncs {
		mark, known := m.counters[inst]
		for _, p := range proxies {
			n.connected++
			key := proxyKey{inst, p.ProxyID}
			if m.passed[key] {
				n.add(p.ProxyID, proxyHas, "")
				continue
			}
			mp := m.proxies[key]
			if mp == nil {
				mp = &markedProxy{}
				m.proxies[key] = mp
			}
			if mp.decided && !mp.imports {
				continue
			}
			checks = append(checks, &check{inst: inst, p: p, mp: mp, lag: proxyLag(p, types, mark, known)})
		}
	}
	var mu sync.Mutex
	dumped := func() { mu.Lock(); n.dumps++; mu.Unlock() }
	err = forEach(len(checks), func(i int) error {
		ch := checks[i]
		if ch.mp.decided && ch.lag != "" {
			ch.state, ch.why = proxyBehind, ch.lag
			return nil
		}
		if !ch.mp.decided || len(routes) > 0 {
			dumped()
			got, seen, err := c.pushedRoutes(ctx, ch.inst, ch.p.ProxyID)
			if err != nil {
				return err
			}
			if !ch.mp.decided {
				ch.mp.decided, ch.mp.imports = true, app.importedBy(seen) || c.WaitNamespaceOnly
			}
			switch {
			case !ch.mp.imports:
				return nil
			case ch.lag != "":
				ch.state, ch.why = proxyBehind, ch.lag
				return nil
			case len(routes) > 0:
				// The step changed VirtualServices: the routes istiod last
				// pushed to the proxy must route as they say.
				if ch.why = routesDiffer(routes, got); ch.why != "" {
					ch.state = proxyUnchanged
				}
				return nil
			}
		}
		if ch.lag != "" {
			ch.state, ch.why = proxyBehind, ch.lag
			return nil
		}
		if ch.mp.config != "" {
			dumped()
			now, err := c.pushedConfig(ctx, ch.inst, ch.p.ProxyID)
			if err != nil {
				return err
			}
			if now == ch.mp.config {
				ch.state, ch.why = proxyUnchanged, "the routes and clusters istiod last pushed to it are still those before the step"
			}
		}
		return nil
	})
	if err != nil {
		return proxyCount{}, err
	}
	for _, ch := range checks {
		if !ch.mp.imports {
			continue
		}
		if ch.state == proxyHas {
			m.passed[proxyKey{ch.inst, ch.p.ProxyID}] = true
		}
		n.add(ch.p.ProxyID, ch.state, ch.why)
	}
	sort.Strings(n.behind)
	return n, nil
}

// proxyState is where one proxy the gate waits for is.
type proxyState int

const (
	proxyHas       proxyState = iota // it has the step
	proxyBehind                      // it has not acknowledged a push after the step
	proxyUnchanged                   // it acknowledged one, but what istiod pushed does not show the step (yet)
)

// proxyCount is what one check of the proxies found.
type proxyCount struct {
	// connected: proxies connected to istiod (all namespaces; only the
	// app's with WaitNamespaceOnly).
	connected int
	// waited: those the gate waits for (they import the app's routing), of
	// which have have the step and unchanged acknowledged a push after it
	// whose routes and clusters do not show it (yet).
	waited, have, unchanged int
	// namespaces of the proxies waited for.
	namespaces map[string]bool
	// behind: "namespace/name: why" of each proxy waited for that does not
	// have the step yet, sorted.
	behind []string
	// dumps: config dumps this check read.
	dumps int
	// istiodBehind says which object istiod does not hold at the API
	// server's version yet ("" when it holds them all; else no proxy was
	// checked).
	istiodBehind string
}

func (n *proxyCount) add(id string, st proxyState, why string) {
	n.waited++
	if n.namespaces == nil {
		n.namespaces = map[string]bool{}
	}
	n.namespaces[proxyNamespace(id)] = true
	switch st {
	case proxyHas:
		n.have++
		return
	case proxyUnchanged:
		n.unchanged++
	}
	n.behind = append(n.behind, proxyName(id)+": "+why)
}

// waiting says what the gate still waits for ("" for nothing), naming at
// most three proxies.
func (n proxyCount) waiting() string {
	if n.istiodBehind != "" {
		return n.istiodBehind
	}
	if len(n.behind) == 0 {
		return ""
	}
	const show = 3
	s := fmt.Sprintf("%d/%d proxies have it; behind: %s", n.have, n.waited, strings.Join(n.behind[:min(show, len(n.behind))], "; "))
	if len(n.behind) > show {
		s += fmt.Sprintf("; and %d more", len(n.behind)-show)
	}
	return s
}

// where names the proxies waited for: "2/2 proxies that import the app's
// routing (namespaces front, shop; 1 other connected proxy does not)".
func (n proxyCount) where(count int) string {
	s := fmt.Sprintf("%d/%d proxies that import the app's routing (namespace%s %s", count, n.waited, plural(len(n.namespaces)), strings.Join(slices.Sorted(maps.Keys(n.namespaces)), ", "))
	switch other := n.connected - n.waited; other {
	case 0:
		return s + ")"
	case 1:
		return s + "; 1 other connected proxy does not)"
	default:
		return s + fmt.Sprintf("; %d other connected proxies do not)", other)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// proxyLag says what a proxy still lacks ("" when it has the push): every
// watched type acknowledged without error, and each of types (when
// watched) from a full push after mark. An istiod instance that did not
// answer at the mark (known false) may have pushed the change already: any
// acknowledged push of it counts.
func proxyLag(p xds.SyncStatus, types []string, mark uint64, known bool) string {
	for t, r := range p.Resources {
		if r.LastError != "" {
			return fmt.Sprintf("rejected %s: %s", v3.GetShortType(t), r.LastError)
		}
	}
	for _, t := range types {
		r, ok := p.Resources[t]
		if !ok {
			continue // not watched (e.g. a proxy without HTTP routes)
		}
		if r.Acked != r.Sent {
			return fmt.Sprintf("%s sent in push %d, acknowledged push %d", v3.GetShortType(t), pushCounter(r.Sent), pushCounter(r.Acked))
		}
		if known && pushCounter(r.Acked) <= mark {
			return fmt.Sprintf("%s acknowledged push %d, the step needs a push after %d", v3.GetShortType(t), pushCounter(r.Acked), mark)
		}
	}
	return ""
}

// routeTargets are the destinations of one HTTP route: "subset|host" ->
// weight, those with weight 0 left out ("" subset: the Service host).
type routeTargets map[string]uint32

// pushedRoutes reads the HTTP routes istiod last pushed to a proxy
// (/debug/config_dump?types=rds, regenerated from the PushContext of its
// last push): see parseRoutes.
func (c *Cluster) pushedRoutes(ctx context.Context, inst, proxyID string) (map[string][]routeTargets, pushedHosts, error) {
	body, err := c.Istiod.DebugOne(ctx, inst, "/debug/config_dump?types=rds&proxyID="+url.QueryEscape(proxyID))
	if err != nil {
		return nil, pushedHosts{}, err
	}
	routes, hosts, err := parseRoutes(body)
	if err != nil {
		return nil, pushedHosts{}, fmt.Errorf("istiod %s /debug/config_dump of %s: %w", inst, proxyID, err)
	}
	return routes, hosts, nil
}

// pushedHosts are the hosts (hostKey) a proxy's pushed routes serve (the
// virtual hosts' domains) or send to (the clusters' hosts).
type pushedHosts struct {
	// all: every such host.
	all map[string]bool
	// byRoute: per route name, the hosts of the routes of that name (its
	// virtual host's and its clusters'). Every app's VirtualService may
	// name its routes alike ("http-web"); a name counts with its host.
	byRoute map[string]map[string]bool
}

// parseRoutes reads the route configurations of a config dump: route name
// -> its destinations, from the Istio cluster names
// "outbound|<port>|<subset>|<host>"; and the hosts they serve and route to.
// Other resources (clusters) are skipped.
func parseRoutes(body []byte) (map[string][]routeTargets, pushedHosts, error) {
	var dump struct {
		Configs []struct {
			VirtualHosts []struct {
				Domains []string `json:"domains"`
				Routes  []struct {
					Name  string `json:"name"`
					Route struct {
						Cluster          string `json:"cluster"`
						WeightedClusters struct {
							Clusters []struct {
								Name   string `json:"name"`
								Weight uint32 `json:"weight"`
							} `json:"clusters"`
						} `json:"weightedClusters"`
					} `json:"route"`
				} `json:"routes"`
			} `json:"virtualHosts"`
		} `json:"configs"`
	}
	hosts := pushedHosts{all: map[string]bool{}, byRoute: map[string]map[string]bool{}}
	if err := json.Unmarshal(body, &dump); err != nil {
		return nil, hosts, err
	}
	out := map[string][]routeTargets{}
	for _, rc := range dump.Configs {
		for _, vh := range rc.VirtualHosts {
			domains := map[string]bool{}
			for _, d := range vh.Domains {
				domains[hostKey(d, "")] = true
			}
			maps.Copy(hosts.all, domains)
			for _, r := range vh.Routes {
				named := maps.Clone(domains)
				target := func(cluster string) string {
					parts := strings.Split(cluster, "|")
					if len(parts) != 4 {
						return cluster
					}
					named[hostKey(parts[3], "")] = true
					return parts[2] + "|" + parts[3]
				}
				t := routeTargets{}
				if r.Route.Cluster != "" {
					t[target(r.Route.Cluster)] = 100
				}
				for _, wc := range r.Route.WeightedClusters.Clusters {
					if wc.Weight > 0 {
						t[target(wc.Name)] = wc.Weight
					}
				}
				maps.Copy(hosts.all, named)
				if r.Name != "" {
					out[r.Name] = append(out[r.Name], t)
					if hosts.byRoute[r.Name] == nil {
						hosts.byRoute[r.Name] = map[string]bool{}
					}
					maps.Copy(hosts.byRoute[r.Name], named)
				}
			}
		}
	}
	return out, hosts, nil
}

// hostKey names a host the same whatever form it is written in: a
// Kubernetes Service host is "name.namespace" ("web" in namespace ns,
// "web.shop", "web.shop.svc.cluster.local" in any cluster domain, with or
// without ":port"); any other host is itself, lower-cased, without port.
func hostKey(host, ns string) string {
	host = strings.ToLower(host)
	if h, port, ok := strings.Cut(host, ":"); ok && !strings.Contains(port, ":") {
		host = h
	}
	if before, _, ok := strings.Cut(host, ".svc."); ok {
		return before
	}
	if !strings.Contains(host, ".") && ns != "" {
		return host + "." + ns
	}
	return host
}

// appRouting is what shows that a proxy imports the app's routing
// objects: Istio's exportTo and the proxy's Sidecar decide, and what istiod
// pushed to the proxy shows it.
type appRouting struct {
	// routes: the names of the app's VirtualServices' HTTP routes. A
	// proxy that imports a VirtualService has its named routes; one that
	// imports only the Service (exportTo) has the Service's default route,
	// gets no push for the VirtualService, and is not waited for.
	routes map[string]bool
	// hosts: the hosts the app's routing objects route (hostKey). Used
	// when the app has no named route (Gateway API routes): a proxy whose
	// routes show one of them imports the app's routing.
	hosts map[string]bool
}

// appRoutingOf is the appRouting of the app's routing objects: the
// VirtualServices' hosts, destinations and named routes, the
// DestinationRules' hosts, the Gateway API routes' Service parents and
// backends.
func appRoutingOf(objs []routingObject, ns string) appRouting {
	a := appRouting{routes: map[string]bool{}, hosts: map[string]bool{}}
	for _, o := range objs {
		for _, h := range o.Hosts {
			a.hosts[hostKey(h, ns)] = true
		}
		for name := range o.Routes {
			a.routes[name] = true
		}
	}
	return a
}

// with is a and b together.
func (a appRouting) with(b appRouting) appRouting {
	out := appRouting{routes: maps.Clone(a.routes), hosts: maps.Clone(a.hosts)}
	if out.routes == nil {
		out.routes = map[string]bool{}
	}
	if out.hosts == nil {
		out.hosts = map[string]bool{}
	}
	maps.Copy(out.routes, b.routes)
	maps.Copy(out.hosts, b.hosts)
	return out
}

func (a appRouting) empty() bool { return len(a.routes) == 0 && len(a.hosts) == 0 }

// importedBy: the routes istiod pushed to a proxy show that it imports
// the app's routing: a route named as one of the app's VirtualServices'
// routes, for one of the app's hosts; for an app without named routes, any
// route for one of its hosts.
func (a appRouting) importedBy(seen pushedHosts) bool {
	if len(a.routes) > 0 {
		for name := range a.routes {
			for h := range seen.byRoute[name] {
				if a.hosts[h] {
					return true
				}
			}
		}
		return false
	}
	for h := range a.hosts {
		if seen.all[h] {
			return true
		}
	}
	return false
}

// routesDiffer says how the pushed routes differ from the wanted ones (""
// when every wanted route is there, routing as wanted, on every port).
func routesDiffer(want map[string]routeTargets, got map[string][]routeTargets) string {
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if len(got[name]) == 0 {
			return fmt.Sprintf("its routes have no route %q yet", name)
		}
		for _, g := range got[name] {
			if !maps.Equal(g, want[name]) {
				return fmt.Sprintf("its route %q sends to %v, the step to %v", name, g, want[name])
			}
		}
	}
	return ""
}
