// Package localserver runs an emulator (DynamoDB Local, fauxqs) for tests:
// one process per test binary, on a free port of 127.0.0.1, started on
// first use, waited for, and stopped by Stop or, on Linux, killed with the
// test process. dynamotest and snstest build on it.
package localserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Server is the emulator of one test binary. Set its fields before the
// first Start; it is safe for concurrent use after.
type Server struct {
	// Name names the emulator in messages.
	Name string
	// EndpointEnv names an environment variable that, when set, gives the
	// URL of a running server to use instead of starting one.
	EndpointEnv string
	// Command returns the command that serves on port of 127.0.0.1.
	Command func(port string) (*exec.Cmd, error)
	// Ready sends one request to the server at endpoint: nil once it
	// answers.
	Ready func(endpoint string) error
	// Limit is how long the server may take to become ready.
	Limit time.Duration

	once     sync.Once
	endpoint string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has exited
	err      error
}

// Start returns the server's URL, starting it on first use; later calls
// return the same.
func (s *Server) Start() (string, error) {
	s.once.Do(func() {
		if ep := os.Getenv(s.EndpointEnv); ep != "" {
			s.endpoint = ep
			return
		}
		s.endpoint, s.err = s.start()
	})
	return s.endpoint, s.err
}

// Endpoint is Start for tests: without a server it skips tb, or fails it
// when the CI environment variable is set, so that a green CI run never
// hides a skipped test.
func (s *Server) Endpoint(tb testing.TB) string {
	tb.Helper()
	endpoint, err := s.Start()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("no %s (CI is set, so this fails instead of skipping): %v", s.Name, err)
		}
		tb.Skipf("no %s: %v", s.Name, err)
	}
	return endpoint
}

// Stop stops the server this process started, if any.
func (s *Server) Stop() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// start runs the server and waits until it is ready, or has exited, or the
// limit has passed.
func (s *Server) start() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd, err := s.Command(port)
	if err != nil {
		return "", err
	}
	cmd.SysProcAttr = sysProcAttr()
	log, err := os.CreateTemp("", "localserver-*.log")
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", s.Name, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	endpoint := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(s.Limit); ; time.Sleep(50 * time.Millisecond) {
		err := s.Ready(endpoint)
		select {
		case <-s.exited:
			return "", fmt.Errorf("%s exited at start (log %s): %v", s.Name, log.Name(), cmd.ProcessState)
		default:
		}
		if err == nil {
			return endpoint, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return "", fmt.Errorf("%s not ready after %v (log %s): %w", s.Name, s.Limit, log.Name(), err)
		}
	}
}

// FindTool returns the last file matching pattern (a filepath.Glob pattern
// relative to a .tools folder) in the working directory or its nearest
// parent that has one.
func FindTool(pattern string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if matches, _ := filepath.Glob(filepath.Join(dir, ".tools", pattern)); len(matches) > 0 {
			return matches[len(matches)-1], nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New(".tools/" + pattern + " not found: run scripts/install-tools.sh")
		}
		dir = parent
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port), nil
}
