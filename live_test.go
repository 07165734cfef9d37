package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// liveRun is a Tail running in the background, recording what it yields,
// its errors, its checkpoints and when it caught up.
type liveRun struct {
	mu          sync.Mutex
	got         []eventstore.Commit
	at          map[string]time.Time // when each CommitID was yielded
	errs        []error
	checkpoints []string
	caughtUp    int
	caughtUpAt  int // commits yielded when OnCaughtUp was called
	cancel      context.CancelFunc
	done        chan struct{}
}

func startTail(t *testing.T, s *eventstore.Store, after string, opts ...eventstore.ScanOption) *liveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	r := &liveRun{at: map[string]time.Time{}, cancel: cancel, done: make(chan struct{})}
	opts = append(opts,
		eventstore.OnCaughtUp(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.caughtUp++
			r.caughtUpAt = len(r.got)
		}),
		eventstore.OnCheckpoint(func(cp string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.checkpoints = append(r.checkpoints, cp)
		}))
	go func() {
		defer close(r.done)
		for c, err := range s.Tail(ctx, after, opts...) {
			r.mu.Lock()
			if err != nil {
				r.errs = append(r.errs, err)
			} else {
				r.got = append(r.got, c)
				r.at[c.CommitID] = time.Now()
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *liveRun) seen() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }

func (r *liveRun) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.at[id]
	return ok
}

// stop ends the Tail and waits for it.
func (r *liveRun) stop() {
	r.cancel()
	<-r.done
}

// lastCheckpoint is the latest checkpoint reported, "" if none.
func (r *liveRun) lastCheckpoint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.checkpoints) == 0 {
		return ""
	}
	return r.checkpoints[len(r.checkpoints)-1]
}

// checkOnceInVersionOrder fails t unless the commits hold no CommitID
// twice and every aggregate's versions come in increasing order.
func checkOnceInVersionOrder(t *testing.T, got []eventstore.Commit) {
	t.Helper()
	ids := map[string]bool{}
	last := map[string]int64{}
	for _, c := range got {
		if ids[c.CommitID] {
			t.Errorf("commit %s (%s v%d) yielded twice", c.CommitID, c.AggregateID, c.Version)
		}
		ids[c.CommitID] = true
		if v, ok := last[c.AggregateID]; ok && c.Version <= v {
			t.Errorf("%s v%d yielded after v%d", c.AggregateID, c.Version, v)
		}
		last[c.AggregateID] = c.Version
	}
}

// A live Tail with the default settings (10 s settle window) yields each
// new commit well under a second after Append returns, and calls
// OnCaughtUp once, after the backlog.
func TestLiveTailYieldsWellUnderTheSettleWindow(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	for v := range 3 {
		mustAppend(t, s, commit("backlog", int64(v)))
	}
	r := startTail(t, s, "", eventstore.Live())
	eventually(t, 10*time.Second, func() bool { return r.seen() >= 3 })
	var lat []time.Duration
	for v := range 20 {
		c := mustAppend(t, s, commit("live", int64(v)))
		returned := time.Now()
		eventually(t, 10*time.Second, func() bool { return r.has(c.CommitID) })
		r.mu.Lock()
		lat = append(lat, r.at[c.CommitID].Sub(returned))
		r.mu.Unlock()
	}
	r.stop()
	slices.Sort(lat)
	// Generous for a loaded 2-core CI under -race; typically 100-300 ms.
	if p50, max := lat[len(lat)/2], lat[len(lat)-1]; p50 > 1500*time.Millisecond || max > 4*time.Second {
		t.Errorf("live Tail latency p50 %v, max %v: want well under the 10 s settle window", p50, max)
	}
	if r.caughtUp != 1 || r.caughtUpAt < 3 {
		t.Errorf("OnCaughtUp called %d times, after %d commits; want once, after the 3 of the backlog", r.caughtUp, r.caughtUpAt)
	}
	if len(r.errs) != 0 {
		t.Errorf("Tail yielded errors %v, want none", r.errs)
	}
	checkOnceInVersionOrder(t, r.got)
	t.Logf("latency from Append's return to the yield: p50 %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
}

// OnCaughtUp fires once, when the whole backlog has been yielded, in both
// modes, and not again when later commits come.
func TestOnCaughtUpFiresOnceAfterTheBacklog(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	for a := range 5 {
		for v := range 4 {
			mustAppend(t, s, commit(fmt.Sprintf("b%d", a), int64(v)))
		}
	}
	backlog := 20
	for _, mode := range []string{"strict", "live"} {
		opts := []eventstore.ScanOption{eventstore.WithSettle(0)} // the backlog is visible: all of it counts
		if mode == "live" {
			opts = append(opts, eventstore.Live())
		}
		r := startTail(t, s, "", opts...)
		eventually(t, 10*time.Second, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.caughtUp > 0 })
		mustAppend(t, s, commit("after-"+mode, 0))
		eventually(t, 10*time.Second, func() bool { return r.seen() > backlog })
		time.Sleep(300 * time.Millisecond)
		r.stop()
		if r.caughtUp != 1 || r.caughtUpAt != backlog {
			t.Errorf("%s: OnCaughtUp called %d times, after %d commits; want once, after the %d of the backlog",
				mode, r.caughtUp, r.caughtUpAt, backlog)
		}
		if len(r.got) != backlog+1 || len(r.errs) != 0 {
			t.Errorf("%s: yielded %d commits and errors %v, want %d and none", mode, len(r.got), r.errs, backlog+1)
		}
		backlog++
		if cp := r.lastCheckpoint(); mode == "strict" && cp != r.got[len(r.got)-1].CommitID {
			t.Errorf("strict: last checkpoint %s, want the last CommitID yielded %s", cp, r.got[len(r.got)-1].CommitID)
		}
	}
}

