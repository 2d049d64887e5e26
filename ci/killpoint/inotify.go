package killpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Written sends (without blocking) every time the file at path is renamed
// into place or written, until done is closed.
func Written(t testing.TB, path string, done <-chan struct{}) <-chan struct{} {
	t.Helper()
	return WatchEvents(t, filepath.Dir(path), filepath.Base(path), unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE, done)
}

// WatchEvents sends (without blocking) every time inotify reports one of
// mask's events for a file named name in dir, until done is closed; the
// channel is closed when the watch ends.
func WatchEvents(t testing.TB, dir, name string, mask uint32, done <-chan struct{}) <-chan struct{} {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a Read
	go func() {
		<-done
		f.Close()
	}()
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		buf := make([]byte, 64*1024)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				got := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
				off += unix.SizeofInotifyEvent + int(ev.Len)
				if got == name {
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return out
}
