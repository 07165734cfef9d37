package notifier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// TestLeaseFencing: one owner at a time; an expired lease is taken over,
// and the old owner can then neither advance the checkpoint nor renew.
func TestLeaseFencing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	dynamotest.NewStore(t, eventstore.Config{Table: table})
	const from, cp1, cp2 = "01JD5Q6X1Z8W3V4T2S9R7P6N5M", "01JD5Q6X1Z8W3V4T2S9R7P6N5N", "01JD5Q6X1Z8W3V4T2S9R7P6N5P"
	// One item, two lease lengths: a long one while B must fail to take
	// it (however slow the machine), then a short one that expires.
	l := newLease(client, table, "fence", time.Minute)
	short := newLease(client, table, "fence", 300*time.Millisecond)

	if cp, err := l.read(ctx); cp != "" || err != nil {
		t.Fatalf("read before any lease = %q, %v", cp, err)
	}
	cp, ok, err := l.acquire(ctx, "A", from)
	if !ok || err != nil || cp != from {
		t.Fatalf("A acquire = %q, %v, %v; want From", cp, ok, err)
	}
	if _, ok, err := l.acquire(ctx, "B", ""); ok || err != nil {
		t.Fatalf("B acquired a held lease: %v, %v", ok, err)
	}
	if err := l.advance(ctx, "A", cp1); err != nil {
		t.Fatal(err)
	}
	if err := short.renew(ctx, "A"); err != nil {
		t.Fatal(err)
	}

	time.Sleep(400 * time.Millisecond) // A stalls past its lease
	cp, ok, err = l.acquire(ctx, "B", from)
	if !ok || err != nil || cp != cp1 {
		t.Fatalf("B acquire after expiry = %q, %v, %v; want A's checkpoint %s", cp, ok, err, cp1)
	}
	if err := l.advance(ctx, "A", cp2); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A advance after losing the lease = %v, want ErrLeaseLost", err)
	}
	if err := l.renew(ctx, "A"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A renew after losing the lease = %v, want ErrLeaseLost", err)
	}
	if err := l.release(ctx, "A"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A release after losing the lease = %v, want ErrLeaseLost", err)
	}
	if cp, err := l.read(ctx); cp != cp1 || err != nil {
		t.Fatalf("checkpoint = %q, %v; want %s, untouched by A", cp, err, cp1)
	}

	if err := l.release(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	if cp, ok, err := l.acquire(ctx, "C", ""); !ok || err != nil || cp != cp1 {
		t.Fatalf("C acquire after release = %q, %v, %v", cp, ok, err)
	}
}
