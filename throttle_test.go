package eventstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

// Writers far past a shard's write ceiling (the limits simulator at 1/200
// of AWS: 5 WCU/s on the one scan-index partition) are throttled, not
// lost: every Append either stores its commit or says definitely that it
// did not (ErrCommitDeadline), never an unknown outcome, even once the
// SDK's retry quota is spent; Scan then yields every stored commit once.
func TestAppendUnderThrottling(t *testing.T) {
	t.Parallel()
	sim, err := limits.New(limits.Config{Scale: 0.005, Lag: limits.Lag{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	client := dynamotest.Client(t, sim.Install)
	table := dynamotest.TableName(t, client)
	s, _ := dynamotest.NewStore(t, eventstore.Config{Table: table, ScanShards: 1}, sim.Install)

	const writers, each = 16, 4
	var mu sync.Mutex
	acked := map[string]bool{}
	var unknown, late, other int
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			next := int64(0) // the aggregate's next version: a refused commit leaves it
			for v := range each {
				c, err := s.Append(ctxT(t), commit(fmt.Sprintf("hot-%d", w), next))
				mu.Lock()
				switch {
				case err == nil:
					acked[c.CommitID] = true
					next++
				case errors.Is(err, eventstore.ErrOutcomeUnknown):
					unknown++
					t.Errorf("writer %d commit %d: %v", w, v, err)
				case errors.Is(err, eventstore.ErrCommitDeadline):
					late++
				default:
					other++
					t.Errorf("writer %d commit %d: %v", w, v, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st := sim.Stats()
	t.Logf("%d stored, %d refused late, %d unknown, %d other; %d write throttles", len(acked), late, unknown, other, st.Total.WriteThrottles)
	if st.Total.WriteThrottles == 0 {
		t.Fatal("nothing was throttled: the test does not test throttling")
	}
	got := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0)))
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.CommitID] {
			t.Errorf("commit %s yielded twice", c.CommitID)
		}
		seen[c.CommitID] = true
		if !acked[c.CommitID] {
			t.Errorf("commit %s (%s v%d) is stored but its Append did not say so", c.CommitID, c.AggregateID, c.Version)
		}
	}
	if len(seen) != len(acked) {
		t.Errorf("Scan yielded %d commits, %d were acknowledged", len(seen), len(acked))
	}
}

// A bulk Import paced past the shard's ceiling slows down instead of
// failing: every commit is imported, none with an unknown outcome.
func TestImportUnderThrottling(t *testing.T) {
	t.Parallel()
	sim, err := limits.New(limits.Config{Scale: 0.005, Lag: limits.Lag{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	client := dynamotest.Client(t, sim.Install)
	table := dynamotest.TableName(t, client)
	s, _ := dynamotest.NewStore(t, eventstore.Config{Table: table, ScanShards: 1}, sim.Install)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for v := range 4 {
				c := commit(fmt.Sprintf("imported-%d", w), int64(v))
				c.CommitID = ulid.Make().String()
				if _, err := s.Import(ctxT(t), c); err != nil {
					t.Errorf("Import %s v%d: %v", c.AggregateID, v, err)
				}
			}
		})
	}
	wg.Wait()
	if st := sim.Stats(); st.Total.WriteThrottles == 0 {
		t.Fatal("nothing was throttled: the test does not test throttling")
	}
	if n := countItems(t, client, table); n != 32 {
		t.Errorf("%d commits stored, want 32", n)
	}
}

// A hot aggregate: its partition key past its share of write units (large
// commits on one aggregate, at 1/10 scale 100 WCU/s per key) is paced, not
// failed: each Append waits for the partition, and none ends unknown.
func TestHotAggregate(t *testing.T) {
	t.Parallel()
	sim, err := limits.New(limits.Config{Lag: limits.Lag{Disabled: true}}) // 1/10: 100 WCU/s a key
	if err != nil {
		t.Fatal(err)
	}
	client := dynamotest.Client(t, sim.Install)
	table := dynamotest.TableName(t, client)
	s, _ := dynamotest.NewStore(t, eventstore.Config{Table: table}, sim.Install)
	start := time.Now()
	for v := range 6 { // about 60 WCU each: 360 units, 3.6 s of the key's rate, past its 1 s burst
		c := commit("hot", int64(v))
		c.Metadata = map[string]string{"pad": randomText(60 * 1024)}
		if _, err := s.Append(ctxT(t), c); err != nil {
			t.Fatalf("Append v%d: %v", v, err)
		}
	}
	elapsed := time.Since(start)
	st := sim.Stats()
	t.Logf("6 commits of 60 KB on one aggregate in %v; %d write throttles", elapsed, st.Total.WriteThrottles)
	if st.Total.WriteThrottles == 0 || elapsed < 2*time.Second {
		t.Errorf("%v and %d throttles: the aggregate's partition was not the limit", elapsed, st.Total.WriteThrottles)
	}
}
