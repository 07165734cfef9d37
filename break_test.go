package eventstore_test

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
)

// Every sequence the package returns ends promptly when the loop body
// breaks, never calls the body again (Go panics if it does), and leaves no
// goroutine behind, even while new commits keep arriving: the ordinary
//
//	for c, err := range store.Tail(ctx, cp, eventstore.Live()) { if done(c) { break } }
//
// must work. Not parallel: goleak compares goroutines before and after.
func TestBreakEndsEverySequence(t *testing.T) {
	rig := newCancelRig(t)
	aggs, _, _ := newStore(t, eventstore.Config{AggregatesIndex: eventstore.DefaultAggregatesIndex},
		withHTTPClient(&http.Client{Transport: rig.ft}))
	for v := range 3 {
		mustAppend(t, rig.store, commit("backlog", int64(v)))
		mustAppend(t, aggs, commit(fmt.Sprintf("listed-%d", v), 0))
	}

	cases := []struct {
		name string
		run  func(ctx context.Context, now string, n int) (int, error)
	}{
		{"Query", func(ctx context.Context, now string, n int) (int, error) {
			return breakAt(rig.store.Query(ctx, "backlog", 0), n)
		}},
		{"Scan", func(ctx context.Context, now string, n int) (int, error) {
			return breakAt(rig.store.Scan(ctx, "", eventstore.WithSettle(0)), n)
		}},
		{"Aggregates", func(ctx context.Context, now string, n int) (int, error) {
			return breakAt(aggs.Aggregates(ctx), n)
		}},
		{"Events of Query", func(ctx context.Context, now string, n int) (int, error) {
			return breakAt(eventstore.Events(rig.store.Query(ctx, "backlog", 0)), n)
		}},
		// The Tails start now, so the break comes during a poll, while a
		// writer keeps appending.
		{"strict Tail", func(ctx context.Context, now string, n int) (int, error) {
			return breakAt(rig.store.Tail(ctx, now, eventstore.WithSettle(0)), n)
		}},
		{"live Tail", func(ctx context.Context, now string, n int) (int, error) {
			return breakAt(rig.store.Tail(ctx, now, eventstore.Live()), n)
		}},
		{"live Tail, in its backlog", func(ctx context.Context, now string, n int) (int, error) {
			return breakAt(rig.store.Tail(ctx, "", eventstore.Live()), n)
		}},
		{"Events of a live Tail", func(ctx context.Context, now string, n int) (int, error) {
			return breakAt(eventstore.Events(rig.store.Tail(ctx, now, eventstore.Live())), n)
		}},
	}
	for i, tc := range cases {
		for _, n := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/after %d", tc.name, n), func(t *testing.T) {
				leaks := rig.noLeaks(t)
				now := ulid.Make().String() // the Tails start after what earlier cases wrote
				ctx, cancel := context.WithCancel(ctxT(t))
				defer cancel()
				var wg sync.WaitGroup
				wg.Go(func() { // commits keep arriving, before and after the break
					for v := range 8 {
						if ctx.Err() != nil {
							return
						}
						mustAppend(t, rig.store, commit(fmt.Sprintf("arriving-%d-%d", i, n), int64(v)))
						time.Sleep(150 * time.Millisecond)
					}
				})
				type result struct {
					got   int
					panic any
				}
				done := make(chan result, 1)
				go func() {
					var r result
					defer func() { r.panic = recover(); done <- r }()
					r.got, _ = tc.run(ctx, now, n)
				}()
				select {
				case r := <-done:
					if r.panic != nil {
						t.Fatalf("the loop panicked after its break: %v", r.panic)
					}
					if r.got != n {
						t.Errorf("the loop body ran %d times, want %d", r.got, n)
					}
				case <-time.After(15 * time.Second):
					t.Fatal("the loop did not end after its break")
				}
				wg.Wait()
				leaks()
			})
		}
	}
}

// breakAt ranges over seq and breaks after n values; it returns how many
// times the loop body ran (a value after the break counts too, had Go not
// panicked), and the first error.
func breakAt[T any](seq iter.Seq2[T, error], n int) (int, error) {
	ran := 0
	for _, err := range seq {
		ran++
		if err != nil {
			return ran, err
		}
		if ran == n {
			break
		}
	}
	return ran, nil
}
