package projection_test

import (
	"errors"

	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/projection"
)

// fixture is a store with a log, and what a consumer needs.
type fixture struct {
	store  *eventstore.Store
	client projection.DynamoDBAPI
	table  string
	aggs   []string
}

func newFixture(t *testing.T, aggs []string, rounds int) *fixture {
	t.Helper()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	store, _ := dynamotest.NewStore(t, storeConfig(table))
	ctx := ctxT(t, time.Minute)
	for v := range rounds {
		appendRound(t, ctx, store, aggs, int64(v))
	}
	return &fixture{store: store, client: client, table: table, aggs: aggs}
}

func (f *fixture) config(name string, h projection.Handler) projection.Config {
	return projection.Config{Store: f.store, DynamoDB: f.client, Table: f.table, Name: name, Handler: h,
		Partitions: 4, LeaseDuration: time.Second, RetryDelay: 10 * time.Millisecond, CheckpointEvery: 200 * time.Millisecond}
}

// checkOrder checks that every aggregate's versions came 0, 1, ... upto
// without a repeat.
func checkOrder(t *testing.T, got map[string][]int64, aggs []string, upto int64) {
	t.Helper()
	for _, a := range aggs {
		want := make([]int64, upto+1)
		for v := range want {
			want[v] = int64(v)
		}
		if !slices.Equal(got[a], want) {
			t.Errorf("%s: handed versions %v, want %v", a, got[a], want)
		}
	}
}

// A consumer rebuilds a log, then follows the commits appended while it
// runs, with no gap and each aggregate in version order; its state is
// invisible to Scan; its checkpoints and progress are reported.
func TestRebuildThenLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, aggregates("acc", 20), 3)
	rec := &recorder{}
	var mu sync.Mutex
	caughtUp := map[int]bool{}
	cfg := f.config("live", rec)
	cfg.OnProgress = func(p projection.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.CaughtUp {
			caughtUp[p.Partition] = true
		}
	}
	runRunner(t, cfg)
	ctx := ctxT(t, time.Minute)
	waitFor(t, 20*time.Second, "the rebuild", func() bool { return len(rec.commits()) == 60 })
	waitFor(t, 10*time.Second, "every partition caught up", func() bool { mu.Lock(); defer mu.Unlock(); return len(caughtUp) == 4 })
	start := time.Now()
	appendRound(t, ctx, f.store, f.aggs, 3)
	waitFor(t, 10*time.Second, "the live commits", func() bool { return len(rec.commits()) == 80 })
	t.Logf("rebuilt 60 commits, then 20 live commits handed in %v", time.Since(start))
	checkOrder(t, rec.versions(), f.aggs, 3)
	for c, err := range f.store.Scan(ctx, "", eventstore.WithSettle(0)) {
		if err != nil {
			t.Fatal(err)
		}
		if c.Version < 0 || len(c.AggregateID) > 0 && c.AggregateID[0] == '$' {
			t.Fatalf("Scan yielded the consumer's item %s %d", c.AggregateID, c.Version)
		}
	}
	status, err := projection.NewAdmin(f.client, f.table).Status(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range status {
		if !p.Held(time.Now()) || p.Checkpoint == "" || !p.CaughtUp {
			t.Errorf("partition %d: %+v, want held, caught up, with a checkpoint", p.Partition, p)
		}
	}
}

