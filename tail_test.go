package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/internal/faults"
)

// delayingTransport holds some PutItem requests, at random: before they
// reach the server (a slow network; the request is dropped if its context
// ends first) or after (a slow response; the item is stored).
type delayingTransport struct {
	max                   time.Duration
	mu                    sync.Mutex
	r                     *rand.Rand
	heldBefore, heldAfter atomic.Int64
}

func (d *delayingTransport) pick() (before, after time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	hold := time.Duration(d.r.Int64N(int64(d.max)))
	switch d.r.IntN(4) {
	case 0:
		return hold, 0
	case 1:
		return 0, hold
	}
	return 0, 0
}

func (d *delayingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var before, after time.Duration
	if faults.Op(req) == "PutItem" {
		before, after = d.pick()
	}
	if before > 0 {
		d.heldBefore.Add(1)
		if err := wait(req.Context(), before); err != nil {
			return nil, err
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && after > 0 {
		d.heldAfter.Add(1)
		if err := wait(req.Context(), after); err != nil {
			resp.Body.Close()
			return nil, err
		}
	}
	return resp, err
}

func wait(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tailUntil runs a Tail in the background; stop ends it and returns what it
// yielded and the errors it yielded.
func tailUntil(t *testing.T, s *eventstore.Store, after string, opts ...eventstore.ScanOption) (seen func() int, stop func() ([]eventstore.Commit, []error)) {
	ctx, cancel := context.WithCancel(ctxT(t))
	var mu sync.Mutex
	var got []eventstore.Commit
	var errs []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c, err := range s.Tail(ctx, after, opts...) {
			mu.Lock()
			if err != nil {
				errs = append(errs, err)
			} else {
				got = append(got, c)
			}
			mu.Unlock()
		}
	}()
	seen = func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	stop = func() ([]eventstore.Commit, []error) {
		cancel()
		<-done
		return got, errs
	}
	return seen, stop
}

// eventually polls cond until it holds or the limit passes.
func eventually(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Writers whose PutItems are held up to 1.5 s race a live tail. The writer
// deadline (1 s) refuses what would land late; the tail's settle window
// (1 s + SettleAllowance) waits out what may. The tail yields every stored commit once, in
// order, and never a refused one.
func TestTailIsGapFreeUnderDelayedWrites(t *testing.T) {
	t.Parallel()
	dt := &delayingTransport{max: 1500 * time.Millisecond, r: rand.New(rand.NewPCG(3, 4))}
	cfg := eventstore.Config{ScanShards: 3, MaxCommitLatency: time.Second, Settle: time.Second + eventstore.SettleAllowance}
	s, client, table := newStore(t, cfg, withTransport(dt))
	seen, stop := tailUntil(t, s, "")

	var mu sync.Mutex
	var stored, refused []string
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for v := 0; v < 12; {
				c, err := s.Append(ctxT(t), commit(fmt.Sprintf("w%d", w), int64(v)))
				mu.Lock()
				switch {
				case err == nil:
					stored = append(stored, c.CommitID)
					v++
				case errors.Is(err, eventstore.ErrCommitDeadline):
					refused = append(refused, c.CommitID) // retry the version with a new CommitID
				default:
					t.Errorf("Append: %v", err)
					v = 12
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	eventually(t, 30*time.Second, func() bool { return seen() >= len(stored) })
	time.Sleep(2500 * time.Millisecond) // anything extra would show up now
	got, errs := stop()

	slices.Sort(stored)
	ids := make([]string, len(got))
	for i, c := range got {
		ids[i] = c.CommitID
	}
	if !slices.Equal(ids, stored) {
		t.Fatalf("tail yielded %d commits, want the %d stored, once each, in order (first difference at %d)",
			len(ids), len(stored), firstDiff(ids, stored))
	}
	if len(errs) != 0 {
		t.Errorf("tail ended with errors %v, want none", errs)
	}
	for _, id := range refused {
		if slices.Contains(ids, id) {
			t.Errorf("refused commit %s was yielded", id)
		}
	}
	if n := countItems(t, client, table); n != len(stored) {
		t.Errorf("table holds %d commits, want the %d stored", n, len(stored))
	}
	if len(refused) == 0 || dt.heldAfter.Load() == 0 {
		t.Errorf("%d refused, %d responses held: the test did not exercise the deadline", len(refused), dt.heldAfter.Load())
	}
	t.Logf("%d stored, %d refused by the writer deadline, %d requests held before sending, %d responses held",
		len(stored), len(refused), dt.heldBefore.Load(), dt.heldAfter.Load())
}

func TestTailFollowsNewCommitsAndEndsQuietlyWithCtx(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	first := mustAppend(t, s, commit("a", 0))
	seen, stop := tailUntil(t, s, first.CommitID, eventstore.WithSettle(0))
	var want []string
	for v := 1; v <= 5; v++ {
		want = append(want, mustAppend(t, s, commit("a", int64(v))).CommitID)
		time.Sleep(150 * time.Millisecond)
	}
	eventually(t, 10*time.Second, func() bool { return seen() >= len(want) })
	got, errs := stop()
	var ids []string
	for _, c := range got {
		ids = append(ids, c.CommitID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("tail after the first commit yielded %v, want %v", ids, want)
	}
	if len(errs) != 0 {
		t.Errorf("tail ended with %v, want no error", errs)
	}
}

func TestTailAndScanRefuseBadInput(t *testing.T) {
	t.Parallel()
	counting := &countingClient{DynamoDBAPI: &dynamodb.Client{}}
	s, err := eventstore.New(counting, eventstore.Config{Table: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	for name, seq := range map[string]func(func(eventstore.Commit, error) bool){
		"tail bad checkpoint":  s.Tail(ctxT(t), "nope"),
		"scan bad checkpoint":  s.Scan(ctxT(t), "nope"),
		"tail negative settle": s.Tail(ctxT(t), "", eventstore.WithSettle(-time.Second)),
		"scan negative settle": s.Scan(ctxT(t), "", eventstore.WithSettle(-time.Second)),
	} {
		n := 0
		for _, err := range seq {
			n++
			if err == nil || strings.Contains(err.Error(), "eventstore: eventstore") {
				t.Errorf("%s: %v", name, err)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d results, want one error", name, n)
		}
	}
	if n := counting.queries.Load(); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
}

// flakyQueries fails a share of Query requests with throttling and server
// errors; the SDK gives up at once (one attempt), so the store's own retry
// must resume each page.
func flakyQueries(rate float64) *faults.Transport {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(5, 6))
	kinds := []faults.Kind{faults.Throttle, faults.ThrottlingException, faults.InternalError, faults.ResetBeforeSend}
	return &faults.Transport{Decide: func(op string) faults.Kind {
		mu.Lock()
		defer mu.Unlock()
		if op != "Query" || r.Float64() >= rate {
			return faults.None
		}
		return kinds[r.IntN(len(kinds))]
	}}
}

func TestScanAndTailRetryThrottling(t *testing.T) {
	t.Parallel()
	s, _, table := newStore(t, eventstore.Config{ScanShards: 4})
	want := writeConcurrently(t, s, 20, 10, func() eventstore.Event {
		return eventstore.Event{Type: "chunk", Data: []byte(`"` + randomText(8*1024) + `"`)}
	})

	ft := flakyQueries(0.4)
	flaky, err := eventstore.New(dynamotest.Client(t, withTransport(ft), func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }),
		eventstore.Config{Table: table, ScanShards: 4})
	if err != nil {
		t.Fatal(err)
	}
	checkLog(t, collect(t, flaky.Scan(ctxT(t), "", eventstore.WithSettle(0))), want)
	for _, from := range []int{3, 50, 101, 150, 199} {
		checkLog(t, collect(t, flaky.Scan(ctxT(t), want[from].CommitID, eventstore.WithSettle(0))), want[from+1:])
	}

	seen, stop := tailUntil(t, flaky, "", eventstore.WithSettle(0))
	eventually(t, 30*time.Second, func() bool { return seen() >= len(want) })
	got, _ := stop()
	checkLog(t, got, want)
	injected := 0
	for _, n := range ft.Counts() {
		injected += n
	}
	if injected < 10 {
		t.Errorf("only %d faults injected", injected)
	}
	t.Logf("faults injected into Query: %v", ft.Counts())
}
