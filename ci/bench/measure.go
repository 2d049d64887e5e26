package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// sample is what one run of a child process cost, from the kernel's
// accounting of the child (wait4 rusage): CPU includes the grandchildren it
// waited for (helm's post-renderer, a wrapper script's tool), peak RSS is the
// largest single process among them.
type sample struct {
	wall, user, sys time.Duration
	maxRSS          int64 // bytes
}

func (s sample) cpu() time.Duration { return s.user + s.sys }

// cmdSpec is one command to measure.
type cmdSpec struct {
	path  string
	args  []string
	env   []string // added to the environment
	dir   string
	stdin string // file fed on stdin ("" = empty input)
	// stdout is where the output goes ("" = /dev/null).
	stdout string
}

// runnerPath is the built ci/bench/runner, which every measured command is
// started through (see its doc: the kernel's peak RSS of a child started
// straight from this large process would be this process's).
var runnerPath string

// runOnce runs c and measures it. A non-zero exit is an error carrying the
// end of stderr.
func runOnce(ctx context.Context, c cmdSpec) (sample, error) {
	usageFile, err := os.CreateTemp("", "bench-rusage-")
	if err != nil {
		return sample{}, err
	}
	usageFile.Close()
	defer os.Remove(usageFile.Name())
	cmd := exec.CommandContext(ctx, runnerPath, append([]string{c.path}, c.args...)...)
	cmd.Dir = c.dir
	cmd.Env = append(append(os.Environ(), c.env...), "BENCH_RUSAGE_OUT="+usageFile.Name())
	// Its own process group, so that an interrupted run (Ctrl-C, timeout)
	// stops helm and the post-renderer under the runner too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if c.stdin != "" {
		f, err := os.Open(c.stdin)
		if err != nil {
			return sample{}, err
		}
		defer f.Close()
		cmd.Stdin = f
	} else {
		cmd.Stdin = bytes.NewReader(nil)
	}
	out := os.DevNull
	if c.stdout != "" {
		out = c.stdout
	}
	// A file, not a pipe: the child writes straight to it, no copying
	// goroutine in this process adds noise.
	of, err := os.Create(out)
	if err != nil {
		return sample{}, err
	}
	defer of.Close()
	cmd.Stdout = of
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if runErr := cmd.Run(); runErr != nil {
		return sample{}, fmt.Errorf("%s %s: %w\n%s", c.path, strings.Join(c.args, " "), runErr, tail(stderr.String(), 2000))
	}
	data, err := os.ReadFile(usageFile.Name())
	if err != nil {
		return sample{}, err
	}
	var u struct{ WallNS, UserNS, SysNS, MaxRSSBytes int64 }
	if err := json.Unmarshal(data, &u); err != nil {
		return sample{}, fmt.Errorf("runner's report %q: %w", data, err)
	}
	return sample{
		wall:   time.Duration(u.WallNS),
		user:   time.Duration(u.UserNS),
		sys:    time.Duration(u.SysNS),
		maxRSS: u.MaxRSSBytes,
	}, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// stats are medians over the repetitions of one variant.
type stats struct {
	n                    int
	wall, user, sys, cpu time.Duration
	maxRSS               int64
	// min and max CPU show the spread.
	minCPU, maxCPU time.Duration
}

func summarize(ss []sample) stats {
	if len(ss) == 0 {
		return stats{}
	}
	med := func(f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	st := stats{
		n:      len(ss),
		wall:   time.Duration(med(func(s sample) float64 { return float64(s.wall) })),
		user:   time.Duration(med(func(s sample) float64 { return float64(s.user) })),
		sys:    time.Duration(med(func(s sample) float64 { return float64(s.sys) })),
		cpu:    time.Duration(med(func(s sample) float64 { return float64(s.cpu()) })),
		maxRSS: int64(med(func(s sample) float64 { return float64(s.maxRSS) })),
		minCPU: ss[0].cpu(), maxCPU: ss[0].cpu(),
	}
	for _, s := range ss {
		st.minCPU = min(st.minCPU, s.cpu())
		st.maxCPU = max(st.maxCPU, s.cpu())
	}
	return st
}
