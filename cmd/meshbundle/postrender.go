package main

import (
	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/renderer/postrendercmd"
)

// newPostrenderCmd is `meshbundle postrender`, the same code as the lean
// meshbundle-postrender binary, with the same exit codes (failure.KindOf).
func newPostrenderCmd() *cobra.Command {
	return postrendercmd.NewCommand("postrender")
}
