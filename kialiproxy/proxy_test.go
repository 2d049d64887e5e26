package kialiproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeKiali is a real HTTP server standing in for Kiali: github.com/kiali/kiali
// is not served by the Go module proxy here (403), and Kiali's UI needs its
// separately built frontend anyway. It behaves like
// Kiali where the proxy cares: pages under /kiali refuse framing
// (X-Frame-Options: DENY, CSP frame-ancestors 'none'), login cookies are
// SameSite=Strict, the API wants a bearer token. Its pages echo what they
// received so tests (and the browser test) can see it.
type fakeKiali struct {
	srv   *httptest.Server
	calls atomic.Int64
}

func newFakeKiali(t *testing.T) *fakeKiali {
	k := &fakeKiali{}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.calls.Add(1)
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		switch {
		case strings.HasPrefix(r.URL.Path, "/kiali/api/"):
			if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			c, _ := r.Cookie("kiali-token-aes")
			fmt.Fprintf(w, "auth=%s cookie=%v", r.Header.Get("Authorization"), c != nil)
		case strings.HasPrefix(r.URL.Path, "/kiali"):
			http.SetCookie(w, &http.Cookie{Name: "kiali-token-aes", Value: "session1", Path: "/kiali", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			h.Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, kialiPage(r))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(k.srv.Close)
	return k
}

// kialiPage reports, to the framing console, what Kiali received: the
// bearer token, the kiosk origin, and whether its own cookie comes back on
// an API call from inside the iframe.
func kialiPage(r *http.Request) string {
	kiosk := r.URL.Query().Get("kiosk")
	return `<!doctype html><html><head><title>Kiali</title></head>
<body style="background:#1b1d21;color:#fff;font-family:sans-serif">
<h1>Kiali (stand-in) via meshbundle kiali-proxy</h1>
<p id="auth">auth=` + r.Header.Get("Authorization") + `</p>
<p id="kiosk">kiosk=` + kiosk + `</p>
<p id="api">api=pending</p>
<script>
// Stand-in only: announce the load to any parent, so a page that is NOT
// allowed to frame us could tell if it had worked (the browser test).
parent.postMessage({loaded: location.origin}, "*");
fetch("/kiali/api/status", {credentials: "include"}).then(r => r.text()).then(t => {
  document.getElementById("api").textContent = "api=" + t;
  parent.postMessage({auth: document.getElementById("auth").textContent, kiosk: "kiosk=` + kiosk + `", api: "api=" + t}, ` + "`" + kiosk + "`" + `);
});
</script></body></html>`
}

const (
	console = "https://console.test"
	public  = "kiali.test"
)

func newProxy(t *testing.T, upstream string) http.Handler {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Upstream: u, WebRoot: "/kiali", ConsoleOrigins: []string{console}, Hosts: []string{public}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestProxy(t *testing.T) {
	kiali := newFakeKiali(t)
	p := newProxy(t, kiali.srv.URL)
	tests := []struct {
		name         string            // case
		method, url  string            // request line (url relative to the proxy)
		host         string            // Host header
		header       map[string]string // request headers
		wantStatus   int               // response status
		wantUpstream bool              // request reached Kiali
		check        func(t *testing.T, resp *http.Response, body string)
	}{
		{
			name:   "framed page: no X-Frame-Options, CSP allows only the console, cookies cross-site",
			method: "GET", url: "/kiali/console/overview?kiosk=" + url.QueryEscape(console), host: public,
			header:     map[string]string{"Sec-Fetch-Dest": "iframe", "Cookie": DefaultTokenCookie + "=console-token"},
			wantStatus: 200, wantUpstream: true,
			check: func(t *testing.T, resp *http.Response, body string) {
				if v := resp.Header.Values("X-Frame-Options"); len(v) != 0 {
					t.Errorf("X-Frame-Options %v survived", v)
				}
				if csp := resp.Header.Get("Content-Security-Policy"); csp != "default-src 'self' 'unsafe-inline'; frame-ancestors "+console {
					t.Errorf("CSP %q", csp)
				}
				cs := resp.Cookies()
				if len(cs) != 1 || cs[0].Name != "kiali-token-aes" || cs[0].SameSite != http.SameSiteNoneMode || !cs[0].Secure || !cs[0].Partitioned || !cs[0].HttpOnly || cs[0].Path != "/kiali" {
					t.Errorf("cookies %+v: want kiali-token-aes SameSite=None; Secure; Partitioned; HttpOnly; Path=/kiali", cs)
				}
				if !strings.Contains(body, "auth=Bearer console-token") || !strings.Contains(body, "kiosk="+console) {
					t.Errorf("Kiali did not get the console token and kiosk origin:\n%s", body)
				}
			},
		},
		{
			name:   "page without kiosk is redirected into kiosk mode for the console",
			method: "GET", url: "/kiali/console/graph?x=1", host: public,
			header:     map[string]string{"Sec-Fetch-Dest": "iframe", "Referer": console + "/"},
			wantStatus: 302,
			check: func(t *testing.T, resp *http.Response, _ string) {
				if loc := resp.Header.Get("Location"); loc != "/kiali/console/graph?kiosk="+url.QueryEscape(console)+"&x=1" {
					t.Errorf("Location %q", loc)
				}
			},
		},
		{
			name:   "kiosk addressed to another origin is replaced",
			method: "GET", url: "/kiali/?kiosk=" + url.QueryEscape("https://evil.test"), host: public,
			header:     map[string]string{"Accept": "text/html"},
			wantStatus: 302,
			check: func(t *testing.T, resp *http.Response, _ string) {
				if loc := resp.Header.Get("Location"); !strings.Contains(loc, "kiosk="+url.QueryEscape(console)) {
					t.Errorf("Location %q", loc)
				}
			},
		},
		{
			name:   "API call carries the bearer token from the cookie, not the cookie",
			method: "GET", url: "/kiali/api/status", host: public,
			header:     map[string]string{"Cookie": DefaultTokenCookie + "=tok; kiali-token-aes=s1"},
			wantStatus: 200, wantUpstream: true,
			check: func(t *testing.T, _ *http.Response, body string) {
				if body != "auth=Bearer tok cookie=true" {
					t.Errorf("Kiali saw %q", body)
				}
			},
		},
		{
			name:   "API call without a session is Kiali's 401",
			method: "GET", url: "/kiali/api/status", host: public,
			wantStatus: 401, wantUpstream: true,
		},
		{name: "other Host refused", method: "GET", url: "/kiali/", host: "evil.test", wantStatus: http.StatusMisdirectedRequest},
		{name: "absolute-form request for another host refused", method: "GET", url: "http://169.254.169.254/latest/meta-data", host: public, wantStatus: http.StatusMisdirectedRequest},
		{name: "path outside Kiali's web root not proxied", method: "GET", url: "/api/v1/namespaces", host: public, wantStatus: 404},
		{name: "CONNECT refused", method: "CONNECT", url: "/", host: "internal.svc:443", wantStatus: http.StatusMethodNotAllowed},
		{
			name:   "console hands over its token",
			method: "POST", url: SessionPath, host: public,
			header:     map[string]string{"Origin": console, "Authorization": "Bearer console-token"},
			wantStatus: 204,
			check: func(t *testing.T, resp *http.Response, _ string) {
				cs := resp.Cookies()
				if len(cs) != 1 || cs[0].Value != "console-token" || cs[0].SameSite != http.SameSiteNoneMode || !cs[0].Secure || !cs[0].HttpOnly || !cs[0].Partitioned {
					t.Errorf("session cookie %+v", cs)
				}
				if resp.Header.Get("Access-Control-Allow-Origin") != console || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
					t.Errorf("CORS headers %v", resp.Header)
				}
			},
		},
		{name: "another origin cannot hand over a token", method: "POST", url: SessionPath, host: public,
			header: map[string]string{"Origin": "https://evil.test", "Authorization": "Bearer x"}, wantStatus: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := kiali.calls.Load()
			resp, body := serveRaw(t, p, tc.method, tc.url, tc.host, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if reached := kiali.calls.Load() > before; reached != tc.wantUpstream {
				t.Errorf("reached Kiali: %v, want %v", reached, tc.wantUpstream)
			}
			if tc.check != nil {
				tc.check(t, resp, body)
			}
		})
	}
}

// serveRaw sends a raw HTTP/1.1 request through a real listener so
// absolute-form URIs and CONNECT arrive as a client would send them.
func serveRaw(t *testing.T, h http.Handler, method, target, host string, header map[string]string) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestConfigErrors(t *testing.T) {
	up, _ := url.Parse("http://kiali.istio-system:20001")
	tests := []struct {
		name    string // case
		cfg     Config // proxy config
		wantErr string // names the flag to fix
	}{
		{name: "no upstream", cfg: Config{WebRoot: "/kiali", ConsoleOrigins: []string{console}, Hosts: []string{public}}, wantErr: "--upstream"},
		{name: "no console origin", cfg: Config{Upstream: up, WebRoot: "/kiali", Hosts: []string{public}}, wantErr: "--console-origin"},
		{name: "origin with path", cfg: Config{Upstream: up, WebRoot: "/kiali", ConsoleOrigins: []string{console + "/app"}, Hosts: []string{public}}, wantErr: "--console-origin"},
		{name: "no host", cfg: Config{Upstream: up, WebRoot: "/kiali", ConsoleOrigins: []string{console}}, wantErr: "--host"},
		{name: "relative web root", cfg: Config{Upstream: up, WebRoot: "kiali", ConsoleOrigins: []string{console}, Hosts: []string{public}}, wantErr: "--web-root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to name %s", err, tc.wantErr)
			}
		})
	}
}

