package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/internal/faults"
)

// Cancellation: cancelling ctx while Append, Query, Scan or Tail waits on
// DynamoDB returns promptly with ctx's error, and leaves no goroutine
// behind. These tests do not call t.Parallel: goleak compares the
// goroutines before and after, and the parallel tests only start once
// every sequential test has finished.

// prompt is how soon after the cancel the call must return.
const prompt = 2 * time.Second

// cancelRig is a store whose requests pass through a transport that can
// hold chosen operations until their context ends.
type cancelRig struct {
	store *eventstore.Store
	table string
	ft    *faults.Transport
	base  *http.Transport
	hold  atomic.Value // string: the operation to hold ("" for none)
	held  chan string  // gets the operation each time one is held
}

func newCancelRig(t *testing.T) *cancelRig {
	t.Helper()
	rig := &cancelRig{base: http.DefaultTransport.(*http.Transport).Clone(), held: make(chan string, 100)}
	rig.hold.Store("")
	rig.ft = &faults.Transport{Base: rig.base, Decide: func(op string) faults.Kind {
		if op != "" && op == rig.hold.Load().(string) {
			rig.held <- op
			return faults.Hang
		}
		return faults.None
	}}
	rig.store, _, rig.table = newStore(t, eventstore.Config{}, withHTTPClient(&http.Client{Transport: rig.ft}))
	return rig
}

// noLeaks snapshots the goroutines; the returned func fails t if any
// goroutine started since is still running (idle keep-alive connections
// are closed first: they belong to the client, not to the call).
func (rig *cancelRig) noLeaks(t *testing.T) func() {
	t.Helper()
	before := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		rig.base.CloseIdleConnections()
		if err := goleak.Find(before); err != nil {
			t.Error(err)
		}
	}
}

// cancelWhenHeld cancels once a request to op is held, and returns when it
// cancelled (zero if it never did).
func (rig *cancelRig) cancelWhenHeld(t *testing.T, op string, cancel context.CancelFunc) func() time.Time {
	rig.hold.Store(op)
	var at atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-rig.held:
			at.Store(time.Now())
			cancel()
		case <-time.After(time.Minute):
		}
	}()
	return func() time.Time {
		<-done
		rig.hold.Store("")
		for len(rig.held) > 0 {
			<-rig.held
		}
		t, _ := at.Load().(time.Time)
		return t
	}
}

// checkPrompt fails t unless err is ctx's error and came promptly after
// the cancel.
func checkPrompt(t *testing.T, what string, err error, want error, cancelled time.Time) {
	t.Helper()
	switch {
	case cancelled.IsZero():
		t.Fatalf("%s: no request was held, so nothing was cancelled (err %v)", what, err)
	case !errors.Is(err, want):
		t.Errorf("%s: %v, want an error matching %v", what, err, want)
	case time.Since(cancelled) > prompt:
		t.Errorf("%s returned %v after the cancel", what, time.Since(cancelled))
	}
}

func TestCancelAppend(t *testing.T) {
	rig := newCancelRig(t)
	t.Run("in flight", func(t *testing.T) {
		leaks := rig.noLeaks(t)
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		when := rig.cancelWhenHeld(t, "PutItem", cancel)
		c, err := rig.store.Append(ctx, commit("in-flight", 0))
		checkPrompt(t, "Append", err, context.Canceled, when())
		if c.CommitID == "" {
			t.Error("the cancelled Append returned no CommitID to retry with")
		}
		// The held request never reached DynamoDB: the retry stores it once.
		if _, err := rig.store.Append(ctxT(t), c); err != nil {
			t.Fatalf("retry of the cancelled Append: %v", err)
		}
		if got := collect(t, rig.store.Query(ctxT(t), "in-flight", 0)); len(got) != 1 || got[0].CommitID != c.CommitID {
			t.Errorf("after the retry the aggregate holds %v, want commit %s once", got, c.CommitID)
		}
		leaks()
	})
	t.Run("deadline", func(t *testing.T) {
		leaks := rig.noLeaks(t)
		rig.hold.Store("PutItem")
		ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := rig.store.Append(ctx, commit("deadline", 0))
		rig.hold.Store("")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 200*time.Millisecond+prompt {
			t.Errorf("Append past the caller's deadline: %v after %v, want DeadlineExceeded promptly", err, time.Since(start))
		}
		for len(rig.held) > 0 {
			<-rig.held
		}
		leaks()
	})
	t.Run("cancelled before", func(t *testing.T) {
		leaks := rig.noLeaks(t)
		ctx, cancel := context.WithCancel(ctxT(t))
		cancel()
		start := time.Now()
		if _, err := rig.store.Append(ctx, commit("before", 0)); !errors.Is(err, context.Canceled) || time.Since(start) > prompt {
			t.Errorf("Append with a cancelled ctx: %v after %v", err, time.Since(start))
		}
		leaks()
	})
	t.Run("reading the shard count", func(t *testing.T) {
		// A new Store checks the table's shard count on its first call.
		fresh, err := eventstore.New(dynamotestClient(t, rig), eventstore.Config{Table: rig.table})
		if err != nil {
			t.Fatal(err)
		}
		leaks := rig.noLeaks(t)
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		when := rig.cancelWhenHeld(t, "GetItem", cancel)
		_, err = fresh.Append(ctx, commit("fresh", 0))
		checkPrompt(t, "Append of a new store", err, context.Canceled, when())
		leaks()
	})
}

