package installer

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// foundObject builds the metadata of an object found in a namespace.
type foundObject struct{ metav1.ObjectMeta }

func found(name string) *foundObject {
	return &foundObject{metav1.ObjectMeta{Name: name, Namespace: "istio-system",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}}}}
}

func (o *foundObject) managers(ms ...string) *foundObject {
	o.ManagedFields = nil
	for _, m := range ms {
		o.ManagedFields = append(o.ManagedFields, metav1.ManagedFieldsEntry{Manager: m})
	}
	return o
}

func (o *foundObject) helmRelease(ns, name string) *foundObject {
	o.Annotations = map[string]string{"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": ns}
	return o
}

func TestNotOurs(t *testing.T) {
	deleting := metav1.Now()
	ours := releaseSet{"istio-system/istiod": true}
	cases := []struct {
		name string               // test name
		gr   schema.GroupResource // the foundObject's kind
		obj  *foundObject         // the foundObject
		want bool                 // a tenant's: the namespace must stay
	}{
		{name: "a tenant's Deployment", gr: schema.GroupResource{Group: "apps", Resource: "deployments"}, obj: found("app"), want: true},
		{name: "a tenant's ConfigMap", gr: schema.GroupResource{Resource: "configmaps"}, obj: found("settings"), want: true},
		{name: "another release's foundObject (gateway add)", gr: schema.GroupResource{Group: "apps", Resource: "deployments"}, obj: found("pub").helmRelease("istio-system", "pub"), want: true},
		{name: "an foundObject without managed fields", gr: schema.GroupResource{Resource: "secrets"}, obj: found("x").managers(), want: true},
		{name: "istiod and a tenant both wrote it", gr: schema.GroupResource{Resource: "configmaps"}, obj: found("shared").managers(istiodManager, "kubectl"), want: true},
		{name: "another release's record", gr: schema.GroupResource{Resource: "secrets"}, obj: func() *foundObject {
			o := found("sh.helm.release.v1.pub.v1")
			o.Labels = map[string]string{"owner": "helm", "name": "pub"}
			return o
		}(), want: true},

		{name: "our release's foundObject", gr: schema.GroupResource{Group: "apps", Resource: "deployments"}, obj: found("istiod").helmRelease("istio-system", "istiod")},
		{name: "our release's record", gr: schema.GroupResource{Resource: "secrets"}, obj: func() *foundObject {
			o := found("sh.helm.release.v1.istiod.v3")
			o.Labels = map[string]string{"owner": "helm", "name": "istiod"}
			return o
		}()},
		{name: "istiod's CA secret", gr: schema.GroupResource{Resource: "secrets"}, obj: found("istio-ca-secret").managers(istiodManager)},
		{name: "being deleted", gr: schema.GroupResource{Resource: "configmaps"}, obj: func() *foundObject { o := found("x"); o.DeletionTimestamp = &deleting; return o }()},
		{name: "owned (a ReplicaSet's pod)", gr: schema.GroupResource{Resource: "pods"}, obj: func() *foundObject {
			o := found("app-1")
			o.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "app"}}
			return o
		}()},
		{name: "an event", gr: schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, obj: found("e")},
		{name: "endpoints mirror a Service", gr: schema.GroupResource{Resource: "endpoints"}, obj: found("web")},
		{name: "the default ServiceAccount", gr: schema.GroupResource{Resource: "serviceaccounts"}, obj: found("default")},
		{name: "kube-root-ca.crt", gr: schema.GroupResource{Resource: "configmaps"}, obj: found("kube-root-ca.crt")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := notOurs(tc.gr, tc.obj, ours); got != tc.want {
				t.Errorf("notOurs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDescribeConfig(t *testing.T) {
	byNS := map[string][]string{
		"shop":     {"DestinationRule web", "VirtualService a", "VirtualService b", "VirtualService c"},
		"payments": {"AuthorizationPolicy deny"},
	}
	got := describeConfig(byNS, 5)
	want := "5 in 2 namespaces: payments (1: AuthorizationPolicy deny), shop (4: DestinationRule web, VirtualService a, VirtualService b and 1 more)"
	if got != want {
		t.Errorf("describeConfig:\n got %s\nwant %s", got, want)
	}
}

// Only GatewayClasses istiod alone wrote go with the Gateway API CRDs
// without counting as config; anything a person or tool touched counts.
func TestIstiodGatewayClass(t *testing.T) {
	tests := []struct {
		name  string       // case
		group string       // CRD group
		kind  string       // CRD kind
		obj   *foundObject // the object
		want  bool         // istiod's own
	}{
		{"istiod's istio class", "gateway.networking.k8s.io", "GatewayClass", found("istio").managers(istiodManager, istiodManager), true},
		{"edited by kubectl too", "gateway.networking.k8s.io", "GatewayClass", found("istio").managers(istiodManager, "kubectl"), false},
		{"a tenant's class", "gateway.networking.k8s.io", "GatewayClass", found("mine"), false},
		{"no managed fields", "gateway.networking.k8s.io", "GatewayClass", found("x").managers(), false},
		{"a Gateway istiod wrote", "gateway.networking.k8s.io", "Gateway", found("gw").managers(istiodManager), false},
		{"another group's GatewayClass", "example.com", "GatewayClass", found("istio").managers(istiodManager), false},
	}
	for _, tc := range tests {
		if got := istiodGatewayClass(tc.group, tc.kind, tc.obj); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
