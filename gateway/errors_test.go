package gateway

import (
	"strings"
	"testing"
)

// TestAnalysisErrorMessage: the analyzers' refusal names the gateway, the
// analyzer messages (which name object and field) and the fix.
func TestAnalysisErrorMessage(t *testing.T) {
	err := &AnalysisError{Gateway: "istio-ingress/public", Messages: []string{`Error [IST0101] (Gateway istio-ingress/public) Referenced selector not found: "istio=nobody"`}}
	for _, w := range []string{"gateway istio-ingress/public", "IST0101", "istio=nobody", "(fix: correct the GatewayConfig"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
