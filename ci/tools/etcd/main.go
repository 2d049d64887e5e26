// Command etcd is upstream's etcd server, built from the module proxy. It lives
// in its own module because Kubernetes pins newer etcd client libraries.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
