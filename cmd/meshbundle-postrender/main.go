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
	"strconv"
	"strings"
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
		b := &budget{r: os.Stdin, outside: outsideLimit()}
		b.adjust()
		b.watch()
		stdin = b
	}
	os.Exit(postrendercmd.Main(os.Args[1:], stdin, os.Stdout, os.Stderr))
}

// The memory budget (DESIGN §7, issue 20) is a peak RSS of 20 MB plus 3 ×
// the input. Go's soft memory limit counts the runtime's own memory (heap,
// stacks, GC metadata) but not the pages of the binary (and, built with
// cgo, the C library) the process maps, while it counts about 3.5 MB the
// runtime reserves but does not touch: the limit is the budget less the
// difference (outsideLimit), with a margin (the limit is soft: under load
// the heap overshoots it while the collector waits for a CPU).
const (
	budgetBase    = 20e6
	budgetPerByte = 3
	// untouched is the runtime's memory the limit counts that is not
	// resident (/proc/self/status against runtime/metrics, 500–5 000
	// Deployment+Service pairs: 3.5–3.7 MB), less a margin of 1.5 MB.
	untouched = 2e6
	// mappedGrowth is how much more of the binary is paged in while
	// rendering than at start (0.2–0.3 MB measured).
	mappedGrowth = 0.5e6
	// mappedDefault stands in for the mapped files where /proc/self/status
	// cannot be read: the static binary's ~4.3 MB, the C library's ~1.5.
	mappedDefault = 6e6
	// A limit below the live heap plus the runtime's own memory makes
	// the collector run back to back (3–10× the CPU, measured): the
	// limit never drops below 1.25 × the live heap plus this.
	runtimeOwn = 4e6
)

// outsideLimit is the resident memory the soft limit does not count, less
// what it counts that is not resident: the file pages mapped now (the
// binary, since issue 20's cut of the API packages 4.7 MB and ~4.3 MB
// resident; ~1.5 MB more with the C library of a cgo build) and their
// growth, less the untouched metadata.
func outsideLimit() int64 {
	mapped := int64(mappedDefault)
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
					mapped = kb << 10
				}
			}
		}
	}
	return mapped + mappedGrowth - untouched
}

// budget passes stdin through and keeps the soft memory limit at the
// budget for the bytes read so far, but never below 1.25 × the live heap
// plus runtimeOwn: on inputs whose documents need more than the budget the
// limit gives way instead of the CPU. (The floor was twice the live heap
// plus 6 MB before; at 5 000 pairs, live heap ~16 MB, that floor was above
// the budget. 1.25 × plus 4 MB measured no more CPU there, 0.30–0.38 s
// against 0.31–0.45 s.)
type budget struct {
	r       io.Reader
	outside int64        // outsideLimit()
	n       atomic.Int64 // bytes read
	next    int64        // adjust again once n reaches it
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
	debug.SetMemoryLimit(max(budgetBase+budgetPerByte*b.n.Load()-b.outside, live+live/4+runtimeOwn))
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
