package testcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestWaitEndsWhenAProcessDies: a wait for a Deployment ends as soon as a
// cluster process is gone, with its log's last lines, rather than at its
// timeout with nothing to say why. The API server here is a closed port, so
// without the liveness check the wait would end at its timeout with a
// different error (the control: the error must name the process).
func TestWaitEndsWhenAProcessDies(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kwok.log")
	if err := os.WriteFile(log, []byte("panic: the last words\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dead := &process{name: "kwok", log: log, done: make(chan struct{}), err: errors.New("exit status 2")}
	close(dead.done)
	c := &Cluster{Config: &rest.Config{Host: "http://127.0.0.1:1"}, procs: []*process{dead}}
	_, err := c.WaitDeploymentAvailable(context.Background(), "default", "web", 20*time.Second)
	if !errors.Is(err, errExited) || !strings.Contains(err.Error(), "kwok") || !strings.Contains(err.Error(), "the last words") {
		t.Fatalf("wait with a dead kwok: %v, want an error naming kwok and its last log lines", err)
	}
}
