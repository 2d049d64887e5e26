package dataplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// VersionLabel is the pod label a server answers with, the label Istio's
// DestinationRule subsets and meshbundle's canaries select versions by.
const VersionLabel = "version"

// sidecarContainer is istiod's injected proxy: nothing of the app listens on
// its ports, and no Envoy runs here.
const sidecarContainer = "istio-proxy"

// DefaultDrain is how long a going pod's server keeps serving: the time an
// app keeps answering after Kubernetes starts terminating its pod (its
// grace period), during which the mesh learns the endpoint is gone.
const DefaultDrain = 3 * time.Second

// Servers runs a server for every Ready pod of one namespace, on the pod's
// IP and declared container ports, answering with the pod's version label.
// It watches pods (an informer): a server starts when its pod is Ready with
// an IP and stops Drain after the pod stops being Ready or is deleted.
type Servers struct {
	namespace string
	drain     time.Duration

	mu      sync.Mutex
	running map[types.UID]*podServer
	going   sync.WaitGroup
	errs    []error // listen failures, reported by Err
	stopCh  chan struct{}

	// evMu guards events only. It is taken last, never held while taking
	// another lock: a new pod's server records the cut-short stop of
	// another Servers' pod server (ipOwners).
	evMu   sync.Mutex
	events []ServerEvent
}

// ipOwners holds the pod server listening on each pod IP, across every
// Servers of the process. Pod IPs are the cluster's, not a namespace's: kwok
// hands a freed IP to the next new pod in any namespace, and every Servers
// of a test binary listens in its one network namespace. So a test with two
// namespaces served at once (TestSlowPush's control run and its gated run)
// sees one namespace's new pod given the IP another namespace's going pod is
// still draining on; with the ownership kept per Servers, the new pod's
// listen failed with "address already in use".
//
// The API server's word decides: kwok gives an IP to a new pod only once the
// pod that had it is gone (or, under testcluster's WithPodTermination, once
// its termination ended), so the new pod's server takes the IP over. A going
// pod's server keeps its entry until its listeners are closed, so a new
// pod's server never binds while the old one still listens.
var ipOwners = struct {
	sync.Mutex
	m map[string]*podServer
}{m: map[string]*podServer{}}

// ServerEvent is one start or stop of a pod's server, for reading
// failed requests against what the servers did (Servers.Events).
type ServerEvent struct {
	At  time.Time
	Pod Identity
	IP  string
	// What happened: "serving", "draining" (the pod is going; still
	// serving), "stopped" (drained), "stopped: IP reused by <pod>",
	// "listen failed: <err>".
	What string
	// CutShort: a new pod was given the IP while this one drained, and its
	// server stopped before the drain ended (see WithPodTermination in
	// ci/testcluster).
	CutShort bool
}

func (e ServerEvent) String() string {
	return fmt.Sprintf("%s %s %s %s", e.At.Format("15:04:05.000"), e.Pod.Pod, e.IP, e.What)
}

// maxEvents bounds Servers.Events.
const maxEvents = 10000

// event records one server event.
func (s *Servers) event(e ServerEvent) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if len(s.events) < maxEvents {
		e.At = time.Now()
		s.events = append(s.events, e)
	}
}

// Events lists what the servers did, in order.
func (s *Servers) Events() []ServerEvent {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	return slices.Clone(s.events)
}

// StartServers watches the pods of namespace and serves every Ready one until
// Stop. drain 0 means DefaultDrain. It returns once the current pods are
// served (the informer has synced).
func StartServers(ctx context.Context, cfg *rest.Config, namespace string, drain time.Duration) (*Servers, error) {
	if drain == 0 {
		drain = DefaultDrain
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dataplane: client for pods of namespace %s: %w", namespace, err)
	}
	s := newServers(namespace, drain)
	factory := informers.NewSharedInformerFactoryWithOptions(kc, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.sync(obj, false) },
		UpdateFunc: func(_, obj any) { s.sync(obj, false) },
		DeleteFunc: func(obj any) { s.sync(obj, true) },
	}); err != nil {
		return nil, fmt.Errorf("dataplane: watch pods of namespace %s: %w", namespace, err)
	}
	factory.Start(s.stopCh)
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(wait.Done(), inf.HasSynced) {
		s.Stop()
		return nil, fmt.Errorf("dataplane: list pods of namespace %s: informer not synced in 30s", namespace)
	}
	return s, nil
}

func newServers(namespace string, drain time.Duration) *Servers {
	return &Servers{namespace: namespace, drain: drain, running: map[types.UID]*podServer{}, stopCh: make(chan struct{})}
}

