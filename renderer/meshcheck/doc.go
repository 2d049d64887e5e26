// Package meshcheck holds the heavy tests of the renderer: its output is
// checked with Istio's own code — pkg/config/validation on every Istio
// object, the analyzers (analyzers.AllCombined) on the whole output, and
// the xDS simulation (pilot/test/xds + pilot/pkg/simulation) for where
// calls land — and with the Helm SDK for the post-renderer contract.
//
// They live apart from renderer/ so that golden runs stay fast and so that
// renderer/ never links pilot, analysis or Helm.
package meshcheck
