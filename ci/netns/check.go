package netns

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

// Check fails closed: it refuses a network namespace in which anything but
// lo is up or routed, so the control plane never starts where a packet could
// leave the machine. The error says why and how to fix it.
func Check() error {
	var found []string
	ifaces, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("netns: list network interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback == 0 && ifc.Flags&net.FlagUp != 0 {
			found = append(found, "interface "+ifc.Name+" is up")
		}
	}
	for _, table := range []struct {
		path  string
		parse func(io.Reader) ([]string, error)
	}{{"/proc/net/route", routeDevices}, {"/proc/net/ipv6_route", ipv6RouteDevices}} {
		f, err := os.Open(table.path)
		if os.IsNotExist(err) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return fmt.Errorf("netns: read routes: %w", err)
		}
		devs, err := table.parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("netns: %s: %w", table.path, err)
		}
		for _, d := range devs {
			if d != "lo" {
				found = append(found, table.path+" routes through "+d)
			}
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("netns: refusing to start the local control plane: this network namespace reaches beyond this machine (%s); "+
			"the pod and Service ranges are not local here, so traffic to them would leave. Start it through netns.Enter "+
			"(testcluster.Main does; the demo and bench do), as root, so it runs in a namespace with only lo",
			strings.Join(dedupe(found), "; "))
	}
	return nil
}

// routeDevices lists the interface of every route in /proc/net/route.
func routeDevices(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	var devs []string
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		devs = append(devs, f[0])
	}
	return devs, sc.Err()
}

// ipv6RouteDevices lists the interface of every route in /proc/net/ipv6_route
// (the last field; no header), leaving out the kernel's unreachable routes
// on lo that every namespace has.
func ipv6RouteDevices(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	var devs []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		devs = append(devs, f[len(f)-1])
	}
	return devs, sc.Err()
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
