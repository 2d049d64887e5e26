// Package kialiproxy makes Kiali embeddable in the product console: a
// reverse proxy in front of exactly one Kiali that
//   - lets only the configured console origins frame it (drops
//     X-Frame-Options, sets CSP frame-ancestors to those origins),
//   - turns the console's session into `Authorization: Bearer` for Kiali's
//     `header` auth strategy,
//   - keeps Kiali in kiosk mode addressed to the framing console origin,
//   - rewrites Kiali's cookies (SameSite=None; Secure; Partitioned) so a
//     cross-site iframe keeps them,
//   - and is never an open proxy: one upstream, own host names only.
package kialiproxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Config describes one proxy.
type Config struct {
	// Upstream is Kiali's in-cluster base URL, e.g.
	// http://kiali.istio-system:20001. Requests only ever go there.
	Upstream *url.URL
	// WebRoot is Kiali's server.web_root (/kiali). Only paths below it are
	// proxied, judged on the decoded path with dot segments resolved, and
	// that path is what Kiali gets.
	WebRoot string
	// ConsoleOrigins may frame Kiali, e.g. https://console.example.com.
	ConsoleOrigins []string
	// Hosts are the proxy's own public host names (with port when not the
	// default). Requests for any other Host are refused.
	Hosts []string
	// TokenCookie holds the console's bearer token on the proxy's host
	// (set through SessionPath).
	TokenCookie string
	// Transport reaches the upstream; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// SessionPath is where the console hands its token to the proxy:
// POST with `Authorization: Bearer <token>` (credentials: include) stores it
// in TokenCookie; DELETE removes it.
const SessionPath = "/meshbundle/session"

// DefaultTokenCookie is the cookie carrying the console's token.
const DefaultTokenCookie = "meshbundle_console_token"

// Validate reports the first unusable field, naming the flag to fix.
func (c *Config) Validate() error {
	if c.Upstream == nil || c.Upstream.Host == "" || (c.Upstream.Scheme != "http" && c.Upstream.Scheme != "https") {
		return errors.New("--upstream: want Kiali's base URL, e.g. http://kiali.istio-system:20001")
	}
	if !strings.HasPrefix(c.WebRoot, "/") {
		return fmt.Errorf("--web-root %q: must start with / (Kiali's server.web_root, e.g. /kiali)", c.WebRoot)
	}
	if len(c.ConsoleOrigins) == 0 {
		return errors.New("--console-origin: at least one origin (e.g. https://console.example.com) must be allowed to frame Kiali")
	}
	for _, o := range c.ConsoleOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return fmt.Errorf("--console-origin %q: want scheme://host[:port] with nothing after it", o)
		}
	}
	if len(c.Hosts) == 0 {
		return errors.New("--host: name the proxy's public host (e.g. kiali.example.com); other hosts are refused")
	}
	if c.TokenCookie == "" {
		c.TokenCookie = DefaultTokenCookie
	}
	return nil
}

// New returns the proxy handler.
func New(c Config) (http.Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &proxy{cfg: c, webRoot: strings.TrimSuffix(c.WebRoot, "/")}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		ModifyResponse: p.modifyResponse,
		Transport:      c.Transport,
	}
	return p, nil
}

type proxy struct {
	cfg     Config
	webRoot string
	rp      *httputil.ReverseProxy
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Not an open proxy: no tunnels, no absolute-form requests for other
	// hosts, no Host we do not serve.
	if r.Method == http.MethodConnect {
		http.Error(w, "CONNECT is not supported: this proxy only serves Kiali", http.StatusMethodNotAllowed)
		return
	}
	if (r.URL.Host != "" && !p.ownHost(r.URL.Host)) || !p.ownHost(r.Host) {
		http.Error(w, "unknown host: this proxy only serves Kiali on its own host names", http.StatusMisdirectedRequest)
		return
	}
	// Every decision below, and the request sent upstream, use one path:
	// the decoded, cleaned one. Checking the raw path and forwarding it let
	// /kiali/../other and /kiali/%2e%2e/other reach the upstream's /other,
	// which resolves the dot segments the prefix check did not.
	clean, err := canonicalPath(r.URL.Path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r = r.Clone(r.Context())
	r.URL.Path, r.URL.RawPath = clean, ""
	if clean == SessionPath {
		p.session(w, r)
		return
	}
	if clean != p.webRoot && !strings.HasPrefix(clean, p.webRoot+"/") {
		http.NotFound(w, r)
		return
	}
	if target, ok := p.kioskRedirect(r); ok {
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// canonicalPath returns the request path the proxy decides on and forwards:
// decoded once (net/url already did, as the upstream's server would) and
// with its dot segments resolved (as the upstream's router would), a
// trailing slash kept. Paths whose meaning a second decoder or another
// server's rules could still change are refused instead of guessed at: a
// '%' left after decoding (double encoding: %252e%252e is %2e%2e once
// decoded and .. twice), a backslash (a path separator to some servers and
// to browsers' URL parsers), control characters.
func canonicalPath(decoded string) (string, error) {
	if !strings.HasPrefix(decoded, "/") {
		return "", fmt.Errorf("path %q: must start with /", decoded)
	}
	for _, c := range []byte(decoded) {
		switch {
		case c == '%':
			return "", fmt.Errorf("path %q: encoded twice (a %% is left after decoding); send it encoded once", decoded)
		case c == '\\':
			return "", fmt.Errorf("path %q: backslashes are not accepted in paths; use /", decoded)
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("path %q: control characters are not accepted in paths", decoded)
		}
	}
	clean := path.Clean(decoded)
	if strings.HasSuffix(decoded, "/") && clean != "/" {
		clean += "/"
	}
	return clean, nil
}

func (p *proxy) ownHost(host string) bool {
	return slices.ContainsFunc(p.cfg.Hosts, func(h string) bool { return strings.EqualFold(h, host) })
}

func (p *proxy) allowedOrigin(o string) bool { return slices.Contains(p.cfg.ConsoleOrigins, o) }

// rewrite sends every request to the one upstream, whatever it asked for.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.cfg.Upstream)
	pr.SetXForwarded()
	// The console's session is Kiali's identity (header strategy). A
	// request that already carries a bearer token keeps it.
	if pr.Out.Header.Get("Authorization") == "" {
		if c, err := pr.In.Cookie(p.cfg.TokenCookie); err == nil && c.Value != "" {
			pr.Out.Header.Set("Authorization", "Bearer "+c.Value)
		}
	}
	// Kiali has no use for our cookie; do not leak the token twice.
	removeCookie(pr.Out, p.cfg.TokenCookie)
}

func removeCookie(r *http.Request, name string) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != name {
			r.AddCookie(c)
		}
	}
}

