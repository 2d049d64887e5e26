package main

import (
	"bytes"
	"io"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestBudgetLimit: reading the input through budget raises Go's soft
// memory limit to the budget for the bytes read, and a live heap the
// budget cannot hold raises it to 1.25 × the live heap, so the collector
// never runs back to back.
func TestBudgetLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	in := bytes.Repeat([]byte("a: b\n"), 4<<20) // 20 MiB
	b := &budget{r: bytes.NewReader(in), outside: outsideLimit()}
	b.adjust()
	if _, err := io.Copy(io.Discard, b); err != nil {
		t.Fatal(err)
	}
	want := int64(budgetBase+budgetPerByte*len(in)) - b.outside
	if got := debug.SetMemoryLimit(-1); got < want {
		t.Errorf("after %d bytes the limit is %d, want at least the budget's %d", len(in), got, want)
	}
	// A live heap of 100 MiB, over the budget of the input read.
	hold := make([]byte, 100<<20)
	runtime.GC()
	b.adjust()
	if got := debug.SetMemoryLimit(-1); got < 5*int64(len(hold))/4 {
		t.Errorf("with %d bytes live the limit is %d, want at least 1.25 times that", len(hold), got)
	}
	runtime.KeepAlive(hold)
}

// TestOutsideLimit: the mapped files are read from /proc/self/status (a
// test binary maps far more than the post-renderer, and it must show).
func TestOutsideLimit(t *testing.T) {
	got := outsideLimit()
	if got == mappedDefault+mappedGrowth-untouched {
		t.Skip("/proc/self/status not readable: the default is used")
	}
	if got < 1e6 || got > 200e6 {
		t.Errorf("outsideLimit() = %d, not the mapped files of a process", got)
	}
	t.Logf("outsideLimit() = %.1f MB", float64(got)/1e6)
}
