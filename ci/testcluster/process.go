package testcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// process is one component we started: its real PID and its log file, kept so
// a failing test can show what the component said.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set when the process exits, read after done is closed
}

// startProcess runs bin with args, logging to dir/<name>.log. The process dies
// with the test binary (Pdeathsig), so a crashed test leaves nothing running.
func startProcess(dir, name, bin string, args []string, env []string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) PID() int { return p.cmd.Process.Pid }

// exited reports whether the process has already stopped, with its error.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM, then SIGKILL after the grace period.
func (p *process) stop(grace time.Duration) error {
	if done, _ := p.exited(); done {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string { return tailFile(p.log, n) }

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	ring := make([]string, 0, n)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		if len(ring) == n {
			ring = ring[1:]
		}
		ring = append(ring, sc.Text())
	}
	out := ""
	for _, l := range ring {
		out += l + "\n"
	}
	return out
}

// freePort finds a free loopback port below the kernel's ephemeral range
// (ip_local_port_range), where the kernel never puts the local end of an
// outgoing connection. A port from Listen(":0") is an ephemeral one, and
// between our check and the component's bind a client connection in the
// same network namespace (the apiserver's to etcd, istiod's own) could take
// it: istiod once failed so ("address already in use"). Ports handed out
// are not handed out again by this process.
func freePort() (int, error) {
	lo := ephemeralLow()
	for range lo - firstPort {
		port := int(nextPort.Add(1)-1)%(lo-firstPort) + firstPort
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("find a free port: none free in 127.0.0.1:%d-%d", firstPort, lo-1)
}

// firstPort is the first port freePort tries; nextPort counts from a random
// start, so two test binaries sharing a network namespace rarely collide.
const firstPort = 10000

var nextPort = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(rand.Int64N(20000))
	return &n
}()

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// if it cannot be read).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(data))
	if len(fields) < 1 {
		return 32768
	}
	lo, err := strconv.Atoi(fields[0])
	if err != nil || lo <= firstPort+100 {
		return 32768
	}
	return lo
}

func freeAddr() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// poll calls check every interval until it returns true, an error, or ctx ends.
// The last non-nil "not yet" reason is reported on timeout.
func poll(ctx context.Context, interval time.Duration, what string, check func(ctx context.Context) (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr error
	for {
		ok, err := check(ctx)
		if ok {
			return nil
		}
		if errors.Is(err, errExited) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), lastErr)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

var errExited = errors.New("process exited")

// aliveCheck wraps a readiness check so it fails fast when the process died.
func aliveCheck(p *process, check func(ctx context.Context) (bool, error)) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		if done, err := p.exited(); done {
			return false, fmt.Errorf("%s: %w (%v); last log lines:\n%s", p.name, errExited, err, p.tail(30))
		}
		return check(ctx)
	}
}
