package installer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
)

// crdsServed waits until every CRD the base release installed is Established
// and its resource is listed by discovery. Later releases (the mesh-wide
// Telemetry, gateways' Gateway objects) create Istio custom resources: a CRD
// takes a moment after creation to be served, and a Helm client whose
// discovery was read before the CRDs existed keeps answering "no matches for
// kind" because its cache counts as fresh. So the run's shared discovery is
// reset first and refilled here, once, for every later release. It polls
// discovery alone (one request per check: the API server lists a CRD only
// once it is Established), then reads the CRDs once to see every served
// version listed; reading them on every check (~2 MB for base's 25) made a
// busy API server slower still.
func (r *run) crdsServed(ctx context.Context, names []string) error {
	r.cl.rediscover()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		unlisted, err := r.cl.crdsInDiscovery(names)
		switch {
		case err != nil:
			last = err
		case len(unlisted) > 0:
			last = fmt.Errorf("CRD %s is not served yet", unlisted[0])
		default:
			last = r.cl.crdsServed(ctx, names)
		}
		if last != nil {
			r.cl.disco.client.Invalidate()
		}
		return last == nil, nil
	})
	if err != nil {
		return classify(fmt.Errorf("%v: %w", last, err), "waiting for Istio's CRDs")
	}
	return nil
}

// crdsServed is nil once every named CRD is Established and the run's
// discovery lists its resource in every served version. One round trip for
// the CRDs and one discovery read per check, however many CRDs.
func (c *cluster) crdsServed(ctx context.Context, names []string) error {
	crds, err := c.crdsEstablished(ctx, names)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gv := crd.Spec.Group + "/" + v.Name
			list, err := c.disco.client.ServerResourcesForGroupVersion(gv)
			if err != nil {
				return fmt.Errorf("CRD %s: discovery of %s: %w", crd.Name, gv, err)
			}
			if !slices.ContainsFunc(list.APIResources, func(res metav1.APIResource) bool { return res.Name == crd.Spec.Names.Plural }) {
				return fmt.Errorf("CRD %s: %s %s not in discovery yet", crd.Name, gv, crd.Spec.Names.Plural)
			}
		}
	}
	return nil
}

// crdsEstablished reads the named CRDs (in parallel: one round trip, and
// only Istio's CRDs, whatever else the cluster has) and returns them, or an
// error naming the first that is missing or not Established.
func (c *cluster) crdsEstablished(ctx context.Context, names []string) ([]apiextv1.CustomResourceDefinition, error) {
	out := make([]apiextv1.CustomResourceDefinition, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			crd, err := c.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				errs[i] = fmt.Errorf("CRD %s does not exist; re-run install", name)
			case err != nil:
				errs[i] = fmt.Errorf("CRD %s: %w", name, err)
			case !slices.ContainsFunc(crd.Status.Conditions, func(c apiextv1.CustomResourceDefinitionCondition) bool {
				return c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue
			}):
				errs[i] = fmt.Errorf("CRD %s is not established", name)
			default:
				out[i] = *crd
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// crdsInDiscovery returns the CRDs of names (plural.group, which the API
// server requires a CRD's name to be) whose resource the run's discovery
// does not list. The API server lists a CRD's resource only once the CRD is
// Established (apiextensions-apiserver's discovery controller skips the
// others), so a listed one exists and is Established: what a GET of each
// CRD (~2 MB for base's 25) would show, from the discovery the run reads
// anyway. Groups whose discovery failed count as not listed.
func (c *cluster) crdsInDiscovery(names []string) ([]string, error) {
	_, lists, err := c.disco.client.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	served := map[string]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range l.APIResources {
			served[res.Name+"."+gv.Group] = true
		}
	}
	var missing []string
	for _, n := range names {
		if !served[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}
