package canary

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
//   - /debug/syncz?namespace=NS: for every proxy connected to this istiod,
//     per xDS type, the nonce last sent and the nonce last acknowledged.
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
	// counters: per istiod instance, the highest push counter it had sent
	// to any proxy.
	counters map[string]uint64
	// configs: per proxy of the app's namespace (instance/proxy ID), a
	// fingerprint of the routes and clusters istiod last pushed to it.
	configs map[string]string
	// passed: proxies seen to have the step (proxiesHave).
	passed map[string]bool
	// unknown says why istiod cannot tell (not reachable, no Istiod given).
	unknown string
}

// markPush records the state a step's push is compared with.
func (c *Cluster) markPush(ctx context.Context) (*pushMark, error) {
	objs, err := c.routingObjects(ctx)
	if err != nil {
		return nil, err
	}
	m := &pushMark{objects: versions(objs)}
	if c.Istiod == nil {
		m.unknown = "no istiod debug endpoint was given"
		return m, nil
	}
	syncs, err := c.syncz(ctx, "")
	if err != nil {
		m.unknown = err.Error()
		return m, nil
	}
	m.counters, m.configs = map[string]uint64{}, map[string]string{}
	for inst, proxies := range syncs {
		m.counters[inst] = 0
		for _, p := range proxies {
			for _, r := range p.Resources {
				m.counters[inst] = max(m.counters[inst], pushCounter(r.Sent))
			}
			if proxyNamespace(p.ProxyID) != c.Namespace {
				continue
			}
			fp, err := c.pushedConfig(ctx, inst, p.ProxyID)
			if err != nil {
				m.unknown = err.Error()
				return m, nil
			}
			m.configs[inst+"/"+p.ProxyID] = fp
		}
	}
	return m, nil
}

// pushedConfig is a fingerprint of the routes and clusters istiod last
// pushed to a proxy: /debug/config_dump?types=rds,cds regenerates them from
// the PushContext of the proxy's last push (conn.proxy.LastPushContext).
// A step that changes the app's routing changes it once the push that
// carries the step reached the proxy; no push counter can tell that apart
// from a push istiod began just before it received the step.
func (c *Cluster) pushedConfig(ctx context.Context, inst, proxyID string) (string, error) {
	body, err := c.Istiod.DebugOne(ctx, inst, "/debug/config_dump?types=rds,cds&proxyID="+url.QueryEscape(proxyID))
	if err != nil {
		return "", err
	}
	var dump struct {
		Configs []any `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		return "", fmt.Errorf("istiod %s /debug/config_dump of %s: %w", inst, proxyID, err)
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

// proxyNamespace is the namespace in an Istio proxy ID
// ("sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local").
func proxyNamespace(id string) string {
	parts := strings.Split(id, "~")
	if len(parts) < 4 {
		return ""
	}
	ns, _, _ := strings.Cut(parts[3], ".")
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
// versions of want and every proxy of the app's namespace has the step:
// it acknowledged a push of types newer than the mark, and the routes and
// clusters of that push differ from those it had at the mark. It counts
// the proxies and says what it is waiting for ("" for nothing).
func (c *Cluster) proxiesHave(ctx context.Context, m *pushMark, want map[string]string, routes map[string]routeTargets, types []string) (n proxyCount, waiting string, err error) {
	if m.passed == nil {
		m.passed = map[string]bool{}
	}
	stores, err := c.configz(ctx)
	if err != nil {
		return proxyCount{}, "", err
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
				return proxyCount{}, fmt.Sprintf("istiod %s holds %s at resourceVersion %q, the API server at %q", inst, k, store[k], rv), nil
			}
		}
	}
	syncs, err := c.syncz(ctx, c.Namespace)
	if err != nil {
		return proxyCount{}, "", err
	}
	for inst, proxies := range syncs {
		mark, known := m.counters[inst]
		for _, p := range proxies {
			n.total++
			key := inst + "/" + p.ProxyID
			if m.passed[key] {
				n.have++
				continue
			}
			why := proxyLag(p, types, mark, known)
			if why == "" && len(routes) > 0 {
				// The step changed VirtualServices: the routes istiod last
				// pushed to the proxy must route as they say.
				got, err := c.pushedRoutes(ctx, inst, p.ProxyID)
				if err != nil {
					return proxyCount{}, "", err
				}
				if why = routesDiffer(routes, got); why != "" {
					n.unchanged++
				}
			} else if why == "" {
				if before, ok := m.configs[key]; ok {
					now, err := c.pushedConfig(ctx, inst, p.ProxyID)
					if err != nil {
						return proxyCount{}, "", err
					}
					if now == before {
						n.unchanged++
						why = "the routes and clusters istiod last pushed to it are still those before the step"
					}
				}
			}
			if why == "" {
				m.passed[key] = true
				n.have++
			} else if waiting == "" {
				waiting = "proxy " + p.ProxyID + " (istiod " + inst + "): " + why
			}
		}
	}
	return n, waiting, nil
}

// proxyCount counts the proxies of the app's namespace: connected, that
// have the step, and that acknowledged a push after the step whose routes
// and clusters did not change (yet).
type proxyCount struct{ total, have, unchanged int }

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
// last push): route name -> its destinations, from the Istio cluster
// names "outbound|<port>|<subset>|<host>".
func (c *Cluster) pushedRoutes(ctx context.Context, inst, proxyID string) (map[string][]routeTargets, error) {
	body, err := c.Istiod.DebugOne(ctx, inst, "/debug/config_dump?types=rds&proxyID="+url.QueryEscape(proxyID))
	if err != nil {
		return nil, err
	}
	var dump struct {
		Configs []struct {
			VirtualHosts []struct {
				Routes []struct {
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
	if err := json.Unmarshal(body, &dump); err != nil {
		return nil, fmt.Errorf("istiod %s /debug/config_dump of %s: %w", inst, proxyID, err)
	}
	target := func(cluster string) string {
		parts := strings.Split(cluster, "|")
		if len(parts) != 4 {
			return cluster
		}
		return parts[2] + "|" + parts[3]
	}
	out := map[string][]routeTargets{}
	for _, rc := range dump.Configs {
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				if r.Name == "" {
					continue
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
				out[r.Name] = append(out[r.Name], t)
			}
		}
	}
	return out, nil
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
