package rollout

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
)

// gateway builds a Gateway of generation gen with conditions.
func gateway(gen int64, conds ...metav1.Condition) *gwapi.Gateway {
	gw := &gwapi.Gateway{ObjectMeta: metav1.ObjectMeta{Generation: gen}}
	gw.Status.Conditions = conds
	return gw
}

func cond(typ string, status metav1.ConditionStatus, reason string, observed int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: "m", ObservedGeneration: observed}
}

func TestGatewayProgrammed(t *testing.T) {
	tests := []struct {
		name string         // the case
		gw   *gwapi.Gateway // the Gateway as the controller left it
		want bool           // ready
		why  string         // a substring of the reason
	}{
		{"no status yet", gateway(1), false, "no Programmed condition yet"},
		{"not accepted", gateway(1, cond("Accepted", metav1.ConditionFalse, "InvalidParameters", 1)), false, "Accepted False InvalidParameters"},
		{"address pending", gateway(1, cond("Accepted", metav1.ConditionTrue, "Accepted", 1), cond("Programmed", metav1.ConditionFalse, "AddressNotAssigned", 1)),
			false, "Programmed False AddressNotAssigned: m"},
		{"programmed for an older generation", gateway(2, cond("Programmed", metav1.ConditionTrue, "Programmed", 1)), false, "not reported on generation 2 yet (Programmed True Programmed, of generation 1)"},
		{"programmed", gateway(2, cond("Programmed", metav1.ConditionTrue, "Programmed", 2)), true, "Programmed: m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := GatewayProgrammed(tt.gw)
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Errorf("GatewayProgrammed = %v, %q; want %v, ...%q...", got, why, tt.want, tt.why)
			}
		})
	}
}
