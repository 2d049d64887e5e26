package rollout

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// GatewayProgrammed says whether a Gateway API Gateway is ready: its
// controller (istiod) reports Programmed=True for the Gateway's current
// generation. If not, it says why in the controller's words ("Programmed
// False AddressNotAssigned: ..."), or that the controller has not reported
// on this generation yet.
func GatewayProgrammed(gw *gwapi.Gateway) (bool, string) {
	c := meta.FindStatusCondition(gw.Status.Conditions, string(gwapi.GatewayConditionProgrammed))
	switch {
	case c == nil:
		if a := meta.FindStatusCondition(gw.Status.Conditions, string(gwapi.GatewayConditionAccepted)); a != nil && a.Status != metav1.ConditionTrue {
			return false, fmt.Sprintf("Accepted %s %s: %s", a.Status, a.Reason, a.Message)
		}
		return false, "no Programmed condition yet (is the GatewayClass's controller running?)"
	case c.ObservedGeneration < gw.Generation:
		return false, fmt.Sprintf("the controller has not reported on generation %d yet (Programmed %s %s, of generation %d)", gw.Generation, c.Status, c.Reason, c.ObservedGeneration)
	case c.Status != metav1.ConditionTrue:
		return false, fmt.Sprintf("Programmed %s %s: %s", c.Status, c.Reason, c.Message)
	}
	return true, fmt.Sprintf("Programmed: %s", c.Message)
}

// WaitGateway watches the Gateway until GatewayProgrammed, or ctx ends;
// then it returns the last reason and ctx's error. progress, if not nil,
// gets each new reason while it waits.
func WaitGateway(ctx context.Context, gc gwclient.Interface, ns, name string, progress func(string)) (string, error) {
	gateways := gc.GatewayV1().Gateways(ns)
	lw := listWatchOne(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return gateways.List(ctx, o)
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return gateways.Watch(ctx, o)
	})
	last := ""
	return watchUntil(ctx, lw, &gwapi.Gateway{}, func(o runtime.Object) (bool, string) {
		gw, ok := o.(*gwapi.Gateway)
		if !ok {
			return false, fmt.Sprintf("unexpected %T in the watch", o)
		}
		done, why := GatewayProgrammed(gw)
		if why != last && progress != nil && !done {
			progress(why)
		}
		last = why
		return done, why
	})
}
