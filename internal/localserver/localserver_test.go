package localserver

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestStartReportsAServerThatExits(t *testing.T) {
	s := &Server{
		Name:    "doomed",
		Command: func(string) (*exec.Cmd, error) { return exec.Command("sh", "-c", "exit 3"), nil },
		Ready:   func(string) error { return errors.New("not yet") },
		Limit:   time.Minute,
	}
	start := time.Now()
	_, err := s.Start()
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Fatalf("Start = %v, want an error saying the server exited", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Start took %v to notice the exit, want well under its one-minute limit", time.Since(start))
	}
	if _, again := s.Start(); again != err {
		t.Errorf("second Start = %v, want the first one's error", again)
	}
}

func TestStartWaitsUntilReadyAndStopEndsTheProcess(t *testing.T) {
	calls := 0
	s := &Server{
		Name:    "sleeper",
		Command: func(string) (*exec.Cmd, error) { return exec.Command("sleep", "60"), nil },
		Ready: func(endpoint string) error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		},
		Limit: time.Minute,
	}
	endpoint, err := s.Start()
	if err != nil || !strings.HasPrefix(endpoint, "http://127.0.0.1:") || calls != 3 {
		t.Fatalf("Start = %q, %v after %d readiness checks; want an endpoint after 3", endpoint, err, calls)
	}
	s.Stop()
	select {
	case <-s.exited:
	default:
		t.Error("the process still runs after Stop")
	}
}

func TestEndpointPrefersTheEnvironment(t *testing.T) {
	t.Setenv("LOCALSERVER_TEST_ENDPOINT", "http://127.0.0.1:1")
	s := &Server{Name: "given", EndpointEnv: "LOCALSERVER_TEST_ENDPOINT"}
	if got := s.Endpoint(t); got != "http://127.0.0.1:1" {
		t.Errorf("Endpoint = %q, want the environment's", got)
	}
}
