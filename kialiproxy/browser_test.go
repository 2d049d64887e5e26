package kialiproxy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// consolePage frames Kiali through the proxy the way the product console
// does: hand the console's token to the proxy, then load Kiali in an
// iframe, and show what the framed Kiali reports back. A same-origin control
// frame proves the page would notice a frame that loads.
func consolePage(kialiOrigin string) string {
	return `<!doctype html><html><head><title>Console</title></head>
<body style="margin:0;font-family:sans-serif">
<div style="background:#06c;color:#fff;padding:8px 16px">Product console &mdash; Service mesh</div>
<p id="status" style="padding:0 16px">waiting</p>
<p id="control" style="padding:0 16px">control: waiting</p>
<iframe id="kiali" style="width:100%;height:420px;border:0"></iframe>
<iframe src="/control" style="display:none"></iframe>
<script>
const kiali = "` + kialiOrigin + `";
window.addEventListener("message", e => {
  if (e.origin === location.origin) { document.getElementById("control").textContent = "control: ok"; return; }
  if (e.origin !== kiali) return;
  const s = document.getElementById("status");
  if (e.data.loaded) { if (s.textContent === "waiting") s.textContent = "framed"; return; }
  s.textContent = "framed: " + e.data.auth + " | " + e.data.kiosk + " | " + e.data.api;
});
fetch(kiali + "/meshbundle/session", {method: "POST", credentials: "include", headers: {Authorization: "Bearer console-token"}})
  .catch(() => {})
  .finally(() => { document.getElementById("kiali").src = kiali + "/kiali/console/overview"; });
setTimeout(() => { const s = document.getElementById("status"); if (s.textContent === "waiting") s.textContent = "refused"; }, 4000);
</script></body></html>`
}

const controlPage = `<!doctype html><script>parent.postMessage("control", location.origin)</script>`

// chromium finds the browser: $CHROMIUM or Debian's chromium package.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found: install Debian's package (apt-get install -y chromium) or set CHROMIUM")
	}
	return p
}

// runChromium loads url headless in a fresh profile, with the test's
// .test host names mapped to the loopback servers and their self-signed
// certificates accepted.
func runChromium(t *testing.T, bin string, mode []string, target string) []byte {
	t.Helper()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
		"--ignore-certificate-errors",
		"--host-resolver-rules=MAP console.test 127.0.0.1, MAP kiali.test 127.0.0.1, MAP evil.test 127.0.0.1",
		"--virtual-time-budget=8000",
		// Virtual time waits for pending network fetches only in the page's
		// own renderer: with site isolation the cross-origin Kiali frame
		// loads in another process, virtual time jumped to the page's 4 s
		// "refused" timer first, and the framed case failed about 1 run in 3.
		// frame-ancestors is enforced the same either way.
		"--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process",
		"--window-size=1000,640",
	}, mode...)
	args = append(args, target)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", mode, err, stderr.String())
	}
	return stdout.Bytes()
}

// tlsServer serves h over HTTPS on 127.0.0.1 and returns its port.
func tlsServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

// TestBrowserEmbedding loads a console page that frames Kiali through the
// proxy in headless Chromium: the console's origin gets a rendered Kiali
// with the console's identity, its kiosk origin and its cookies working;
// another origin's frame is refused by the browser.
func TestBrowserEmbedding(t *testing.T) {
	bin := chromium(t)
	kiali := newFakeKiali(t)
	upstream, _ := url.Parse(kiali.srv.URL)

	pages := func(kialiOrigin string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if r.URL.Path == "/control" {
				fmt.Fprint(w, controlPage)
				return
			}
			fmt.Fprint(w, consolePage(kialiOrigin))
		})
	}
	// Ports first, so origins are known before the handlers are built.
	var proxyHandler, consoleHandler, evilHandler http.Handler
	proxyPort := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxyHandler.ServeHTTP(w, r) }))
	consolePort := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { consoleHandler.ServeHTTP(w, r) }))
	evilPort := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { evilHandler.ServeHTTP(w, r) }))
	kialiOrigin := "https://kiali.test:" + proxyPort
	consoleOrigin := "https://console.test:" + consolePort
	p, err := New(Config{Upstream: upstream, WebRoot: "/kiali", ConsoleOrigins: []string{consoleOrigin}, Hosts: []string{"kiali.test:" + proxyPort}})
	if err != nil {
		t.Fatal(err)
	}
	proxyHandler, consoleHandler, evilHandler = p, pages(kialiOrigin), pages(kialiOrigin)

	tests := []struct {
		name   string // case
		origin string // page that frames Kiali
		want   string // status line the page shows
	}{
		{name: "console origin frames Kiali", origin: consoleOrigin,
			want: "framed: auth=Bearer console-token | kiosk=" + consoleOrigin + " | api=auth=Bearer console-token cookie=true"},
		{name: "other origin is refused", origin: "https://evil.test:" + evilPort, want: "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dom := string(runChromium(t, bin, []string{"--dump-dom"}, tc.origin+"/"))
			if !strings.Contains(dom, "control: ok") {
				t.Fatalf("control frame did not report: the page cannot tell framed from refused\n%s", dom)
			}
			if !strings.Contains(dom, `<p id="status" style="padding:0 16px">`+tc.want+`</p>`) {
				t.Errorf("status: want %q in\n%s", tc.want, dom)
			}
		})
	}

	shot := filepath.Join(t.TempDir(), "kiali-embed.png")
	runChromium(t, bin, []string{"--screenshot=" + shot}, consoleOrigin+"/")
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("no screenshot: %v", err)
	}
	// docs/kiali-embed.png is refreshed on request only: a PNG differs on
	// every run.
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", "kiali-embed.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
