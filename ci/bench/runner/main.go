// Command runner runs one command and writes what it cost, from the
// kernel's accounting (wait4 rusage), as JSON to the file $BENCH_RUSAGE_OUT.
//
// The bench driver starts every measured command through it because Linux
// carries a process's peak-RSS high-water mark across exec: a child the
// large driver spawns directly would report the driver's own RSS as its
// peak. This program is tiny, so the floor it leaves is a few MB, below any
// command measured.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Usage is what the driver reads back.
type Usage struct {
	WallNS, UserNS, SysNS int64
	MaxRSSBytes           int64
	ExitCode              int
}

func main() {
	out := os.Getenv("BENCH_RUSAGE_OUT")
	if len(os.Args) < 2 || out == "" {
		fmt.Fprintln(os.Stderr, "usage: BENCH_RUSAGE_OUT=<file> runner COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	// *os.File values: the child gets the descriptors themselves, nothing is copied here.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(127)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	u := Usage{
		WallNS: wall.Nanoseconds(), UserNS: ru.Utime.Nano(), SysNS: ru.Stime.Nano(),
		MaxRSSBytes: ru.Maxrss * 1024, // Linux reports KiB
		ExitCode:    cmd.ProcessState.ExitCode(),
	}
	data, _ := json.Marshal(u)
	if err := os.WriteFile(out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(127)
	}
	os.Exit(u.ExitCode)
}
