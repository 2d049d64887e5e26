package renderer

import (
	"bytes"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Writer prints Resources as a multi-document YAML stream: unedited
// documents byte for byte, edited ones re-encoded from their node tree.
type Writer struct{}

// Write encodes rs to w. Callers buffer w: on error nothing must reach the
// post-renderer's stdout.
func (Writer) Write(w io.Writer, rs []*Resource) error {
	var buf bytes.Buffer
	for _, r := range rs {
		buf.WriteString("---\n")
		body := r.raw
		if !r.dirty && len(r.patches) > 0 {
			body = r.patched()
		}
		if r.dirty {
			var enc bytes.Buffer
			e := yaml.NewEncoder(&enc)
			e.SetIndent(2)
			if err := e.Encode(r.doc); err != nil {
				return fmt.Errorf("encode %s: %w", r, err)
			}
			if err := e.Close(); err != nil {
				return fmt.Errorf("encode %s: %w", r, err)
			}
			body = enc.Bytes()
		}
		body = bytes.TrimLeft(body, "\n")
		buf.Write(body)
		if len(body) > 0 && body[len(body)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}
