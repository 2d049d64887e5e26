package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// output is the one result encoder of the CLI: every command that prints
// a result takes -o json|yaml (kubectl's habit) and otherwise prints it
// for people (a table or a sentence). JSON and YAML carry the same fields
// (sigs.k8s.io/yaml encodes through the JSON tags). A value other than
// json or yaml is a flag error, so bad input (exit 2) before anything runs.
type output string

// registerOutput adds -o/--output to fl, bound to o.
func registerOutput(fl *pflag.FlagSet, o *output) {
	fl.VarP(o, "output", "o", "result format on stdout: json or yaml (default: a table for people)")
}

func (o *output) Set(s string) error {
	switch s {
	case "json", "yaml":
		*o = output(s)
		return nil
	}
	return fmt.Errorf("use json or yaml")
}

func (o *output) String() string { return string(*o) }
func (o *output) Type() string   { return "json|yaml" }

// structured says whether the result goes out as JSON or YAML.
func (o output) structured() bool { return o != "" }

// write prints v as JSON or YAML, or calls human without -o.
func (o output) write(w io.Writer, v any, human func(io.Writer) error) error {
	switch o {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return human(w)
}
