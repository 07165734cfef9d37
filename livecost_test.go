package eventstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

// tailCost is what one Tail read, measured by its own simulator.
type tailCost struct {
	sim     *limits.Simulator
	queries *countingClient
	run     *liveRun
}

func startCostedTail(t *testing.T, table string, opts ...eventstore.ScanOption) *tailCost {
	t.Helper()
	sim, err := limits.New(limits.Config{Scale: 10, Lag: limits.Lag{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	qc := &countingClient{DynamoDBAPI: dynamotest.Client(t, sim.Install)}
	reader := storeOn(t, qc, table, eventstore.Config{})
	return &tailCost{sim: sim, queries: qc, run: startTail(t, reader, "", opts...)}
}

// A live Tail costs at most 4 times the read units per commit of a strict
// one (the simulator's count: 1 KB commits, 0.5 unit per started 4 KB an
// index query returns, at least 0.5 a query), and an idle one sends at
// most about one query a second per shard. Not parallel: the polls'
// rhythm, and so the cost, depends on the machine's load.
func TestLiveTailCost(t *testing.T) {
	s, client, table := newStore(t, eventstore.Config{})
	_ = client
	live := startCostedTail(t, table, eventstore.Live())
	strict := startCostedTail(t, table)
	eventually(t, 20*time.Second, func() bool {
		live.run.mu.Lock()
		defer live.run.mu.Unlock()
		return live.run.caughtUp > 0
	})

	// Idle: nothing is written for 4 s.
	live.queries.queries.Store(0)
	time.Sleep(4 * time.Second)
	idle := float64(live.queries.queries.Load()) / 4 / float64(eventstore.DefaultScanShards)

	// Busy: 8 writers, 1 KB commits, for 6 s.
	live.sim.Reset()
	strict.sim.Reset()
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(ctxT(t), 6*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for v := 0; ctx.Err() == nil; v++ {
				c := commit(fmt.Sprintf("costed-%d", w), int64(v), event("e", v))
				c.Events[0].Metadata = map[string]string{"pad": randomText(900)}
				if _, err := s.Append(ctx, c); err != nil {
					if ctx.Err() == nil {
						t.Error(err)
					}
					return
				}
				n.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	commits := n.Load()
	eventually(t, 30*time.Second, func() bool { return strict.run.seen() >= int(commits) && live.run.seen() >= int(commits) })
	liveRU := live.sim.Stats().Total.ReadUnits / float64(commits)
	strictRU := strict.sim.Stats().Total.ReadUnits / float64(commits)
	t.Logf("%d commits: read units per commit live %.3f, strict %.3f (%.1fx); idle live Tail %.2f queries/s per shard",
		commits, liveRU, strictRU, liveRU/strictRU, idle)
	if liveRU > 4*strictRU {
		t.Errorf("a live Tail read %.3f units per commit, over 4x a strict one's %.3f", liveRU, strictRU)
	}
	if idle > 1.3 {
		t.Errorf("an idle live Tail sent %.2f queries/s per shard, want about 1", idle)
	}
}