// TestWebRootPaths holds the web-root rule against paths that only look
// like they are below /kiali: the proxy decides on the decoded, cleaned path
// and forwards exactly that, so the upstream never resolves a dot segment
// the proxy did not see. The upstream here answers every path (/other/x
// included) and records the request line it got, so a leak shows as a 200
// with the upstream reached.
func TestWebRootPaths(t *testing.T) {
	var got atomic.Value // request-URI the upstream received last
	var calls atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		got.Store(r.RequestURI)
		fmt.Fprint(w, "upstream "+r.URL.Path)
	}))
	t.Cleanup(upstream.Close)
	p := newProxy(t, upstream.URL)

	tests := []struct {
		name       string // case
		target     string // request-target as sent on the wire
		wantStatus int    // proxy's answer
		wantURI    string // request-URI the upstream got; "" = not reached
	}{
		// Negative control: a plain path below the web root goes through as is.
		{name: "plain path below the web root", target: "/kiali/api/status", wantStatus: 200, wantURI: "/kiali/api/status"},
		{name: "raw dot segments out of the web root", target: "/kiali/../other/x", wantStatus: 404},
		{name: "encoded dot segments", target: "/kiali/%2e%2e/other/x", wantStatus: 404},
		{name: "encoded dot segments, upper case", target: "/kiali/%2E%2E/other/x", wantStatus: 404},
		{name: "half-encoded dot segment", target: "/kiali/.%2e/other/x", wantStatus: 404},
		{name: "encoded slash around dots", target: "/kiali/..%2fother/x", wantStatus: 404},
		{name: "encoded slash after the web root", target: "/kiali%2f..%2fother/x", wantStatus: 404},
		{name: "deeper climb out", target: "/kiali/console/../../other/x", wantStatus: 404},
		{name: "climb to the root", target: "/kiali/%2e%2e", wantStatus: 404},
		{name: "double-encoded dots refused", target: "/kiali/%252e%252e/other/x", wantStatus: 400},
		{name: "double-encoded slash refused", target: "/kiali/..%252fother", wantStatus: 400},
		{name: "encoded backslash refused", target: "/kiali/..%5cother%5cx", wantStatus: 400},
		{name: "raw backslash refused", target: `/kiali/..\other\x`, wantStatus: 400},
		{name: "encoded NUL refused", target: "/kiali/x%00", wantStatus: 400},
		{name: "dots inside the web root are resolved before forwarding", target: "/kiali/console/../api/./status", wantStatus: 200, wantURI: "/kiali/api/status"},
		{name: "encoded letters are forwarded decoded", target: "/kiali/%61pi/status", wantStatus: 200, wantURI: "/kiali/api/status"},
		{name: "trailing slash kept", target: "/kiali/console/./", wantStatus: 200, wantURI: "/kiali/console/"},
		{name: "query string untouched", target: "/kiali/api/../api/status?a=%2e%2e&b=1", wantStatus: 200, wantURI: "/kiali/api/status?a=%2e%2e&b=1"},
		{name: "session path reached by dots is the session endpoint, not Kiali", target: "/kiali/../meshbundle/session", wantStatus: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := calls.Load()
			resp, body := serveRaw(t, p, "GET", tc.target, public, nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			reached := calls.Load() > before
			if reached != (tc.wantURI != "") {
				t.Fatalf("reached the upstream: %v (body %q), want %v", reached, body, tc.wantURI != "")
			}
			if reached && got.Load() != tc.wantURI {
				t.Errorf("upstream got %q, want exactly %q", got.Load(), tc.wantURI)
			}
		})
	}
}

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		in, want string // decoded path, path forwarded
		wantErr  string // refusal reason; "" = accepted
	}{
		{in: "/kiali", want: "/kiali"},
		{in: "/kiali/", want: "/kiali/"},
		{in: "/kiali/a/../b", want: "/kiali/b"},
		{in: "/kiali/../x/", want: "/x/"},
		{in: "//kiali//a", want: "/kiali/a"},
		{in: "/..", want: "/"},
		{in: "kiali", wantErr: "must start with /"},
		{in: "/kiali/%2e", wantErr: "encoded twice"},
		{in: `/kiali\a`, wantErr: "backslash"},
		{in: "/kiali/\x7f", wantErr: "control"},
	}
	for _, tc := range tests {
		got, err := canonicalPath(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("canonicalPath(%q) = %q, %v; want an error naming %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
