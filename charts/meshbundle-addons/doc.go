// Package addonschart holds the meshbundle-addons Helm chart (installed by
// the installer's addons phase) and its tests. files/ is generated from the
// rules and dashboards packages: `go generate ./charts/meshbundle-addons`.
package addonschart

//go:generate env UPDATE_GOLDEN=1 go test -run TestChartFiles .

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// FS is the chart itself, compiled into meshbundle so `meshbundle install`
// installs the addons from any directory, offline, at the version it was
// built with.
//
//go:embed Chart.yaml values.yaml all:templates all:files
var FS embed.FS

// Load returns the embedded chart.
func Load() (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(FS, p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, "./"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded meshbundle-addons chart: %w", err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load embedded meshbundle-addons chart: %w", err)
	}
	return ch, nil
}
