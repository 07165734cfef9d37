package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dynamotest.Stop()
	snstest.Stop()
	os.Exit(code)
}

// TestRun runs the example against the local emulators: the subscriber
// receives the 4 commits once each, in version order.
func TestRun(t *testing.T) {
	eps := endpoints{DynamoDB: dynamotest.Endpoint(t), SNS: snstest.Endpoint(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	got, err := run(ctx, eps, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"accountCreated", "deposited", "withdrawn", "accountClosed"}
	if len(got) != len(wantTypes) {
		t.Fatalf("received %d commits, want %d", len(got), len(wantTypes))
	}
	for i, env := range got {
		if env.Version != int64(i) || len(env.Events) != 1 || env.Events[0].Type != wantTypes[i] {
			t.Errorf("message %d: %s v%d %+v; want v%d %s", i, env.AggregateID, env.Version, env.Events, i, wantTypes[i])
		}
	}
	if !strings.Contains(out.String(), "the relay published 4 commits") {
		t.Errorf("the relay did not publish the whole log of 4 commits")
	}
}
