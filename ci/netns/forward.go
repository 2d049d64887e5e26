package netns

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// forward relays every connection accepted on l (the caller's 127.0.0.1:P)
// to 127.0.0.1:P inside the network namespace of process pid. It runs in the
// outer process until l is closed.
func forward(l net.Listener, pid int) {
	port := l.Addr().(*net.TCPAddr).Port
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	nsPath := fmt.Sprintf("/proc/%d/ns/net", pid)
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			inner, err := dialIn(nsPath, target)
			if err != nil {
				return // the server inside is not up yet: the client sees a closed connection
			}
			defer inner.Close()
			relay(conn, inner)
		}()
	}
}

// dialIn dials addr from inside the network namespace at nsPath. A socket
// belongs to the namespace it was created in, so only the dial needs the
// namespace: it runs on a thread of its own that is switched to it and then
// thrown away (a goroutine that ends locked takes its thread with it).
func dialIn(nsPath, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		ns, err := os.Open(nsPath)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter %s: %w", nsPath, err)}
			return
		}
		c, err := net.Dial("tcp", addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// relay copies both ways until either side closes.
func relay(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	go half(a, b)
	go half(b, a)
	wg.Wait()
}
