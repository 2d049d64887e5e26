// Package netns keeps every packet of the tests, the demo and the bench on
// this machine. The local control plane gives pods and Services addresses in
// 10.244.0.0/16 and 10.96.0.0/16; on the build machines those ranges are not
// local, so anything that dials one (an admission webhook landing on a kwok
// pod IP, a DNS lookup of a .svc name, a client following an EndpointSlice)
// would send traffic off the machine. So the harness runs in namespaces of
// its own:
//
//   - a network namespace with only lo: 127.0.0.0/8, 198.18.0.1 (a host
//     address for components that want one), and kwok's pod range as a local
//     route, so a data-plane server can listen on a pod's IP; nothing else is
//     routed, and a dial to any other address fails at once (ENETUNREACH);
//   - a PID namespace, so every process of the run ends with it: when the
//     process that entered is killed, even with SIGKILL, the kernel kills
//     all the others;
//   - a mount namespace, for a /proc of that PID namespace and an
//     /etc/resolv.conf that names no outside resolver.
//
// Enter re-executes the program inside them (it needs root); Check refuses a
// namespace that routes anything but lo. Forward lets one TCP port of the
// namespace (the API server's, for `go run ./ci/demo --keep`) be reached from
// the caller's own 127.0.0.1, and nothing else crosses.
package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// PodCIDR is kwok's pod range (ci/testcluster passes it to kwok). It is a
// local route inside the namespace, so servers can listen on pod IPs.
const PodCIDR = "10.244.0.0/16"

// HostAddr is the namespace's one address besides loopback (RFC 2544's
// benchmarking range, never routed on the internet).
const HostAddr = "198.18.0.1"

// resolvConf replaces the machine's resolver inside the namespace: lookups of
// cluster names fail at once on 127.0.0.1:53 instead of leaving the machine.
const resolvConf = "# meshbundle test namespace: no resolver (ci/netns)\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"

const (
	envInside  = "MESHBUNDLE_NETNS"         // set for the re-executed process
	envForward = "MESHBUNDLE_NETNS_FORWARD" // the forwarded port, see Forward
)

// Option changes what Enter does.
type Option func(*options)

type options struct {
	forward bool
}

// Forward makes Enter forward one port: the outer process listens on a free
// port P of the caller's 127.0.0.1 and relays each connection to 127.0.0.1:P
// inside the namespace; the program inside reads P with ForwardedPort and
// serves on it (the demo's API server). Only that port crosses.
func Forward(on bool) Option { return func(o *options) { o.forward = on } }

// ForwardedPort is the port Forward set up, or 0.
func ForwardedPort() int {
	p, _ := strconv.Atoi(os.Getenv(envForward))
	return p
}

// OutsideEnv is this process's environment without what marks it as inside
// a namespace: a child started with it enters a namespace of its own when it
// calls Enter (tests of the isolation itself start such children).
func OutsideEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != envInside && k != envForward {
			out = append(out, kv)
		}
	}
	return out
}

// Inside reports whether this process was started by Enter.
func Inside() bool { return os.Getenv(envInside) != "" }

// Enter runs this program inside a fresh network, PID and mount namespace.
// Called in the program as started, it re-executes it there with the same
// arguments, standard streams and environment, relays signals, waits and
// exits with its exit code: it does not return. Called again in the
// re-executed program, it sets the namespace up (lo, routes, /proc,
// resolv.conf), checks it (Check) and returns. Call it first in main or
// TestMain, before any goroutine that dials.
func Enter(opts ...Option) {
	if Inside() {
		if err := setUp(); err != nil {
			fmt.Fprintf(os.Stderr, "netns: %v\n", err)
			os.Exit(1)
		}
		return
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	code, err := runInside(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netns: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// runInside starts this program again in new namespaces and waits for it.
func runInside(o options) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("find this program to re-execute: %w", err)
	}
	env := append(os.Environ(), envInside+"=1")
	var fwd net.Listener
	if o.forward {
		if fwd, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return 0, fmt.Errorf("listen for the forwarded port: %w", err)
		}
		defer fwd.Close()
		env = append(env, envForward+"="+strconv.Itoa(fwd.Addr().(*net.TCPAddr).Port))
	}
	cmd := &exec.Cmd{Path: exe, Args: os.Args, Env: env, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS,
		// Killed with us, even by SIGKILL; it is the namespace's init, so
		// every process in it dies with it.
		Pdeathsig: syscall.SIGKILL,
		// Terminal signals reach us only; we relay them once.
		Setpgid: true,
	}
	// Pdeathsig follows the thread that started the child: keep it alive.
	runtime.LockOSThread()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) {
			return 0, fmt.Errorf("the tests, the demo and the bench run in a network namespace of their own, so that nothing they send leaves this machine; creating it needs root: run as root (e.g. sudo -E make test): %w", err)
		}
		return 0, fmt.Errorf("start %s in a new network namespace: %w", exe, err)
	}
	if fwd != nil {
		go forward(fwd, cmd.Process.Pid)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return exit.ExitCode(), nil
			}
			if err != nil {
				return 0, err
			}
			return 0, nil
		}
	}
}

// setUp runs in the re-executed program, as the first process of its new
// namespaces.
func setUp() error {
	// Mounts made here must not propagate to the machine's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private in the new mount namespace: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc for the new PID namespace: %w", err)
	}
	if err := replaceResolvConf(); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", HostAddr + "/32", "dev", "lo"},
		{"route", "add", "local", PodCIDR, "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s (iproute2 is needed: apt-get install iproute2)", strings.Join(args, " "), err, out)
		}
	}
	// Nothing in the namespace may reach the module proxy either: a build
	// inside uses the module cache the build outside filled, or fails fast.
	os.Setenv("GOPROXY", "off")
	return Check()
}

// replaceResolvConf bind-mounts a resolv.conf with no outside resolver over
// the machine's (only in this mount namespace).
func replaceResolvConf() error {
	dir, err := os.MkdirTemp("", "meshbundle-netns-")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(path, []byte(resolvConf), 0o644); err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks("/etc/resolv.conf")
	if err != nil {
		// No resolv.conf at all: nothing to look up through.
		return nil
	}
	if err := unix.Mount(path, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s over %s: %w", path, target, err)
	}
	return nil
}