// dynamotestClient is a DynamoDB client sending through the rig's transport.
func dynamotestClient(t *testing.T, rig *cancelRig) eventstore.DynamoDBAPI {
	t.Helper()
	return dynamotest.Client(t, withHTTPClient(&http.Client{Transport: rig.ft}))
}

// bigAggregate appends commits of ~30 KB (~23 KB compressed) to agg: 60
// of them take two Query pages.
func bigAggregate(t *testing.T, s *eventstore.Store, agg string, n int) {
	t.Helper()
	for v := 0; v < n; v += 4 { // groups of consecutive versions: no gap
		var group []eventstore.Commit
		for u := v; u < min(v+4, n); u++ {
			group = append(group, commit(agg, int64(u), eventstore.Event{Type: "chunk", Data: []byte(`"` + randomText(30*1024) + `"`)}))
		}
		if _, err := s.AppendAll(ctxT(t), group...); err != nil {
			t.Fatalf("AppendAll(%s v%d..): %v", agg, v, err)
		}
	}
}

func TestCancelQuery(t *testing.T) {
	rig := newCancelRig(t)
	bigAggregate(t, rig.store, "big", 60)
	t.Run("in flight", func(t *testing.T) {
		leaks := rig.noLeaks(t)
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		when := rig.cancelWhenHeld(t, "Query", cancel)
		var errs []error
		n := 0
		for _, err := range rig.store.Query(ctx, "big", 0) {
			if err != nil {
				errs = append(errs, err)
			} else {
				n++
			}
		}
		if len(errs) != 1 || n != 0 {
			t.Errorf("Query yielded %d commits and errors %v, want one error only", n, errs)
		} else {
			checkPrompt(t, "Query", errs[0], context.Canceled, when())
		}
		leaks()
	})
	t.Run("between pages", func(t *testing.T) {
		leaks := rig.noLeaks(t)
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		var last error
		n := 0
		for _, err := range rig.store.Query(ctx, "big", 0) {
			if err != nil {
				last = err
				continue
			}
			if n++; n == 1 {
				cancel()
			}
		}
		// The first page (at most 1 MB, about 44 of these commits) was
		// read before the cancel; the next request is not sent.
		if !errors.Is(last, context.Canceled) || n >= 60 {
			t.Errorf("Query cancelled after the first commit yielded %d commits, then %v; want fewer than 60, then ctx's error", n, last)
		}
		leaks()
	})
	t.Run("break", func(t *testing.T) {
		leaks := rig.noLeaks(t)
		for _, err := range rig.store.Query(ctxT(t), "big", 0) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		leaks()
	})
}

