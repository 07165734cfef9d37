package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// Issue 25, item 3: the command line of a newcomer.

// bare runs the binary with args alone: no global flags added, and an
// environment without AWS credentials, region, profile or config files.
func bare(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// oneLine fails the test unless r's stderr is one line with one
// "eventstore:" prefix and at most one hint.
func (r result) oneLine(t *testing.T) result {
	t.Helper()
	if strings.Count(r.stderr, "\n") != 1 || strings.Count(r.stderr, "eventstore:") != 1 ||
		strings.Count(r.stderr, "eventstore help") > 1 {
		t.Errorf("stderr %q: want one line, one eventstore: prefix, at most one hint", r.stderr)
	}
	return r
}

// A local -endpoint needs no credentials (the environment has none, and
// no instance metadata service answers), and takes host:port without a
// scheme; the global flags may follow the command.
func TestLocalEndpointWithoutCredentials(t *testing.T) {
	_, _, table := newStore(t, eventstore.Config{})
	endpoint := dynamotest.Endpoint(t)
	hostPort := strings.TrimPrefix(endpoint, "http://")
	for _, args := range [][]string{
		{"-endpoint", endpoint, "-table", table, "stats"},
		{"-endpoint", hostPort, "-table", table, "stats"},
		{"stats", "-endpoint", hostPort, "-table", table},
		{"-endpoint", endpoint, "stats", "-table", table},
	} {
		start := time.Now()
		r := bare(t, args...).want(t, exitOK)
		if !strings.Contains(r.stdout, "shards") {
			t.Errorf("eventstore %q printed %q", args, r.stdout)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("eventstore %q took %v", args, d)
		}
	}
	if r := bare(t, "-endpoint", "ftp://127.0.0.1:1", "-table", table, "stats").want(t, exitUsage).oneLine(t); !strings.Contains(r.stderr, "endpoint") {
		t.Errorf("a bad endpoint: %q", r.stderr)
	}
}

// Nothing listening at the endpoint: one clear line, at once.
func TestEndpointNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, command := range []string{"stats", "log", "cat"} {
		args := []string{"-endpoint", addr, "-table", "t", command}
		if command == "cat" {
			args = append(args, "a")
		}
		start := time.Now()
		r := bare(t, args...).want(t, exitRuntime).oneLine(t)
		if want := "nothing answers at http://" + addr + " (connection refused)"; !strings.Contains(r.stderr, want) ||
			!strings.Contains(r.stderr, "dynamotest/serve") {
			t.Errorf("%s: %q, want %q and how to start DynamoDB Local", command, r.stderr, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v to say nothing answers", command, d)
		}
	}
	// The same, when the server goes away after the connection check.
	var stderr bytes.Buffer
	code := fail(&stderr, options{endpoint: "http://" + addr},
		&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	if code != exitRuntime || !strings.HasPrefix(stderr.String(), "eventstore: nothing answers at http://"+addr) {
		t.Errorf("a refused request mid-run: %d %q", code, stderr.String())
	}
}

// Errors come in one form: one "eventstore:" prefix, one hint; a missing
// table is named, with the command that creates it.
func TestErrorForm(t *testing.T) {
	_, _, table := newStore(t, eventstore.Config{})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"log", "-after", "bogus"}, exitRuntime, "eventstore: invalid commit id"},
		{[]string{"dump"}, exitUsage, `eventstore: unknown command "dump" (eventstore help for usage)`},
		{[]string{"stats", "-nope"}, exitUsage, "stats: flag provided but not defined: -nope (eventstore help for usage)"},
		{[]string{"log", "-settle", "-1s"}, exitUsage, "negative"},
		{[]string{"export", "-settle", "-1s"}, exitUsage, "negative"},
		{[]string{"log", "-strict"}, exitUsage, "-strict is an option of -follow"},
	} {
		r := runCLI(t, table, tc.args...).want(t, tc.code).oneLine(t)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("eventstore %q: %q, want %q", tc.args, r.stderr, tc.want)
		}
	}
	missing := "never-created-" + strings.ToLower(table)
	for _, args := range [][]string{{"stats"}, {"cat", "a"}, {"log"}, {"import", "-"}} {
		r := runCLI(t, missing, args...).want(t, exitRuntime).oneLine(t)
		if want := "eventstore: table " + missing + " not found at http://"; !strings.HasPrefix(r.stderr, want) ||
			!strings.Contains(r.stderr, "import -create") {
			t.Errorf("eventstore %q on a missing table: %q, want %q... and import -create", args, r.stderr, want)
		}
	}
	if r := bare(t, "stats").want(t, exitUsage).oneLine(t); !strings.Contains(r.stderr, "no table: set -table NAME (before or after the command)") {
		t.Errorf("no table: %q", r.stderr)
	}
}

// log -follow is live: a commit shows within a second or two of its
// write, not once the settle window (10 s) has passed.
func TestLogFollowIsLive(t *testing.T) {
	store, _, table := newStore(t, eventstore.Config{})
	cmd := command(t, table, "log", "-follow", "-json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	time.Sleep(time.Second) // started and polling
	written := time.Now()
	c := seed(t, store, 1)[0]
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("log -follow ended: %v", lines.Err())
	}
	var j jsonCommit
	if err := json.Unmarshal(lines.Bytes(), &j); err != nil || j.CommitID != c.CommitID {
		t.Errorf("line %s (%v), want commit %s", lines.Bytes(), err, c.CommitID)
	}
	if d := time.Since(written); d > 4*time.Second {
		t.Errorf("log -follow showed a commit %v after its write", d)
	}
}
