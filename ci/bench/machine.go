package main

import (
	"bufio"
	"context"
	"errors"
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

// aliasFigures is one set-up of TestAliasCost: what a client sidecar
// receives over CDS, LDS and RDS in a mesh of `services` Services, each
// with one alias of the variant (none for the baseline).
type aliasFigures struct {
	variant                                        string
	isDefault                                      bool // the variant the AppMesh picks when none is set
	services, aliases                              int
	clusters, listeners, routeConfigs, vhosts      int
	bytes, clusterBytes, listenerBytes, routeBytes int // proto-marshalled sizes
}

// perAlias is the variant's delta over the baseline divided by its alias count.
func (f aliasFigures) perAlias(base aliasFigures) (clusters, bytes float64) {
	if f.aliases == 0 {
		return 0, 0
	}
	n := float64(f.aliases)
	return float64(f.clusters-base.clusters) / n, float64(f.bytes-base.bytes) / n
}

// perAliasPct is one alias's bytes as a percentage of the baseline's config.
func (f aliasFigures) perAliasPct(base aliasFigures) float64 {
	_, b := f.perAlias(base)
	if base.bytes == 0 {
		return 0
	}
	return 100 * b / float64(base.bytes)
}

type aliasResult struct {
	base    aliasFigures
	rows    []aliasFigures
	elapsed time.Duration
}

// aliasLineRE finds TestAliasCost's "aliascost key=value ..." log lines.
var aliasLineRE = regexp.MustCompile(`aliascost (variant=.*)`)

// aliasCost runs renderer/meshcheck's TestAliasCost, which measures with
// Istio's fake discovery server (pilot/test/xds) what a client sidecar
// receives in a mesh of 100 Services with one alias each, per variant, and
// without aliases, and parses what it logs.
func aliasCost(ctx context.Context) (*aliasResult, error) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestAliasCost$", "-v", "./renderer/meshcheck")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -run TestAliasCost ./renderer/meshcheck: %w\n%s", err, tail(string(out), 2000))
	}
	res := &aliasResult{elapsed: time.Since(start)}
	var haveBase bool
	for _, m := range aliasLineRE.FindAllStringSubmatch(string(out), -1) {
		f, err := parseAliasFigures(m[1])
		if err != nil {
			return nil, fmt.Errorf("TestAliasCost line %q: %w (its log format changed?)", m[0], err)
		}
		if f.variant == "baseline" {
			res.base, haveBase = f, true
		} else {
			res.rows = append(res.rows, f)
		}
	}
	if !haveBase || len(res.rows) == 0 {
		return nil, fmt.Errorf("TestAliasCost logged no baseline or no variant line (its log format changed?):\n%s", tail(string(out), 2000))
	}
	return res, nil
}

// parseAliasFigures reads the key=value pairs of one aliascost line; every
// key must be there, so a renamed key fails loudly instead of reading 0.
func parseAliasFigures(line string) (aliasFigures, error) {
	kv := map[string]string{}
	for _, field := range strings.Fields(line) {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return aliasFigures{}, fmt.Errorf("field %q is not key=value", field)
		}
		kv[k] = v
	}
	f := aliasFigures{variant: kv["variant"], isDefault: kv["default"] == "true"}
	for _, n := range []struct {
		key string
		dst *int
	}{
		{"services", &f.services}, {"aliases", &f.aliases},
		{"clusters", &f.clusters}, {"listeners", &f.listeners}, {"routeconfigs", &f.routeConfigs}, {"vhosts", &f.vhosts},
		{"bytes", &f.bytes}, {"clusterbytes", &f.clusterBytes}, {"listenerbytes", &f.listenerBytes}, {"routebytes", &f.routeBytes},
	} {
		v, ok := kv[n.key]
		if !ok {
			return aliasFigures{}, fmt.Errorf("no %s=", n.key)
		}
		x, err := strconv.Atoi(v)
		if err != nil {
			return aliasFigures{}, fmt.Errorf("%s=%q: %w", n.key, v, err)
		}
		*n.dst = x
	}
	if f.variant == "" {
		return aliasFigures{}, errors.New("no variant=")
	}
	return f, nil
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
