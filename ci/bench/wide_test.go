package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/meshbundle/meshbundle/appmesh"
	"github.com/meshbundle/meshbundle/ci/bench/chartgen"
	"github.com/meshbundle/meshbundle/renderer"
)

// TestCheckWide: the post-renderer's real output on each wide document
// passes the check the benchmark makes before measuring; the chart's own
// (unedited) document and a truncated output do not.
func TestCheckWide(t *testing.T) {
	am, err := appmesh.Decode([]byte(wideAppMesh))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []wideCase{{chartgen.WideConfigMap, 300}, {chartgen.WideService, 300}, {chartgen.WideContainers, 30}, {chartgen.WideEnv, 300}} {
		doc, err := chartgen.WideDocument(c.kind, c.n)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := renderer.New(am, nil).Render(strings.NewReader(doc), &out); err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		if err := checkWide(c, out.String()); err != nil {
			t.Errorf("rendered: %v", err)
		}
		if err := checkWide(c, out.String()[:out.Len()/3]); err == nil {
			t.Errorf("%s: a truncated output passed the check", c.kind)
		}
		if c.kind != chartgen.WideConfigMap {
			if err := checkWide(c, doc); err == nil {
				t.Errorf("%s: the unedited document passed the check", c.kind)
			}
		}
	}
}

// TestWideGoal: within 2× is met, above is missed and named.
func TestWideGoal(t *testing.T) {
	row := func(kind string, helm, mesh time.Duration) *wideResult {
		return &wideResult{c: wideCase{kind, 10}, stats: map[string]stats{vHelm: {cpu: helm}, vMesh: {cpu: mesh}}}
	}
	rep := &report{wide: []*wideResult{row(chartgen.WideConfigMap, 100*time.Millisecond, 150*time.Millisecond)}}
	if g, _ := rep.wideGoal(); !strings.Contains(g.verdict, "**met**") {
		t.Errorf("1.5× judged %q", g.verdict)
	}
	rep.wide = append(rep.wide, row(chartgen.WideService, 100*time.Millisecond, 250*time.Millisecond))
	if g, _ := rep.wideGoal(); !strings.Contains(g.verdict, "**missed**") || !strings.Contains(g.verdict, chartgen.WideService+" 2.50×") {
		t.Errorf("2.5× judged %q", g.verdict)
	}
	if _, ok := (&report{}).wideGoal(); ok {
		t.Error("a goal line without wide rows")
	}
}

// TestWideMemoryGoal: a peak RSS within 20 MB + 3 × input is met, above
// it is missed and named.
func TestWideMemoryGoal(t *testing.T) {
	row := func(kind string, input, rss int64) *wideResult {
		return &wideResult{c: wideCase{kind, 10}, inputBytes: input, stats: map[string]stats{vMesh: {maxRSS: rss}}}
	}
	rep := &report{wide: []*wideResult{row(chartgen.WideConfigMap, 2e6, 25e6)}} // 26 MB allowed
	if g, _ := rep.wideMemoryGoal(); !strings.Contains(g.verdict, "**met**") {
		t.Errorf("25 MB of 26 judged %q", g.verdict)
	}
	rep.wide = append(rep.wide, row(chartgen.WideEnv, 1e6, 26e6)) // 23 MB allowed
	if g, _ := rep.wideMemoryGoal(); !strings.Contains(g.verdict, "**missed**") || !strings.Contains(g.verdict, chartgen.WideEnv+" 13 % over") {
		t.Errorf("26 MB of 23 judged %q", g.verdict)
	}
	if _, ok := (&report{}).wideMemoryGoal(); ok {
		t.Error("a goal line without wide rows")
	}
}
