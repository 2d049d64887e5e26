package renderer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// Writer prints Resources as a multi-document YAML stream: unedited
// documents byte for byte, patched ones as their bytes with the patches
// spliced in, edited ones re-encoded from their node tree.
type Writer struct{}

// Write encodes rs to w. Encoding edited trees is the only step that can
// fail, so it is done first: on error nothing reaches w. The rest is
// streamed, without a copy of the whole output in memory.
func (Writer) Write(w io.Writer, rs []*Resource) error {
	encoded := map[*Resource][]byte{}
	for _, r := range rs {
		if !r.dirty {
			continue
		}
		enc, err := encodeTree(r.doc)
		if err != nil {
			return fmt.Errorf("encode %s: %w", r, err)
		}
		encoded[r] = enc
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, r := range rs {
		bw.WriteString("---\n")
		var last byte
		if body, ok := encoded[r]; ok {
			last = writeTrimmed(bw, body)
		} else {
			last = r.writePatched(bw)
		}
		if last != 0 && last != '\n' {
			bw.WriteByte('\n')
		}
	}
	if err := bw.Flush(); err != nil {
		return &OutputError{err}
	}
	return nil
}

// OutputError is a failure to write the output (a closed pipe, a full
// disk): the input was fine.
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return "write output: " + e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// writeTrimmed writes b without leading newlines and returns its last byte
// written (0 for none).
func writeTrimmed(w *bufio.Writer, b []byte) byte {
	b = bytes.TrimLeft(b, "\n")
	if len(b) == 0 {
		return 0
	}
	w.Write(b)
	return b[len(b)-1]
}
