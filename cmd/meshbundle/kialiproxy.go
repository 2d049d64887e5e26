package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbundle/meshbundle/failure"
	"github.com/meshbundle/meshbundle/kialiproxy"
)

func newKialiProxyCmd() *cobra.Command {
	var (
		listen, upstream, webRoot, tokenCookie, certFile, keyFile string
		origins, hosts                                            []string
	)
	cmd := &cobra.Command{
		Use:   "kiali-proxy",
		Short: "Serve Kiali embeddable in the product console (frame-ancestors, bearer auth, kiosk mode, cross-site cookies)",
		Long: `Reverse proxy in front of one Kiali (auth strategy "header") that lets only
the console origins frame it: it drops X-Frame-Options, sets
Content-Security-Policy frame-ancestors to --console-origin, passes the
console's token to Kiali as Authorization: Bearer, keeps Kiali's UI in kiosk
mode addressed to the console, and rewrites Kiali's cookies to
SameSite=None; Secure; Partitioned. It serves only --host names and only
Kiali's --web-root; it is not an open proxy.

The console hands over its token once, from its own page:
  fetch("https://<kiali host>/meshbundle/session",
        {method: "POST", credentials: "include", headers: {Authorization: "Bearer " + token}})
then frames https://<kiali host>/kiali/. Browsers only keep SameSite=None
cookies over HTTPS: serve with --tls-cert/--tls-key or behind a TLS ingress.`,
		Example: `  meshbundle kiali-proxy --upstream http://kiali.istio-system:20001 \
    --console-origin https://console.example.com --host kiali.example.com \
    --listen :8443 --tls-cert tls.crt --tls-key tls.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			up, err := url.Parse(upstream)
			if err != nil {
				return failure.BadInputf("--upstream %q: %v (fix: give Kiali's base URL, e.g. http://kiali.istio-system:20001)", upstream, err)
			}
			if (certFile == "") != (keyFile == "") {
				return failure.BadInputf("--tls-cert and --tls-key go together (fix: give both, or neither)")
			}
			h, err := kialiproxy.New(kialiproxy.Config{Upstream: up, WebRoot: webRoot, ConsoleOrigins: origins, Hosts: hosts, TokenCookie: tokenCookie})
			if err != nil {
				return &failure.BadInputError{Err: err, Fix: "see meshbundle kiali-proxy --help"}
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return failure.BadInputf("--listen %q: %v (fix: give a free host:port, e.g. :8443)", listen, err)
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = srv.Shutdown(shutdown)
			}()
			fmt.Fprintf(cmd.ErrOrStderr(), "kiali-proxy: serving %v on %s -> %s (frame-ancestors %v)\n", hosts, ln.Addr(), up, origins)
			if certFile != "" {
				err = srv.ServeTLS(ln, certFile, keyFile)
			} else {
				err = srv.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", ":8443", "address to listen on")
	fl.StringVar(&upstream, "upstream", "http://kiali.istio-system:20001", "Kiali's in-cluster base URL (the only upstream)")
	fl.StringVar(&webRoot, "web-root", "/kiali", "Kiali's server.web_root; only paths below it are proxied")
	fl.StringArrayVar(&origins, "console-origin", nil, "origin allowed to frame Kiali, e.g. https://console.example.com (repeatable)")
	fl.StringArrayVar(&hosts, "host", nil, "public host name of this proxy, with :port if not default (repeatable); other Host headers are refused")
	fl.StringVar(&tokenCookie, "token-cookie", kialiproxy.DefaultTokenCookie, "cookie holding the console's token")
	fl.StringVar(&certFile, "tls-cert", "", "TLS certificate file (PEM)")
	fl.StringVar(&keyFile, "tls-key", "", "TLS key file (PEM)")
	return cmd
}