// Scan refuses the Live option with a clear error.
func TestScanRefusesLive(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	n := 0
	for _, err := range s.Scan(ctxT(t), "", eventstore.Live()) {
		n++
		if err == nil || !strings.Contains(err.Error(), "Live is an option of Tail") {
			t.Errorf("Scan with Live: %v, want the error saying Live is an option of Tail", err)
		}
	}
	if n != 1 {
		t.Errorf("Scan with Live yielded %d values, want the error once", n)
	}
}

// takeItem reads the item of a stored commit and deletes it, so that a test
// can put it back later, as a late write would land.
func takeItem(t *testing.T, client *dynamodb.Client, table string, c eventstore.Commit) map[string]types.AttributeValue {
	t.Helper()
	key := map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: c.AggregateID},
		"version":     &types.AttributeValueMemberN{Value: fmt.Sprint(c.Version)},
	}
	out, err := client.DeleteItem(ctxT(t), &dynamodb.DeleteItemInput{
		TableName: aws.String(table), Key: key, ReturnValues: types.ReturnValueAllOld})
	if err != nil || out.Attributes == nil {
		t.Fatalf("delete %s v%d: %v", c.AggregateID, c.Version, err)
	}
	return out.Attributes
}

func putRaw(t *testing.T, client *dynamodb.Client, table string, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := client.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// Version 1 lands before version 0 (as a slow write of version 0 would
// make it appear in the index): the live Tail holds version 1 back until
// version 0 is visible and yielded, even though version 0 is visible only
// to the backtrack (its CommitID is seconds old). A version without a prev attribute
// (written before predecessors were recorded) is not held.
func TestLiveTailHoldsAVersionUntilItsPredecessor(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	v0 := mustAppend(t, s, commit("held", 0))
	v1 := mustAppend(t, s, commit("held", 1))
	mustAppend(t, s, commit("legacy", 0))
	legacy := mustAppend(t, s, commit("legacy", 1))
	item0, item1 := takeItem(t, client, table, v0), takeItem(t, client, table, v1)
	takeItem(t, client, table, eventstore.Commit{AggregateID: "legacy", Version: 0}) // never back
	legacyItem := takeItem(t, client, table, legacy)
	if p, ok := item1["prev"].(*types.AttributeValueMemberS); !ok || p.Value != v0.CommitID {
		t.Fatalf("version 1's prev is %v, want version 0's CommitID %s", item1["prev"], v0.CommitID)
	}
	delete(legacyItem, "prev") // as written before predecessors were recorded

	r := startTail(t, s, "", eventstore.Live())
	eventually(t, 10*time.Second, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.caughtUp > 0 })
	putRaw(t, client, table, item1)
	putRaw(t, client, table, legacyItem)
	eventually(t, 5*time.Second, func() bool { return r.has(legacy.CommitID) })
	time.Sleep(time.Second) // several polls find version 1
	if r.has(v1.CommitID) {
		t.Fatalf("version 1 was yielded while version 0 was not visible")
	}
	putRaw(t, client, table, item0) // older than the fast query's lookback: the backtrack finds it
	eventually(t, 20*time.Second, func() bool { return r.has(v1.CommitID) })
	r.stop()
	var ids []string
	for _, c := range r.got {
		ids = append(ids, c.CommitID)
	}
	if want := []string{legacy.CommitID, v0.CommitID, v1.CommitID}; !slices.Equal(ids, want) {
		t.Errorf("live Tail yielded %v, want the legacy commit, then versions 0 and 1: %v", ids, want)
	}
	if len(r.errs) != 0 {
		t.Errorf("Tail yielded errors %v, want none", r.errs)
	}
}

