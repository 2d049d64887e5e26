package netns

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Socket is one entry of /proc/net/{tcp,tcp6,udp,udp6}.
type Socket struct {
	Proto  string // tcp, tcp6, udp, udp6
	Local  netip.AddrPort
	Remote netip.AddrPort
	State  string // TCP state name (ESTABLISHED, SYN_SENT, ...), or the raw hex for UDP
}

func (s Socket) String() string {
	return fmt.Sprintf("%s %s -> %s %s", s.Proto, s.Local, s.Remote, s.State)
}

var podPrefix = netip.MustParsePrefix(PodCIDR)

// OwnAddress reports whether a peer address stays inside the namespace:
// unspecified (a listener), loopback, HostAddr, or a pod IP (a local route).
func OwnAddress(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsUnspecified() || a.IsLoopback() || a == netip.MustParseAddr(HostAddr) || podPrefix.Contains(a)
}

// ForeignPeers lists the sockets of this network namespace whose peer is
// not one of its own addresses (OwnAddress): in a namespace set up by Enter
// none can carry a packet off the machine, so any such socket is a component
// trying to (a connect that failed stays listed until closed).
func ForeignPeers() ([]Socket, error) {
	var out []Socket
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open("/proc/net/" + proto)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		socks, err := parseSockets(proto, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("/proc/net/%s: %w", proto, err)
		}
		for _, s := range socks {
			if !OwnAddress(s.Remote.Addr()) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// parseSockets reads the kernel's socket table format: a header line, then
// "sl local_address rem_address st ..." with addresses as hex words in host
// (little-endian) byte order and the port as big hex.
func parseSockets(proto string, r io.Reader) ([]Socket, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var out []Socket
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		local, err := parseAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		remote, err := parseAddrPort(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		state := f[3]
		if strings.HasPrefix(proto, "tcp") {
			if name, ok := tcpStates[state]; ok {
				state = name
			}
		}
		out = append(out, Socket{Proto: proto, Local: local, Remote: remote, State: state})
	}
	return out, sc.Err()
}

func parseAddrPort(s string) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q: no port", s)
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q: not 4 or 16 hex bytes", s)
	}
	// Each 32-bit word is in host byte order (little-endian on every
	// machine this runs on).
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: port: %w", s, err)
	}
	return netip.AddrPortFrom(addr, uint16(p)), nil
}

// Watch samples ForeignPeers every interval until stop is called; stop
// returns every foreign socket seen (each once) and the first read error.
// The harness runs it for the whole of a test binary, so a component that
// tries to reach outside fails the run even if its socket was short-lived.
func Watch(interval time.Duration) (stop func() ([]Socket, error)) {
	var (
		mu      sync.Mutex
		seen    = map[string]Socket{}
		order   []string
		readErr error
	)
	sample := func() {
		socks, err := ForeignPeers()
		mu.Lock()
		defer mu.Unlock()
		if err != nil && readErr == nil {
			readErr = err
		}
		for _, s := range socks {
			k := s.Proto + " " + s.Local.String() + " " + s.Remote.String()
			if _, ok := seen[k]; !ok {
				seen[k] = s
				order = append(order, k)
			}
		}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			sample()
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() ([]Socket, error) {
		close(quit)
		<-done
		sample()
		mu.Lock()
		defer mu.Unlock()
		out := make([]Socket, 0, len(order))
		for _, k := range order {
			out = append(out, seen[k])
		}
		return out, readErr
	}
}

// RunTests is a TestMain for tests that must not reach outside: it enters
// the namespace (Enter), runs setup, the tests and the teardown setup
// returned, and exits with the tests' code — or 1 when any socket of the
// namespace had a peer outside it while they ran (Watch), even if every test
// passed.
func RunTests(m interface{ Run() int }, setup func() (teardown func(code int), err error)) {
	Enter()
	stopWatch := Watch(250 * time.Millisecond)
	teardown := func(int) {}
	if setup != nil {
		var err error
		if teardown, err = setup(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	teardown(code)
	foreign, err := stopWatch()
	if err != nil {
		fmt.Fprintf(os.Stderr, "netns: watching sockets: %v\n", err)
		code = 1
	}
	if len(foreign) > 0 {
		fmt.Fprintf(os.Stderr, "netns: %d socket(s) had a peer outside the test namespace (only 127.0.0.0/8, %s and %s are ours):\n", len(foreign), HostAddr, PodCIDR)
		for _, s := range foreign {
			fmt.Fprintf(os.Stderr, "  %s\n", s)
		}
		code = 1
	}
	os.Exit(code)
}
