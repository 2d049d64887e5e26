// Command meshbundle-postrender is the lean Helm post-renderer: the same
// code as `meshbundle postrender` in a binary that links no Helm and none
// of Istio's heavy packages, because Helm and Argo CD exec it on every
// render (see deps_test.go).
package main

import (
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"

	"github.com/meshbundle/meshbundle/renderer/postrendercmd"
)

func main() {
	// The process lives for one render and its heap is a few times the
	// input: collecting less often saves about a third of the CPU (500
	// Deployment+Service pairs: 0.06 s -> 0.04 s user), and a soft memory
	// limit keeps the peak RSS near its budget instead (budget). GOGC and
	// GOMEMLIMIT still win.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	var stdin io.Reader = os.Stdin
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		b := &budget{r: os.Stdin}
		b.adjust()
		b.watch()
		stdin = b
	}
	os.Exit(postrendercmd.Main(os.Args[1:], stdin, os.Stdout, os.Stderr))
}

// The memory budget (DESIGN §7, issue 20) is a peak RSS of 20 MB plus 3 ×
// the input. Go's soft memory limit counts the runtime's own memory (heap,
// stacks, GC metadata) but not the pages of the binary and the C library
// the process maps, about 12.5 MB of the RSS once it has rendered
// (/proc/self/smaps at 500–5 000 Deployment+Service pairs: text 5.1,
// rodata 6.0, data 0.3, libc and ld 1.2), while it counts about 3.5 MB of
// GC metadata the process reserves but does not touch: the limit is the
// budget less the difference.
const (
	budgetBase    = 20e6
	budgetPerByte = 3
	outsideLimit  = 12.5e6 - 3.5e6
	// A limit below the live heap plus the runtime's own memory makes
	// the collector run back to back (3–10× the CPU, measured): the
	// limit never drops below twice the live heap plus this.
	runtimeOwn = 6e6
)

// budget passes stdin through and keeps the soft memory limit at the
// budget for the bytes read so far, but never below twice the live heap:
// on inputs whose documents need more than the budget the limit gives way
// (the heap then grows as with GOGC=100) instead of the CPU.
type budget struct {
	r    io.Reader
	n    atomic.Int64 // bytes read
	next int64        // adjust again once n reaches it
}

func (b *budget) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if total := b.n.Add(int64(n)); total >= b.next || err != nil {
		b.next = total + total/8 + 64<<10
		b.adjust()
	}
	return n, err
}

// adjust sets the limit from the input read and the live heap.
func (b *budget) adjust() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	var live int64
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = int64(s[0].Value.Uint64())
	}
	debug.SetMemoryLimit(max(budgetBase+budgetPerByte*b.n.Load()-outsideLimit, 2*live+runtimeOwn))
}

// watch adjusts the limit after every collection, when the live heap is
// known (a finalizer runs once per cycle that finds its object garbage,
// and arms the next).
func (b *budget) watch() {
	runtime.SetFinalizer(&sentinel{b}, func(s *sentinel) {
		s.b.adjust()
		s.b.watch()
	})
}

// sentinel is garbage as soon as it is made; it holds a pointer so that
// the allocator never batches it with other objects (which would delay
// its finalizer).
type sentinel struct{ b *budget }
