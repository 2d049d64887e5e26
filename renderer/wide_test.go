package renderer

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// wideAlloc renders one wide document and returns the bytes allocated per
// byte of input: as Render does, or (keepAll) with the pipeline keeping
// every document's tree, which is the full parse of every document.
func wideAlloc(t *testing.T, data []byte, keepAll bool) float64 {
	t.Helper()
	r := New(fixModeAppMesh(t), nil)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var err error
	if keepAll {
		var s *stream
		if s, err = r.run(bytes.NewReader(data), pipeline, true); err == nil {
			err = Writer{}.Write(io.Discard, s.docs)
		}
	} else {
		err = r.Render(bytes.NewReader(data), io.Discard)
	}
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(len(data))
}

// maxAllocPerByte bounds what rendering one wide document may allocate
// per byte of it: reading the input (io.ReadAll grows its buffer by
// doubling, ~2-3 bytes a byte), the scanner's key hashes for the
// duplicate check of what it drops (8 bytes a key), the kept part of the
// tree and the Writer's buffer. A whole tree is 14-24 bytes a byte on top
// (two yaml.v3 nodes of 152 bytes a line).
const maxAllocPerByte = 8

// TestWideDocumentsCostTheirBytes: one wide document costs O(its bytes)
// and no whole tree — a ConfigMap of 100 000 keys, which no filter reads
// (skimmed), and a Service with 50 000 annotations (its port renamed) and
// a Deployment whose container has 50 000 env entries (injected), which
// filters read and edit (pruned): Render allocates at most maxAllocPerByte
// bytes per byte of the large one, and per byte no more than for one a
// fifth or a tenth as wide (×1.3: linear, not worse). Negative control:
// the same pipeline keeping every whole tree (what Render did before
// skimming and pruning) fails the check on each, and so do figures
// growing faster than the input.
func TestWideDocumentsCostTheirBytes(t *testing.T) {
	for _, c := range []struct {
		kind         string
		small, large int // entries
	}{
		{"configmap", 10000, 100000},
		{"service", 10000, 50000},
		{"deployment", 10000, 50000},
	} {
		t.Run(c.kind, func(t *testing.T) {
			small, large := wideDocument(c.kind, c.small), wideDocument(c.kind, c.large)
			s, l := wideAlloc(t, small, false), wideAlloc(t, large, false)
			if err := wideCost(s, l); err != nil {
				t.Error(err)
			}
			t.Logf("%.2f and %.2f bytes allocated per byte at %d and %d entries", s, l, c.small, c.large)
			if err := wideCost(wideAlloc(t, small, true), wideAlloc(t, large, true)); err == nil {
				t.Error("negative control: the pipeline keeping every tree passes the check")
			} else {
				t.Logf("negative control, keeping every tree: %v", err)
			}
		})
	}
	if wideCost(2, 3) == nil {
		t.Error("negative control: 1.5× the bytes per byte at 10× the entries passes the check")
	}
}

// wideCost checks the bytes allocated per input byte for a wide document
// (large) and one a fifth or a tenth as wide (small, where the pipeline's
// fixed costs weigh more).
func wideCost(small, large float64) error {
	if large > maxAllocPerByte {
		return fmt.Errorf("rendering the wide document allocates %.1f bytes per byte of it, over %d: a whole tree is built", large, maxAllocPerByte)
	}
	if large > 1.3*small {
		return fmt.Errorf("per byte, the wide document allocates %.1f× what the narrower one does: not linear", large/small)
	}
	return nil
}
