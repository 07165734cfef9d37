package notifier

import (
	"context"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, eventstore.Commit) error { return nil }

// TestRelayEndsWhenTailEnds: a live Tail ends only with an error or with
// its ctx; if it ever ended otherwise, the relay must not wait forever on
// a feed nobody fills while renewing its lease (no standby could take
// over): Run returns an error, and releases the lease.
func TestRelayEndsWhenTailEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	store, _ := dynamotest.NewStore(t, eventstore.Config{Table: table})
	r, err := NewRelay(RelayConfig{Store: store, Notifier: nopNotifier{}, DynamoDB: client, Table: table,
		Name: "ends", LeaseDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.tail = func(context.Context, string, ...eventstore.ScanOption) iter.Seq2[eventstore.Commit, error] {
		return func(func(eventstore.Commit, error) bool) {} // ends at once, quietly
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want an error saying the Tail ended", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still waits 5 s after its Tail ended")
	}
	if _, ok, err := r.lease.acquire(ctx, "other", ""); !ok || err != nil {
		t.Fatalf("the lease was not released: %v, %v", ok, err)
	}
}
