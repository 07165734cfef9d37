package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/projection"
)

// The projection command lists a consumer, shows its partitions, lists a
// parked aggregate, retries it, resets the consumer; verify counts the
// consumer's items as the library's own.
func TestProjectionCommands(t *testing.T) {
	store, client, table := newStore(t, eventstore.Config{MaxCommitLatency: time.Second, Settle: time.Second + eventstore.SettleAllowance})
	seed(t, store, 2)
	fixed := make(chan struct{})
	handler := projection.HandlerFunc(func(ctx context.Context, c eventstore.Commit) error {
		select {
		case <-fixed:
			return nil
		default:
		}
		if c.AggregateID == "account#b" {
			return errors.New("no balance\nfor b")
		}
		return nil
	})
	r, err := projection.NewRunner(projection.Config{Store: store, DynamoDB: client, Table: table, Name: "balances",
		Handler: handler, Partitions: 2, LeaseDuration: time.Second, MaxAttempts: 2, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { cancel(); <-done }()
	var parked result
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if parked = runCLI(t, table, "projection", "parked", "balances"); parked.code == exitOK && parked.stdout != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no parked aggregate in 30 s: %+v", parked)
		}
	}
	if !strings.HasPrefix(parked.stdout, "account#b  partition ") || !strings.Contains(parked.stdout, "from version 0  2 attempts") ||
		!strings.Contains(parked.stdout, "  no balance for b\n") {
		t.Errorf("parked: %q", parked.stdout)
	}
	if r := runCLI(t, table, "projection", "list").want(t, exitOK); r.stdout != "balances\n" {
		t.Errorf("list: %q", r.stdout)
	}
	status := runCLI(t, table, "projection", "status", "balances").want(t, exitOK)
	if lines := strings.Split(strings.TrimSpace(status.stdout), "\n"); len(lines) != 3 || strings.Contains(status.stdout, "free") {
		t.Errorf("status, want a header and 2 held partitions:\n%s", status.stdout)
	}
	runCLI(t, table, "projection", "retry", "balances", "account#a").want(t, exitRuntime) // not parked
	runCLI(t, table, "projection", "status", "nobody").want(t, exitRuntime)
	runCLI(t, table, "projection", "frobnicate").want(t, exitUsage)
	close(fixed)
	runCLI(t, table, "projection", "retry", "balances", "account#b").want(t, exitOK)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r := runCLI(t, table, "projection", "parked", "balances").want(t, exitOK); r.stdout == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still parked 10 s after retry")
		}
	}
	runCLI(t, table, "projection", "reset", "balances", "-from", "nonsense").want(t, exitRuntime)
	runCLI(t, table, "projection", "reset", "balances").want(t, exitOK)
	if r := runCLI(t, table, "verify").want(t, exitOK); !strings.Contains(r.stdout, "0 problems") {
		t.Errorf("verify of a table with a consumer's items: %q", r.stdout)
	}
}