// liveWriters runs n writers, each appending versions of its own
// aggregates through s until stop is closed, retrying versions refused by
// the writer deadline with a new CommitID. It returns the CommitIDs stored
// and refused.
func liveWriters(t *testing.T, s *eventstore.Store, prefix string, n int, stop <-chan struct{}) (stored, refused func() []string) {
	var mu sync.Mutex
	var ok, no []string
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for v := 0; ; {
				select {
				case <-stop:
					return
				default:
				}
				c, err := s.Append(ctxT(t), commit(fmt.Sprintf("%s%d-%d", prefix, w, v%3), int64(v/3)))
				mu.Lock()
				switch {
				case err == nil:
					ok = append(ok, c.CommitID)
					v++
				case errors.Is(err, eventstore.ErrCommitDeadline):
					no = append(no, c.CommitID)
				default:
					t.Errorf("Append: %v", err)
					mu.Unlock()
					return
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond) // a steady load, not a flood of the 2 CI cores
			}
		})
	}
	wait := sync.OnceFunc(wg.Wait)
	return func() []string { wait(); return ok }, func() []string { wait(); return no }
}

// Eight writers whose PutItems are held up to 1.5 s (past their 1 s
// deadline) and whose clocks run 2 s behind the reader's (the allowance for
// skew; the reader's clock is set ahead, since CommitIDs are monotonic per
// process, across the parallel tests) race a live Tail with a 6 s settle
// window (> 1 s + 2 s + index lag; the least the table allows). The Tail yields every stored commit
// exactly once, each aggregate in version order, never a refused one, and
// its checkpoints only move forward.
func TestLiveTailSkipsNothingUnderDelaysAndSkew(t *testing.T) {
	t.Parallel()
	dt := &delayingTransport{max: 1500 * time.Millisecond, r: rand.New(rand.NewPCG(5, 6))}
	cfg := eventstore.Config{ScanShards: 3, MaxCommitLatency: time.Second, Settle: 6 * time.Second}
	writer, client, table := newStore(t, cfg, withTransport(dt))
	skewed := eventstore.WithClock(cfg, func() time.Time { return time.Now().Add(2 * time.Second) })
	reader := storeOn(t, client, table, skewed)
	r := startTail(t, reader, "", eventstore.Live())

	stop := make(chan struct{})
	stored, refused := liveWriters(t, writer, "w", 8, stop)
	time.Sleep(6 * time.Second)
	close(stop)
	want := slices.Sorted(slices.Values(stored()))
	eventually(t, 30*time.Second, func() bool { return r.seen() >= len(want) })
	time.Sleep(2 * time.Second) // anything extra would show up now
	r.stop()

	ids := make([]string, len(r.got))
	for i, c := range r.got {
		ids[i] = c.CommitID
	}
	checkOnceInVersionOrder(t, r.got)
	if got := slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Fatalf("live Tail yielded %d commits, want the %d stored, once each (first difference at %d)",
			len(got), len(want), firstDiff(got, want))
	}
	for _, id := range refused() {
		if slices.Contains(ids, id) {
			t.Errorf("refused commit %s was yielded", id)
		}
	}
	if len(r.errs) != 0 {
		t.Errorf("Tail yielded errors %v, want none", r.errs)
	}
	if !slices.IsSorted(r.checkpoints) || len(r.checkpoints) < 5 {
		t.Errorf("%d checkpoints, sorted %v: want several, only moving forward", len(r.checkpoints), slices.IsSorted(r.checkpoints))
	}
	if len(refused()) == 0 || dt.heldAfter.Load() == 0 {
		t.Errorf("%d refused, %d responses held: the test did not exercise the deadline", len(refused()), dt.heldAfter.Load())
	}
	t.Logf("%d stored, %d refused, %d requests held before sending, %d responses held; %d checkpoints",
		len(want), len(refused()), dt.heldBefore.Load(), dt.heldAfter.Load(), len(r.checkpoints))
}

