package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv selects a helper role when this test binary is run by one of its
// own tests (see runHelper).
const helperEnv = "MESHBUNDLE_NETNS_TEST_HELPER"

// The package's tests run inside the namespace they test, like every e2e
// test binary; helpers start from wherever their test put them.
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		RunTests(m, nil)
	case "forward":
		Enter(Forward(true))
	}
	os.Exit(m.Run())
}

// Inside the namespace: only lo, kwok's pod range local, no outside
// resolver, nothing else reachable — and a dial outside fails at once.
func TestInsideTheNamespace(t *testing.T) {
	if !Inside() {
		t.Fatal("TestMain did not enter the namespace")
	}
	if err := Check(); err != nil {
		t.Fatalf("Check inside the namespace: %v", err)
	}
	if os.Getpid() != 1 {
		t.Errorf("pid %d: want 1, the first process of a PID namespace of our own", os.Getpid())
	}
	conf, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || string(conf) != resolvConf {
		t.Errorf("/etc/resolv.conf = %q, %v; want the namespace's own", conf, err)
	}

	// A server can listen on a pod IP and be reached there.
	l, err := net.Listen("tcp", "10.244.3.7:0")
	if err != nil {
		t.Fatalf("listen on a pod IP: %v", err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			_, _ = c.Write([]byte("pod"))
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
	if err != nil {
		t.Fatalf("dial the pod IP: %v", err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "pod" {
		t.Errorf("pod IP answered %q", got)
	}

	// A Service IP, the machine's resolver and a public address are not
	// routed: the dial fails at once and leaves no socket behind.
	for _, addr := range []string{"10.96.0.1:443", "10.255.255.53:53", "192.0.2.1:80", "[2001:db8::1]:80"} {
		start := time.Now()
		_, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err == nil {
			t.Errorf("dial %s succeeded; want it unreachable", addr)
			continue
		}
		if !errors.Is(err, syscall.ENETUNREACH) || time.Since(start) > time.Second {
			t.Errorf("dial %s: %v after %s; want ENETUNREACH at once", addr, err, time.Since(start))
		}
	}
	if _, err := net.DefaultResolver.LookupHost(context.Background(), "istiod.istio-system.svc"); err == nil {
		t.Error("a cluster name resolved; want no resolver")
	}
	foreign, err := ForeignPeers()
	if err != nil || len(foreign) > 0 {
		t.Errorf("ForeignPeers = %v, %v; want none", foreign, err)
	}
}

// Fail closed: in a network namespace where another interface is up and
// routed (a veth pair inside a namespace of this test's own: nothing leaves),
// Check refuses and says why and what to do.
func TestCheckRefusesARoutedInterface(t *testing.T) {
	out := runHelper(t, "check", syscall.CLONE_NEWNET,
		"ip link add v0 type veth peer name v1 && ip addr add 198.51.100.10/24 dev v0 && ip link set v0 up && ip link set v1 up")
	for _, want := range []string{"refusing to start", "interface v0 is up", "routes through v0", "netns.Enter", "root",
		// The live negative control for ForeignPeers: a connected UDP
		// socket to an address behind v0 (connect sends nothing).
		"foreign: udp 198.51.100.10:", "-> 198.51.100.20:9"} {
		if !strings.Contains(out, want) {
			t.Errorf("Check's refusal lacks %q:\n%s", want, out)
		}
	}
	// The control: the same helper in a namespace with only lo passes.
	if out := runHelper(t, "check", syscall.CLONE_NEWNET, "ip link set lo up"); !strings.Contains(out, "check: ok") {
		t.Errorf("Check in a lo-only namespace: %s", out)
	}
}

func TestHelperCheck(t *testing.T) {
	if os.Getenv(helperEnv) != "check" {
		t.Skip("helper for TestCheckRefusesARoutedInterface")
	}
	if err := Check(); err != nil {
		fmt.Println("check:", err)
		c, err := net.Dial("udp", "198.51.100.20:9")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		foreign, err := ForeignPeers()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range foreign {
			fmt.Println("foreign:", s)
		}
		return
	}
	fmt.Println("check: ok")
}

// Forward: the caller's 127.0.0.1:P reaches the namespace's 127.0.0.1:P, and
// no other port of the namespace is reachable from outside.
func TestForwardOnlyThePort(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperForward$")
	cmd.Env = append(OutsideEnv(), helperEnv+"=forward")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var fwd, other string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "READY %s %s", &fwd, &other); err == nil {
			break
		}
	}
	if fwd == "" {
		t.Fatal("helper never became ready")
	}
	got, err := readFrom("127.0.0.1:" + fwd)
	if err != nil {
		t.Fatalf("forwarded port: %v", err)
	}
	if got != "inside" {
		t.Errorf("forwarded port answered %q; want the server inside", got)
	}
	if got, err := readFrom("127.0.0.1:" + other); err == nil {
		t.Errorf("an unforwarded port of the namespace answered %q from outside", got)
	}
}

func TestHelperForward(t *testing.T) {
	if os.Getenv(helperEnv) != "forward" {
		t.Skip("helper for TestForwardOnlyThePort")
	}
	port := ForwardedPort()
	if port == 0 || !Inside() {
		t.Fatalf("ForwardedPort = %d, Inside = %v", port, Inside())
	}
	serve := func(addr string) net.Listener {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("inside"))
				c.Close()
			}
		}()
		return l
	}
	serve(fmt.Sprintf("127.0.0.1:%d", port))
	other := serve("127.0.0.1:0")
	fmt.Printf("READY %d %d\n", port, other.Addr().(*net.TCPAddr).Port)
	time.Sleep(30 * time.Second) // the test kills us when done
}