func TestCancelScan(t *testing.T) {
	rig := newCancelRig(t)
	for a := range 8 { // every shard has a page or more
		bigAggregate(t, rig.store, fmt.Sprintf("big-%d", a), 10)
	}
	t.Run("in flight", func(t *testing.T) {
		leaks := rig.noLeaks(t)
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		when := rig.cancelWhenHeld(t, "Query", cancel)
		var errs []error
		for _, err := range rig.store.Scan(ctx, "", eventstore.WithSettle(0)) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) != 1 {
			t.Errorf("Scan yielded errors %v, want exactly one", errs)
		} else {
			checkPrompt(t, "Scan", errs[0], context.Canceled, when())
		}
		leaks()
	})
	t.Run("break", func(t *testing.T) {
		leaks := rig.noLeaks(t)
		n := 0
		for _, err := range rig.store.Scan(ctxT(t), "", eventstore.WithSettle(0)) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 5 {
				break
			}
		}
		leaks()
	})
}

// A Tail, strict or live, ends promptly and without an error when its ctx
// ends, whether it is idle or waiting on a request, and leaves no goroutine.
func TestCancelTail(t *testing.T) {
	rig := newCancelRig(t)
	mustAppend(t, rig.store, commit("tailed", 0))
	for mode, opts := range map[string][]eventstore.ScanOption{
		"strict": nil,
		"live":   {eventstore.Live()},
	} {
		t.Run(mode+"/idle", func(t *testing.T) {
			leaks := rig.noLeaks(t)
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			var cancelled time.Time
			var errs []error
			n := 0
			for _, err := range rig.store.Tail(ctx, "", append(opts, eventstore.WithSettle(0))...) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if n++; n == 1 { // caught up: now it polls
					time.AfterFunc(300*time.Millisecond, func() { cancelled = time.Now(); cancel() })
				}
			}
			if n != 1 || len(errs) != 0 {
				t.Errorf("Tail yielded %d commits and errors %v, want 1 commit and no error", n, errs)
			}
			checkEnded(t, "idle Tail", cancelled)
			leaks()
		})
		t.Run(mode+"/in flight", func(t *testing.T) {
			leaks := rig.noLeaks(t)
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			when := rig.cancelWhenHeld(t, "Query", cancel)
			for _, err := range rig.store.Tail(ctx, "", append(opts, eventstore.WithSettle(0))...) {
				if err != nil {
					t.Errorf("Tail yielded %v, want no error after a cancel", err)
				}
			}
			checkEnded(t, "Tail", when())
			leaks()
		})
		t.Run(mode+"/break", func(t *testing.T) {
			leaks := rig.noLeaks(t)
			for _, err := range rig.store.Tail(ctxT(t), "", append(opts, eventstore.WithSettle(0))...) {
				if err != nil {
					t.Fatal(err)
				}
				break
			}
			leaks()
		})
	}
}

// checkEnded fails t unless something was cancelled and the sequence ended
// promptly after.
func checkEnded(t *testing.T, what string, cancelled time.Time) {
	t.Helper()
	switch {
	case cancelled.IsZero():
		t.Fatalf("%s: nothing was cancelled", what)
	case time.Since(cancelled) > prompt:
		t.Errorf("%s ended %v after the cancel", what, time.Since(cancelled))
	}
}

// Once ctx is cancelled, the next value Query or Scan yields is ctx's
// error: no buffered commit is handed to the caller after the cancel.
func TestCancelStopsYieldingAtOnce(t *testing.T) {
	rig := newCancelRig(t)
	bigAggregate(t, rig.store, "big", 60)
	for a := range 8 {
		bigAggregate(t, rig.store, fmt.Sprintf("big-%d", a), 10)
	}
	for name, seq := range map[string]func(context.Context) func(func(eventstore.Commit, error) bool){
		"Query": func(ctx context.Context) func(func(eventstore.Commit, error) bool) {
			return rig.store.Query(ctx, "big", 0)
		},
		"Scan": func(ctx context.Context) func(func(eventstore.Commit, error) bool) {
			return rig.store.Scan(ctx, "", eventstore.WithSettle(0))
		},
	} {
		ctx, cancel := context.WithCancel(ctxT(t))
		after, n := 0, 0
		var last error
		for _, err := range seq(ctx) {
			if err != nil {
				last = err
				continue
			}
			if n++; n == 1 {
				cancel()
				continue
			}
			after++
		}
		if after > 0 || last == nil {
			t.Errorf("%s: after the cancel it yielded %d more commits, then %v; want ctx's error at once", name, after, last)
		}
		cancel()
	}
}
