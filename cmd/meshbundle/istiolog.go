package main

import (
	"fmt"
	"os"

	istiolog "istio.io/istio/pkg/log"
)

// Istio's logger writes to stdout by default, and client-go's klog warnings
// (e.g. a deprecated field in a chart the installer applies) reach it. On
// stdout they corrupt data a pipeline reads, such as `install -o json`
// (docs/pipeline.md), so every command sends Istio's log lines to stderr.
func init() {
	opts := istiolog.DefaultOptions()
	opts.OutputPaths = []string{"stderr"}
	opts.ErrorOutputPaths = []string{"stderr"}
	if err := istiolog.Configure(opts); err != nil {
		fmt.Fprintf(os.Stderr, "warning: route Istio's log to stderr: %v\n", err)
	}
}
