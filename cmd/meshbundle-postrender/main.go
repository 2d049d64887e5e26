// Command meshbundle-postrender is the lean Helm post-renderer: the same
// code as `meshbundle postrender` in a binary that links no Helm and none
// of Istio's heavy packages, because Helm and Argo CD exec it on every
// render (see deps_test.go).
package main

import (
	"os"

	"github.com/meshbundle/meshbundle/renderer/postrendercmd"
)

func main() {
	os.Exit(postrendercmd.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
