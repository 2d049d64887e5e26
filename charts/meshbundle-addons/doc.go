// Package addonschart holds the meshbundle-addons Helm chart (installed by
// the installer's addons phase) and its tests. files/ is generated from the
// rules and dashboards packages: `go generate ./charts/meshbundle-addons`.
package addonschart

//go:generate env UPDATE_GOLDEN=1 go test -run TestChartFiles .
