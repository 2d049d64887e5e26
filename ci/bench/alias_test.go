package main

import (
	"strings"
	"testing"
)

// TestParseAliasFigures pins the contract with renderer/meshcheck's
// TestAliasCost log lines: every key is read, and a missing or malformed
// one is an error rather than a silent 0 in BENCHMARKS.md.
func TestParseAliasFigures(t *testing.T) {
	const full = "variant=externalname default=true services=100 aliases=100 clusters=103 listeners=3 routeconfigs=1 vhosts=101 bytes=174958 clusterbytes=100961 listenerbytes=10028 routebytes=63969"
	tests := []struct {
		name    string // what the case proves
		line    string // text after "aliascost "
		want    aliasFigures
		wantErr string // substring of the error; "" = no error
	}{
		{name: "all keys", line: full, want: aliasFigures{variant: "externalname", isDefault: true, services: 100, aliases: 100,
			clusters: 103, listeners: 3, routeConfigs: 1, vhosts: 101, bytes: 174958, clusterBytes: 100961, listenerBytes: 10028, routeBytes: 63969}},
		{name: "missing key", line: strings.Replace(full, " vhosts=101", "", 1), wantErr: "no vhosts="},
		{name: "not a number", line: strings.Replace(full, "bytes=174958", "bytes=lots", 1), wantErr: `bytes="lots"`},
		{name: "not key=value", line: full + " trailing", wantErr: `"trailing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAliasFigures(tt.line)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestAliasPerAlias: per-alias figures are the delta over the baseline
// divided by the number of aliases, as a percentage of the baseline bytes.
func TestAliasPerAlias(t *testing.T) {
	base := aliasFigures{variant: "baseline", services: 100, clusters: 103, bytes: 160000}
	v := aliasFigures{variant: "serviceentry-eds", services: 100, aliases: 100, clusters: 203, bytes: 176000}
	c, b := v.perAlias(base)
	if c != 1 || b != 160 {
		t.Errorf("perAlias = %v clusters, %v bytes; want 1, 160", c, b)
	}
	if p := v.perAliasPct(base); p != 0.1 {
		t.Errorf("perAliasPct = %v, want 0.1", p)
	}
}
