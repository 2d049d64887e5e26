package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine is what the numbers were measured on, and how busy it was.
type machine struct {
	at       time.Time
	nproc    int
	memTotal string
	cpuModel string
	load     [3]float64 // 1, 5, 15 minute load averages
	goVer    string
}

func readMachine() machine {
	m := machine{at: time.Now().UTC(), nproc: runtime.NumCPU(), goVer: runtime.Version()}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(data))
		for i := 0; i < 3 && i < len(f); i++ {
			m.load[i], _ = strconv.ParseFloat(f[i], 64)
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if kb, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(kb), " kB"), 64)
				m.memTotal = fmt.Sprintf("%.1f GiB", n/1024/1024)
			}
		}
		f.Close()
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if mm := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindStringSubmatch(string(data)); mm != nil {
			m.cpuModel = mm[1]
		}
	}
	return m
}

// aliasRow is one variant's cost from TestAliasCost.
type aliasRow struct {
	variant                            string
	clusters, listeners, routes, bytes int
}

type aliasResult struct {
	baseClusters, baseListeners, baseBytes int
	rows                                   []aliasRow
	elapsed                                time.Duration
}

var (
	aliasBaseRE = regexp.MustCompile(`baseline: (\d+) clusters, (\d+) listeners, (\d+) bytes`)
	aliasRowRE  = regexp.MustCompile(`(\S+): \+(-?\d+) clusters, \+(-?\d+) listeners, \+(-?\d+) routes, \+(-?\d+) bytes of xDS`)
)

// aliasCost runs renderer/meshcheck's TestAliasCost, which measures with
// Istio's fake discovery server (pilot/test/xds) what one alias of each
// variant adds to a client sidecar's config, and parses what it logs.
func aliasCost(ctx context.Context) (*aliasResult, error) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestAliasCost$", "-v", "./renderer/meshcheck")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -run TestAliasCost ./renderer/meshcheck: %w\n%s", err, tail(string(out), 2000))
	}
	res := &aliasResult{elapsed: time.Since(start)}
	m := aliasBaseRE.FindStringSubmatch(string(out))
	if m == nil {
		return nil, fmt.Errorf("TestAliasCost logged no baseline line (its log format changed?):\n%s", tail(string(out), 2000))
	}
	res.baseClusters, _ = strconv.Atoi(m[1])
	res.baseListeners, _ = strconv.Atoi(m[2])
	res.baseBytes, _ = strconv.Atoi(m[3])
	for _, m := range aliasRowRE.FindAllStringSubmatch(string(out), -1) {
		r := aliasRow{variant: m[1]}
		r.clusters, _ = strconv.Atoi(m[2])
		r.listeners, _ = strconv.Atoi(m[3])
		r.routes, _ = strconv.Atoi(m[4])
		r.bytes, _ = strconv.Atoi(m[5])
		res.rows = append(res.rows, r)
	}
	if len(res.rows) == 0 {
		return nil, fmt.Errorf("TestAliasCost logged no variant lines:\n%s", tail(string(out), 2000))
	}
	return res, nil
}

// microBench runs the renderer's Go benchmarks and keeps their result lines.
func microBench(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "./renderer/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go test -bench ./renderer/: %w\n%s", err, tail(string(out), 2000))
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "cpu:") || strings.HasPrefix(l, "goos") || strings.HasPrefix(l, "goarch") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n"), nil
}
