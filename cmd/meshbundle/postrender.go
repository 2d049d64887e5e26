package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/renderer/postrendercmd"
)

// newPostrenderCmd is `meshbundle postrender`, the same code as the lean
// meshbundle-postrender binary.
func newPostrenderCmd() *cobra.Command {
	cmd := postrendercmd.NewCommand("postrender")
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		err := run(c, args)
		var bad *postrendercmd.BadInputError
		if errors.As(err, &bad) {
			return &exitError{code: exitBadInput, err: err}
		}
		return err
	}
	return cmd
}