func readFrom(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	if len(b) == 0 && err == nil {
		err = io.EOF
	}
	return string(b), err
}

// runHelper runs this test binary's TestHelper<Role> in new namespaces
// (cloneflags) after the shell commands setup, and returns its output.
func runHelper(t *testing.T, role string, cloneflags uintptr, setup string) string {
	t.Helper()
	name := strings.ToUpper(role[:1]) + role[1:]
	cmd := exec.Command("sh", "-c", setup+` && exec "$0" -test.run="^TestHelper`+name+`$"`, os.Args[0])
	cmd.Env = append(OutsideEnv(), helperEnv+"="+role)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s: %v\n%s", role, err, out)
	}
	return string(out)
}

// The socket table parser and the rule for what is our own, on the
// kernel's format; the foreign rows are the negative control for
// TestInsideTheNamespace's "none".
func TestParseSocketsFlagsForeignPeers(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A2B4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0703F40A:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 010012C6:D431 0100600A:01BB 02 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 20 4 30 10 -1
   4: 010012C6:D432 35FFFF0A:0035 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:B0C2 01 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 20 4 30 10 -1
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:B0C3 01 00000000:00000000 00:00000000 00000000     0        0 7 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000001000000:B0C4 B80D0120000000000000000001000000:0050 02 00000000:00000000 00:00000000 00000000     0        0 8 1 0000000000000000 20 4 30 10 -1
`
	tests := []struct {
		proto   string
		table   string
		foreign []string // the sockets ForeignPeers must report, as Socket.String
	}{
		{"tcp", tcp, []string{
			"tcp 198.18.0.1:54321 -> 10.96.0.1:443 SYN_SENT", // a Service IP
			"tcp 198.18.0.1:54322 -> 10.255.255.53:53 ESTABLISHED",
		}},
		{"tcp6", tcp6, []string{"tcp6 [::1]:45252 -> [2001:db8::1]:80 SYN_SENT"}},
	}
	for _, tt := range tests {
		socks, err := parseSockets(tt.proto, strings.NewReader(tt.table))
		if err != nil {
			t.Fatalf("%s: %v", tt.proto, err)
		}
		var got []string
		for _, s := range socks {
			if !OwnAddress(s.Remote.Addr()) {
				got = append(got, s.String())
			}
		}
		if strings.Join(got, "\n") != strings.Join(tt.foreign, "\n") {
			t.Errorf("%s foreign peers:\n got %q\nwant %q", tt.proto, got, tt.foreign)
		}
	}
	// The pod IP row (2) parsed to the right address: the byte order matters.
	socks, _ := parseSockets("tcp", strings.NewReader(tcp))
	if want := netip.MustParseAddrPort("10.244.3.7:8080"); socks[2].Local != want {
		t.Errorf("row 2 local = %s; want %s", socks[2].Local, want)
	}
}

func TestRouteDevices(t *testing.T) {
	route := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"lo\t0000F40A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	devs, err := routeDevices(strings.NewReader(route))
	if err != nil || strings.Join(devs, ",") != "eth0,lo" {
		t.Errorf("routeDevices = %v, %v; want eth0,lo", devs, err)
	}
	v6 := "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n" +
		"00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
	devs, err = ipv6RouteDevices(strings.NewReader(v6))
	if err != nil || strings.Join(devs, ",") != "eth0,lo" {
		t.Errorf("ipv6RouteDevices = %v, %v; want eth0,lo", devs, err)
	}
}
