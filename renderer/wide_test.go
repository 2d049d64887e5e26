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

// maxAllocPerByte bounds what rendering a document no filter reads may
// allocate per byte of it: reading the input (io.ReadAll grows its buffer
// by doubling, ~2-3 bytes a byte), the skimming scanner's key hashes for
// the duplicate check (8 bytes a key) and the Writer's buffer. A tree is
// ~20 bytes a byte on top (two yaml.v3 nodes of 152 bytes a line).
const maxAllocPerByte = 8

// TestWideUntouchedDocumentCostsItsBytes: a ConfigMap of 100 000 keys,
// which no filter reads, costs O(its bytes) and no tree: Render allocates
// at most maxAllocPerByte bytes per byte of it, and per byte no more at
// 100 000 keys than at 10 000 (×1.3: linear, not worse). Negative control:
// the same pipeline keeping every tree (the full parse of every document,
// what Render did before skimming) fails the check, and so do figures
// growing faster than the input.
func TestWideUntouchedDocumentCostsItsBytes(t *testing.T) {
	small, large := wideDocument("configmap", 10000), wideDocument("configmap", 100000)
	s, l := wideAlloc(t, small, false), wideAlloc(t, large, false)
	if err := untouchedCost(s, l); err != nil {
		t.Error(err)
	}
	t.Logf("%.2f and %.2f bytes allocated per byte at 10 000 and 100 000 keys", s, l)
	if err := untouchedCost(wideAlloc(t, small, true), wideAlloc(t, large, true)); err == nil {
		t.Error("negative control: the pipeline keeping every tree passes the check")
	} else {
		t.Logf("negative control, keeping every tree: %v", err)
	}
	if untouchedCost(2, 3) == nil {
		t.Error("negative control: 1.5× the bytes per byte at 10× the keys passes the check")
	}
}

// untouchedCost checks the bytes allocated per input byte at 10 000 and
// 100 000 keys.
func untouchedCost(small, large float64) error {
	if large > maxAllocPerByte || small > maxAllocPerByte {
		return fmt.Errorf("rendering a wide ConfigMap allocates %.1f (10 000 keys) and %.1f (100 000 keys) bytes per byte of it, over %d: a tree is built", small, large, maxAllocPerByte)
	}
	if large > 1.3*small {
		return fmt.Errorf("per byte, 100 000 keys allocate %.1f× what 10 000 do: not linear", large/small)
	}
	return nil
}