// One aggregate's handler always fails: after MaxAttempts it is parked,
// its later commits wait while every other aggregate reaches the end;
// after a fix, a retry hands its commits in order, and skip passes over
// a commit.
func TestPoisonAggregate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, aggregates("acc", 10), 2)
	poison := f.aggs[3]
	var broken sync.Map
	broken.Store(poison, true)
	attempts := map[int64]int{}
	rec := &recorder{fail: func(c eventstore.Commit) error {
		if _, bad := broken.Load(c.AggregateID); bad {
			attempts[c.Version]++
			return errors.New("cannot apply")
		}
		return nil
	}}
	cfg := f.config("poison", rec)
	cfg.MaxAttempts = 3
	runRunner(t, cfg)
	ctx := ctxT(t, time.Minute)
	admin := projection.NewAdmin(f.client, f.table)
	parked := func() []projection.Parked {
		p, err := admin.Parked(ctx, "poison")
		if err != nil && !errors.Is(err, projection.ErrUnknownConsumer) {
			t.Fatal(err)
		}
		return p
	}
	waitFor(t, 20*time.Second, "the aggregate parked", func() bool { return len(parked()) == 1 })
	appendRound(t, ctx, f.store, f.aggs, 2) // the others flow, the poison's v2 waits
	waitFor(t, 20*time.Second, "the other aggregates", func() bool { return len(rec.commits()) == 27 })
	p := parked()[0]
	if p.AggregateID != poison || p.Version != 0 || p.Attempts != 3 || p.Error != "cannot apply" {
		t.Errorf("parked %+v, want %s at version 0 after 3 attempts", p, poison)
	}
	if attempts[0] != 3 || attempts[1] != 0 {
		t.Errorf("attempts per version %v, want 3 of version 0 and none of later ones", attempts)
	}
	others := slices.DeleteFunc(slices.Clone(f.aggs), func(a string) bool { return a == poison })
	checkOrder(t, rec.versions(), others, 2)
	if err := admin.Retry(ctx, "poison", "acc#1"); !errors.Is(err, projection.ErrNotParked) {
		t.Errorf("Retry of an aggregate not parked: %v, want ErrNotParked", err)
	}

	broken.Delete(poison) // the fix
	if err := admin.Retry(ctx, "poison", poison); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the retried commits", func() bool { return len(rec.commits()) == 30 && len(parked()) == 0 })
	checkOrder(t, rec.versions(), f.aggs, 2)
	appendRound(t, ctx, f.store, f.aggs, 3) // and it flows again
	waitFor(t, 10*time.Second, "the next commits", func() bool { return len(rec.commits()) == 40 })
	checkOrder(t, rec.versions(), f.aggs, 3)

	// Skip: version 4 of the poison fails; skipping it hands version 5.
	broken.Store(poison, true)
	appendRound(t, ctx, f.store, f.aggs[3:4], 4)
	waitFor(t, 20*time.Second, "parked again", func() bool { return len(parked()) == 1 })
	appendRound(t, ctx, f.store, f.aggs[3:4], 5)
	broken.Delete(poison)
	if err := admin.Skip(ctx, "poison", poison); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "version 5 after the skip", func() bool { return len(rec.commits()) == 41 && len(parked()) == 0 })
	if got := rec.versions()[poison]; !slices.Equal(got, []int64{0, 1, 2, 3, 5}) {
		t.Errorf("%s handed %v, want 0 1 2 3 5 (4 skipped)", poison, got)
	}
}

// Reset hands every commit again from the beginning; a second consumer
// with another name is independent of the first.
func TestResetAndIndependentConsumers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, aggregates("acc", 10), 2)
	first, second := &recorder{}, &recorder{}
	runRunner(t, f.config("first", first))
	runRunner(t, f.config("second", second))
	ctx := ctxT(t, time.Minute)
	admin := projection.NewAdmin(f.client, f.table)
	waitFor(t, 20*time.Second, "both consumers", func() bool { return len(first.commits()) == 20 && len(second.commits()) == 20 })
	waitFor(t, 10*time.Second, "checkpoints", func() bool {
		st, err := admin.Status(ctx, "first")
		return err == nil && !slices.ContainsFunc(st, func(p projection.PartitionStatus) bool { return p.Checkpoint == "" })
	})
	if err := admin.Reset(ctx, "first", "", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the reset consumer's second pass", func() bool { return len(first.commits()) == 40 })
	time.Sleep(500 * time.Millisecond)
	if n := len(second.commits()); n != 20 {
		t.Errorf("the second consumer got %d commits, want 20: the reset of the first changed it", n)
	}
	again := map[string][]int64{}
	for _, c := range first.commits()[20:] {
		again[c.AggregateID] = append(again[c.AggregateID], c.Version)
	}
	checkOrder(t, again, f.aggs, 1)
	names, err := admin.Consumers(ctx)
	if err != nil || !slices.Equal(names, []string{"first", "second"}) {
		t.Errorf("Consumers = %v, %v; want [first second]", names, err)
	}
	if err := admin.Reset(ctx, "third", "", 0); !errors.Is(err, projection.ErrUnknownConsumer) {
		t.Errorf("Reset of an unknown consumer: %v", err)
	}

}
