package notifier_test

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
)

// libraryFrame matches a stack frame of the library (root package or
// notifier), not of its tests or test servers.
var libraryFrame = regexp.MustCompile(`(?m)^github\.com/dynacommit/eventstore(/notifier)?\.`)

// libraryGoroutines returns the stacks of the goroutines, other than the
// caller's, running library code.
func libraryGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && libraryFrame.MatchString(g) { // the first is the caller
			out = append(out, g)
		}
	}
	return out
}

// checkNoLeak waits up to 2 s for the library goroutines to be back to
// before.
func checkNoLeak(tb testing.TB, before int) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := libraryGoroutines()
		if len(left) <= before {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d library goroutines left running (%d before):\n%s", len(left), before, strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// blockingNotifier publishes nothing: every call fails (fail) or waits for
// ctx to end. It counts its calls.
type blockingNotifier struct {
	fail  bool
	mu    sync.Mutex
	calls int
}

func (b *blockingNotifier) Notify(ctx context.Context, _ eventstore.Commit) error {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	if b.fail {
		return errors.New("injected: publish always fails")
	}
	<-ctx.Done()
	return ctx.Err()
}

func (b *blockingNotifier) called() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// TestRelayStopsPromptly: whatever the relay is doing when its ctx ends
// (publishing, standing by, retrying a failing publish, waiting on a
// publish that hangs with a full feed behind it), Run returns within a
// second with ctx's error, and leaves no goroutine of its own or of its
// Tail running. Not parallel: it counts the process's goroutines.
func TestRelayStopsPromptly(t *testing.T) {
	store, client, table := newStore(t, nil)
	appendMany(t, store, "s", 4, 15)
	for _, tc := range []struct {
		name  string
		n     eventstore.Notifier
		setup func(name string)
		ready func() bool
	}{
		{name: "publishing", n: &fakeNotifier{}},
		{name: "standby", n: &fakeNotifier{}, setup: func(name string) {
			setLease(t, client, table, name, "other", time.Now().Add(time.Hour))
		}},
		{name: "failing", n: &blockingNotifier{fail: true}},
		{name: "hanging", n: &blockingNotifier{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(libraryGoroutines())
			if tc.setup != nil {
				tc.setup(tc.name)
			}
			relay, err := notifier.NewRelay(notifier.RelayConfig{Store: store, Notifier: tc.n, DynamoDB: client,
				Table: table, Name: tc.name, LeaseDuration: time.Second, BatchSize: 2})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- relay.Run(ctx) }()
			busy := func() bool {
				switch n := tc.n.(type) {
				case *fakeNotifier:
					return tc.setup != nil || len(n.published()) >= 10
				case *blockingNotifier:
					return n.called() >= 2 || (!n.fail && n.called() >= 1)
				}
				return true
			}
			deadline := time.Now().Add(20 * time.Second)
			for !busy() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // let the feed fill up behind a stuck publish
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want context.Canceled", err)
				}
			case <-time.After(time.Second):
				t.Fatalf("Run has not returned 1 s after its ctx ended:\n%s", strings.Join(libraryGoroutines(), "\n\n"))
			}
			checkNoLeak(t, before)
		})
	}
}
