// Command meshbundle brings Istio to a cluster (install), to apps (postrender,
// canary) and to the console (gateways, observability). See README.md.
package main

import (
	"os"
)

func main() {
	os.Exit(int(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)))
}
