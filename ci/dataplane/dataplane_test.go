package dataplane

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort is a port on 127.0.0.1 nobody listens on right now.
func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// TestDriverCountsVersionsAndFailures: a pod server on loopback answers with
// its identity; the driver counts it per version; once the server is gone
// every request is counted as failed (the control for "0 failed").
func TestDriverCountsVersionsAndFailures(t *testing.T) {
	port := freePort(t)
	id := Identity{Namespace: "shop", Pod: "web-abc", Version: "v2"}
	srv, err := startPodServer(id, "127.0.0.1", []int32{port})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDriver("passthrough:///127.0.0.1:" + strconv.Itoa(int(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Rate = 1000
	ctx := context.Background()

	res := d.Run(ctx, 200)
	if res.Requests != 200 || res.Failed != 0 || res.ByVersion["v2"] != 200 || res.ByPod["shop/web-abc"] != 200 {
		t.Fatalf("serving: %v, want 200 answered by shop/web-abc v2", res)
	}
	if err := ExpectShares(map[string]float64{"v2": 100}, 0)(res); err != nil {
		t.Error(err)
	}

	srv.stop(time.Second)
	stopped := time.Now()
	d.Timeout = 200 * time.Millisecond
	res = d.Run(ctx, 50)
	if res.Requests != 50 || res.Failed != 50 || len(res.ByVersion) != 0 {
		t.Fatalf("server stopped: %v, want 50 of 50 failed", res)
	}
	if err := ExpectShares(map[string]float64{"v2": 100}, 3)(res); err == nil || !strings.Contains(err.Error(), "50 of 50 requests failed") {
		t.Errorf("ExpectShares on failures = %v, want the failures named", err)
	}
	// Each failure is kept with when it was sent and its whole error, to be
	// read against the servers' events.
	if len(res.Failures) != 50 {
		t.Errorf("%d failures recorded, want all 50", len(res.Failures))
	}
	for _, f := range res.Failures {
		if f.Sent.Before(stopped) || !strings.Contains(f.Err, "127.0.0.1:"+strconv.Itoa(int(port))) {
			t.Errorf("failure %v: want sent after the server stopped (%s), naming its address", f, stopped.Format("15:04:05.000"))
			break
		}
	}
	t.Logf("after stop: %v", res)
}

// TestDriverRate: requests go out at the set rate, not as a burst.
func TestDriverRate(t *testing.T) {
	port := freePort(t)
	srv, err := startPodServer(Identity{Namespace: "ns", Pod: "p", Version: "v1"}, "127.0.0.1", []int32{port})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop(time.Second)
	d, err := NewDriver("passthrough:///127.0.0.1:" + strconv.Itoa(int(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Rate = 200
	res := d.Run(context.Background(), 100)
	// 100 requests at 200/s take about 0.5 s; a burst would take a few ms.
	if res.Elapsed < 400*time.Millisecond || res.Elapsed > 3*time.Second {
		t.Errorf("100 requests at 200/s took %s, want about 0.5 s", res.Elapsed)
	}
}

func TestSummary(t *testing.T) {
	r := Result{Requests: 2000, Failed: 0, ByVersion: map[string]int{"stable": 1802, "v2": 198}}
	if got, want := r.Summary("stable", "v2"), "2000 requests, 0 failed, stable=90.1% v2=9.9%"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	// A version nobody listed still shows, so nothing is hidden.
	r = Result{Requests: 10, Failed: 2, ByVersion: map[string]int{"stable": 5, "v3": 3}}
	if got, want := r.Summary("stable", "v2"), "10 requests, 2 failed, stable=50.0% v2=0.0% v3=30.0%"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

func TestExpectShares(t *testing.T) {
	for _, tc := range []struct {
		name    string
		res     Result             // what the driver counted
		want    map[string]float64 // expected shares, percent
		wantErr string             // "" when the check passes
	}{
		{"exact", Result{Requests: 100, ByVersion: map[string]int{"stable": 90, "v2": 10}}, map[string]float64{"stable": 90, "v2": 10}, ""},
		{"within tolerance", Result{Requests: 100, ByVersion: map[string]int{"stable": 88, "v2": 12}}, map[string]float64{"stable": 90, "v2": 10}, ""},
		{"outside tolerance", Result{Requests: 100, ByVersion: map[string]int{"stable": 80, "v2": 20}}, map[string]float64{"stable": 90, "v2": 10}, "v2 got 20.0%, want 10% ± 3"},
		{"failures", Result{Requests: 100, Failed: 1, ByVersion: map[string]int{"stable": 99}}, map[string]float64{"stable": 100}, "1 of 100 requests failed"},
		{"unexpected version", Result{Requests: 100, ByVersion: map[string]int{"stable": 90, "v3": 10}}, map[string]float64{"stable": 90}, "v3 got 10.0%, want none"},
		{"one stray answer", Result{Requests: 1000, ByVersion: map[string]int{"stable": 999, "": 1}}, map[string]float64{"stable": 100}, "(no version label) got 0.1%, want none"},
		{"nothing sent", Result{}, map[string]float64{"stable": 100}, "no request sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ExpectShares(tc.want, 3)(tc.res)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestSampleSize(t *testing.T) {
	for _, tc := range []struct {
		share float64 // expected share, percent
		want  int     // requests for ±3 points at 4.5 σ, at least 2000
	}{
		{0, 2000}, {100, 2000}, {10, 2025}, {50, 5625},
	} {
		if got := SampleSize(tc.share, 3, 2000); got != tc.want {
			t.Errorf("SampleSize(%v) = %d, want %d", tc.share, got, tc.want)
		}
	}
}

// TestRunWhile: traffic runs until stop is closed, and the requests in
// flight then still complete (none counted as failed).
func TestRunWhile(t *testing.T) {
	port := freePort(t)
	srv, err := startPodServer(Identity{Namespace: "ns", Pod: "p", Version: "v1"}, "127.0.0.1", []int32{port})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop(time.Second)
	d, err := NewDriver("passthrough:///127.0.0.1:" + strconv.Itoa(int(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stop := make(chan struct{})
	time.AfterFunc(300*time.Millisecond, func() { close(stop) })
	res := d.RunWhile(context.Background(), stop)
	if res.Failed != 0 || res.Requests < 50 || res.Requests > 400 || res.ByVersion["v1"] != res.Requests {
		t.Errorf("300 ms at %d/s: %v, want about 150 requests, none failed", DefaultRate, res)
	}
}