// A live Tail stopped while writers write, and restarted from the last
// checkpoint it reported, skips nothing, and repeats exactly the commits
// the first Tail yielded after that checkpoint.
func TestLiveTailRestartFromCheckpointSkipsNothing(t *testing.T) {
	t.Parallel()
	cfg := eventstore.Config{ScanShards: 2, MaxCommitLatency: 500 * time.Millisecond, Settle: 5500 * time.Millisecond}
	s, _, _ := newStore(t, cfg)
	stop := make(chan struct{})
	stored, _ := liveWriters(t, s, "r", 4, stop)
	first := startTail(t, s, "", eventstore.Live())
	time.Sleep(9 * time.Second) // past the settle window: the watermark passes some yielded commits
	first.stop()
	cp := first.lastCheckpoint()
	if n := countUpTo(first.got, cp); cp == "" || n == 0 {
		t.Fatalf("the first Tail's checkpoint %q covers %d of the %d commits it yielded in 9 s, want some",
			cp, n, len(first.got))
	}
	second := startTail(t, s, cp, eventstore.Live())
	time.Sleep(2 * time.Second)
	close(stop)
	want := stored()
	eventually(t, 20*time.Second, func() bool {
		return second.seen() >= len(want)-countUpTo(first.got, cp)
	})
	time.Sleep(2 * time.Second)
	second.stop()

	in1 := map[string]bool{}
	for _, c := range first.got {
		in1[c.CommitID] = true
	}
	var repeats, wantRepeats []string
	for _, c := range first.got {
		if c.CommitID > cp {
			wantRepeats = append(wantRepeats, c.CommitID)
		}
	}
	union := maps.Clone(in1)
	for _, c := range second.got {
		if c.CommitID <= cp {
			t.Errorf("restarted Tail yielded %s, at or before its checkpoint %s", c.CommitID, cp)
		}
		if in1[c.CommitID] {
			repeats = append(repeats, c.CommitID)
		}
		union[c.CommitID] = true
	}
	for _, id := range want {
		if !union[id] {
			t.Errorf("commit %s skipped across the restart", id)
		}
	}
	slices.Sort(repeats)
	slices.Sort(wantRepeats)
	if !slices.Equal(repeats, wantRepeats) {
		t.Errorf("restart repeated %d commits, want exactly the %d the first Tail yielded after its checkpoint",
			len(repeats), len(wantRepeats))
	}
	checkOnceInVersionOrder(t, first.got)
	checkOnceInVersionOrder(t, second.got)
	if len(first.errs)+len(second.errs) != 0 {
		t.Errorf("errors %v %v, want none", first.errs, second.errs)
	}
	t.Logf("%d stored; the first Tail yielded %d, %d of them after its checkpoint, repeated by the second", len(want), len(first.got), len(repeats))
}

// countUpTo counts the commits with a CommitID at or before cp.
func countUpTo(got []eventstore.Commit, cp string) int {
	n := 0
	for _, c := range got {
		if c.CommitID <= cp {
			n++
		}
	}
	return n
}

// indexItemsClient counts the items Query returns from an index.
type indexItemsClient struct {
	eventstore.DynamoDBAPI
	items atomic.Int64
}

func (c *indexItemsClient) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.DynamoDBAPI.Query(ctx, in, optFns...)
	if err == nil && in.IndexName != nil {
		c.items.Add(int64(len(out.Items)))
	}
	return out, err
}

// After its consumer stalls for longer than the settle window, a live Tail
// reads the commits written meanwhile once, not once by a fast query and
// again by the backtrack, and yields each of them once, in version order.
func TestLiveTailReadsABacklogOnceAfterAStall(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{MaxCommitLatency: time.Second}) // settle window 6 s
	counting := &indexItemsClient{DynamoDBAPI: client}
	reader := storeOn(t, counting, table, eventstore.Config{MaxCommitLatency: time.Second})
	marker := mustAppend(t, s, commit("marker", 0))

	const aggregates, versions = 10, 30
	stall := make(chan struct{})
	var got []eventstore.Commit
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	go func() {
		defer close(done)
		for c, err := range reader.Tail(ctx, "", eventstore.Live()) {
			if err != nil {
				t.Error(err)
				return
			}
			if c.CommitID == marker.CommitID {
				counting.items.Store(0)
				<-stall // the consumer is busy while the writers go on
				continue
			}
			got = append(got, c)
			if len(got) == aggregates*versions {
				return
			}
		}
	}()
	eventually(t, 10*time.Second, func() bool { return counting.items.Load() == 0 })
	start := time.Now()
	var wg sync.WaitGroup
	for a := range aggregates {
		wg.Go(func() {
			for v := range versions {
				mustAppend(t, s, commit(fmt.Sprintf("stalled-%d", a), int64(v)))
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	time.Sleep(9*time.Second - time.Since(start)) // longer than the settle window
	close(stall)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the Tail yielded %d of %d commits", len(got), aggregates*versions)
	}
	checkOnceInVersionOrder(t, got)
	if n, max := counting.items.Load(), int64(aggregates*versions)*11/10+10; n > max {
		t.Errorf("the Tail read %d index items for the %d commits of the stall, want at most %d (each once)", n, aggregates*versions, max)
	}
}
