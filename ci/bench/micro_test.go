package main

import "testing"

func TestMicroNsPerOp(t *testing.T) {
	const out = "goos: linux\nBenchmarkRender/500-2         \t      26\t  46882754 ns/op\t   7.11 MB/s\t30086067 B/op\t  355098 allocs/op\nBenchmarkParseFloor/500-2 \t 44\t 29176058 ns/op\t 11.42 MB/s\nBenchmarkParseFloor/500/scanner-2 \t 200\t 5176058 ns/op\n"
	tests := []struct {
		name string  // benchmark asked for
		want float64 // ns/op found
		ok   bool    // whether it is in the output
	}{
		{"BenchmarkRender/500", 46882754, true},
		{"BenchmarkParseFloor/500", 29176058, true},
		{"BenchmarkParseFloor/500/scanner", 5176058, true},
		{"BenchmarkParseFloor/50", 0, false},        // a prefix of another name
		{"BenchmarkRenderAllFilters/500", 0, false}, // not run
	}
	for _, tt := range tests {
		got, ok := microNsPerOp(out, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("microNsPerOp(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
