package installer

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// crdsServed waits until every CRD the base release installed is Established
// and its resource is listed by discovery, then drops the cached Helm
// clients. Later releases (the mesh-wide Telemetry, gateways' Gateway objects)
// create Istio custom resources: a CRD takes a moment after creation to be
// served, and a Helm client whose discovery was read before the CRDs existed
// keeps answering "no matches for kind" because its cache counts as fresh.
func (r *run) crdsServed(ctx context.Context) error {
	cfg, err := r.cl.helmConfig(r.plan.IstioNamespace)
	if err != nil {
		return err
	}
	base, err := cfg.Releases.Last(ReleaseBase)
	if err != nil {
		return fmt.Errorf("release %s/%s: %w", r.plan.IstioNamespace, ReleaseBase, err)
	}
	names, err := crdNames(base.Manifest)
	if err != nil {
		return err
	}
	for _, name := range names {
		var last error
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			last = r.crdServed(ctx, name)
			return last == nil, nil
		})
		if err != nil {
			return classify(fmt.Errorf("CRD %s not served: %v: %w", name, last, err), "waiting for Istio's CRDs")
		}
	}
	r.cl.helm = map[string]*action.Configuration{}
	return nil
}

// crdServed is nil once the CRD is Established and discovery lists its
// resource in its storage version.
func (r *run) crdServed(ctx context.Context, name string) error {
	crd, err := r.cl.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	established := false
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
			established = true
		}
	}
	if !established {
		return fmt.Errorf("not established")
	}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		list, err := r.cl.kube.Discovery().ServerResourcesForGroupVersion(crd.Spec.Group + "/" + v.Name)
		if err != nil {
			return err
		}
		found := false
		for _, res := range list.APIResources {
			if res.Name == crd.Spec.Names.Plural {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s/%s %s not in discovery yet", crd.Spec.Group, v.Name, crd.Spec.Names.Plural)
		}
	}
	return nil
}