// sync starts or stops the server of one pod to match its state; gone is
// true when the pod was deleted.
func (s *Servers) sync(obj any, gone bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	id := Identity{Namespace: pod.Namespace, Pod: pod.Name, Version: pod.Labels[VersionLabel]}
	want := !gone && pod.DeletionTimestamp == nil && pod.Status.PodIP != "" && podReady(pod)

	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopCh:
		return
	default:
	}
	cur := s.running[pod.UID]
	if cur != nil && (!want || cur.id != id || cur.ip != pod.Status.PodIP) {
		delete(s.running, pod.UID)
		s.retire(cur)
		cur = nil
	}
	if want && cur == nil {
		p, err := s.serve(id, pod.Status.PodIP, containerPorts(pod))
		if err != nil {
			s.errs = append(s.errs, err)
			s.event(ServerEvent{Pod: id, IP: pod.Status.PodIP, What: "listen failed: " + err.Error()})
			return
		}
		s.running[pod.UID] = p
		s.event(ServerEvent{Pod: id, IP: p.ip, What: "serving"})
	}
}

// serve starts the server of pod id on ip. A server still holding ip, this
// Servers' or another namespace's, is stopped first and its listeners
// closed: the pod that had the IP is gone, since kwok gave the IP to this
// one (ipOwners).
func (s *Servers) serve(id Identity, ip string, ports []int32) (*podServer, error) {
	ipOwners.Lock()
	defer ipOwners.Unlock()
	if old := ipOwners.m[ip]; old != nil {
		delete(ipOwners.m, ip)
		// Cut short: stopped while it served, or before its drain ended.
		cut := old.drainEnds.IsZero() || time.Now().Before(old.drainEnds)
		old.stop(0) // returns once its listeners are closed
		old.owner.event(ServerEvent{Pod: old.id, IP: old.ip, What: "stopped: IP reused by " + id.Namespace + "/" + id.Pod, CutShort: cut})
	}
	p, err := startPodServer(id, ip, ports)
	if err != nil {
		return nil, err
	}
	p.owner = s
	ipOwners.m[ip] = p
	return p, nil
}

// release stops p, then gives up its IP unless a new pod's server took it
// over; it says whether p still held the IP.
func release(p *podServer, grace time.Duration) bool {
	p.stop(grace) // listeners closed before the IP is free for the next pod
	ipOwners.Lock()
	defer ipOwners.Unlock()
	if ipOwners.m[p.ip] != p {
		return false
	}
	delete(ipOwners.m, p.ip)
	return true
}

// retire keeps a going pod's server serving for the drain time, then stops
// it. Called with s.mu held.
func (s *Servers) retire(p *podServer) {
	ipOwners.Lock()
	p.drainEnds = time.Now().Add(s.drain)
	ipOwners.Unlock()
	s.event(ServerEvent{Pod: p.id, IP: p.ip, What: "draining"})
	s.going.Add(1)
	go func() {
		defer s.going.Done()
		select {
		case <-time.After(s.drain):
		case <-s.stopCh:
		}
		// At once if a new pod's server took the IP meanwhile: that one
		// recorded the stop.
		if release(p, time.Second) {
			s.event(ServerEvent{Pod: p.id, IP: p.ip, What: "stopped"})
		}
	}()
}

// Serving lists the pods served right now.
func (s *Servers) Serving() []Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Identity
	for _, p := range s.running {
		out = append(out, p.id)
	}
	slices.SortFunc(out, func(a, b Identity) int {
		if a.Pod < b.Pod {
			return -1
		}
		if a.Pod > b.Pod {
			return 1
		}
		return 0
	})
	return out
}

// Err reports every pod the servers could not serve (e.g. a pod IP that is
// not local: outside testcluster's network namespace).
func (s *Servers) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// Stop stops watching and stops every server, draining ones included.
func (s *Servers) Stop() {
	s.mu.Lock()
	select {
	case <-s.stopCh:
		s.mu.Unlock()
		return
	default:
	}
	close(s.stopCh)
	running := s.running
	s.running = map[types.UID]*podServer{}
	s.mu.Unlock()
	for _, p := range running {
		release(p, time.Second)
	}
	s.going.Wait()
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerPorts are the TCP ports the pod's app containers declare.
func containerPorts(p *corev1.Pod) []int32 {
	var out []int32
	for _, c := range p.Spec.Containers {
		if c.Name == sidecarContainer {
			continue
		}
		for _, port := range c.Ports {
			if port.Protocol == "" || port.Protocol == corev1.ProtocolTCP {
				out = append(out, port.ContainerPort)
			}
		}
	}
	return out
}