// kioskRedirect keeps Kiali's UI in kiosk mode addressed to the console:
// Kiali posts navigation messages to the kiosk origin, so it must be one of
// ours. Only page navigations are redirected; API calls pass.
func (p *proxy) kioskRedirect(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, p.webRoot+"/api/") || !acceptsHTML(r) {
		return "", false
	}
	q := r.URL.Query()
	if k := q.Get("kiosk"); k != "" && p.allowedOrigin(k) {
		return "", false
	}
	q.Set("kiosk", p.framingOrigin(r))
	u := *r.URL
	u.Scheme, u.Host = "", ""
	u.RawQuery = q.Encode()
	return u.String(), true
}

func acceptsHTML(r *http.Request) bool {
	if d := r.Header.Get("Sec-Fetch-Dest"); d != "" {
		return d == "iframe" || d == "document"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// framingOrigin is the console origin that framed this request (from its
// Referer, which browsers send as the origin for cross-site navigations),
// or the first configured one.
func (p *proxy) framingOrigin(r *http.Request) string {
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host != "" {
		if o := ref.Scheme + "://" + ref.Host; p.allowedOrigin(o) {
			return o
		}
	}
	return p.cfg.ConsoleOrigins[0]
}

// modifyResponse makes Kiali's responses frameable by the console only and
// its cookies usable inside a cross-site iframe.
func (p *proxy) modifyResponse(resp *http.Response) error {
	h := resp.Header
	h.Del("X-Frame-Options")
	h.Set("Content-Security-Policy", withFrameAncestors(h.Values("Content-Security-Policy"), p.cfg.ConsoleOrigins))
	cookies := resp.Cookies()
	h.Del("Set-Cookie")
	for _, c := range cookies {
		crossSite(c)
		h.Add("Set-Cookie", c.String())
	}
	return nil
}

// crossSite makes a cookie survive in an iframe on another site: browsers
// drop SameSite=Strict/Lax cookies there, and SameSite=None needs Secure.
// Partitioned (CHIPS) keeps it working where third-party cookies are
// blocked: the cookie is then keyed to the console's site.
func crossSite(c *http.Cookie) {
	c.SameSite = http.SameSiteNoneMode
	c.Secure = true
	c.Partitioned = true
}

// withFrameAncestors keeps Kiali's own CSP directives but replaces any
// frame-ancestors with the console origins. Directives are separated by ";"
// (CSP Level 3, section 2.2); several header values all apply, so they are
// folded into one policy.
func withFrameAncestors(policies []string, origins []string) string {
	var out []string
	for _, pol := range policies {
		for _, d := range strings.Split(pol, ";") {
			d = strings.TrimSpace(d)
			name, _, _ := strings.Cut(d, " ")
			if d == "" || strings.EqualFold(name, "frame-ancestors") {
				continue
			}
			out = append(out, d)
		}
	}
	out = append(out, "frame-ancestors "+strings.Join(origins, " "))
	return strings.Join(out, "; ")
}

// session stores or clears the console's token (see SessionPath). It is a
// credentialed CORS endpoint for the console origins only.
func (p *proxy) session(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if !p.allowedOrigin(origin) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	switch r.Method {
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", "POST, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization")
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			http.Error(w, "want Authorization: Bearer <console token>", http.StatusBadRequest)
			return
		}
		c := &http.Cookie{Name: p.cfg.TokenCookie, Value: token, Path: "/", HttpOnly: true}
		crossSite(c)
		http.SetCookie(w, c)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		c := &http.Cookie{Name: p.cfg.TokenCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1}
		crossSite(c)
		http.SetCookie(w, c)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "use POST or DELETE", http.StatusMethodNotAllowed)
	}
}
