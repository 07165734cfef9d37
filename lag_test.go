package eventstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

// With the scan index showing commits late (the limits simulator's lag
// model: half within 50 ms, 1 % after 300 ms, 0.1 % after 3 s), a live
// Tail still yields every commit once, each aggregate in version order,
// and one late commit does not hold back its aggregate's later versions
// until the settle horizon: the Tail reads the predecessor a commit waits
// for from the table.
func TestLiveTailUnderIndexLag(t *testing.T) {
	t.Parallel()
	sim, err := limits.New(limits.Config{Scale: 1, Lag: limits.Lag{
		P50: 50 * time.Millisecond, P99: 300 * time.Millisecond, Tail: 3 * time.Second, TailFraction: 0.001, Seed: 7}})
	if err != nil {
		t.Fatal(err)
	}
	client := dynamotest.Client(t, sim.Install)
	table := dynamotest.TableName(t, client)
	s, _ := dynamotest.NewStore(t, eventstore.Config{Table: table}, sim.Install)

	r := startTail(t, s, "", eventstore.Live())
	eventually(t, 10*time.Second, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.caughtUp > 0 })
	const writers, aggregates, perWriter = 6, 12, 60
	var mu sync.Mutex
	returned := map[string]time.Time{}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				agg := fmt.Sprintf("lagged-%d", (w*perWriter+i)%aggregates)
				c, err := s.AppendNext(ctx, eventstore.Commit{AggregateID: agg, Events: []eventstore.Event{event("e", i)}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				returned[c.CommitID] = time.Now()
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	eventually(t, 30*time.Second, func() bool { return r.seen() >= writers*perWriter })
	r.stop()
	checkOnceInVersionOrder(t, r.got)
	var lat []time.Duration
	for id, at := range returned {
		lat = append(lat, r.at[id].Sub(at))
	}
	slices.Sort(lat)
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	t.Logf("%d commits: p50 %v, p99 %v, max %v", len(lat), p50, p99, worst)
	// The goal is p99 <= 1 s (see BenchmarkLiveUnderLag); CI's 2 loaded
	// cores and -race get a margin. Without the read from the table, a
	// commit shown 3 s late held its aggregate back about 10 s.
	if p99 > 2500*time.Millisecond {
		t.Errorf("p99 %v from Append to yield, want under 2.5 s", p99)
	}
}
