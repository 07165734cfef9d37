package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
	"github.com/dynacommit/eventstore/projection"
)

// BenchmarkProjectionRebuild rebuilds a log of 100,000 commits (one event
// of about 100 bytes each; 2,000 with -short) with a consumer of 8
// partitions run by 1, 2 and 4 runners (processes, each with its own
// client and store, in this binary), on a table of 8 shards: unthrottled,
// and under the limits simulator with reads scaled to 1/200 of DynamoDB's
// (15 RCU/s per key value: per shard of the scan index) and writes not
// scaled (1,000 WCU/s: the consumer's state items share one key value),
// one simulator for all runners as DynamoDB's limits are the server's. The handler counts. It reports
// events/s from the start of the runners until every commit was handled
// and every partition caught up, read units per event (every Query of
// every runner, live polls included), handlings per commit, and client
// and server CPU per event.
func BenchmarkProjectionRebuild(b *testing.B) {
	commits := 100_000
	if testing.Short() {
		commits = 2_000
	}
	warmUp(b)
	const partitions, shards, perAggregate = 8, 8, 10
	client := dynamotest.Client(b)
	table := dynamotest.TableName(b, client)
	cfg := eventstore.Config{Table: table, ScanShards: shards, MaxCommitLatency: time.Second, Settle: time.Second + eventstore.SettleAllowance}
	store, _ := newMeteredStore(b, cfg)
	ids := make([]string, commits/perAggregate)
	for i := range ids {
		ids[i] = fmt.Sprintf("account#%d", i)
	}
	fill(b, store, Payloads(100), ids, perAggregate, 1)
	time.Sleep(cfg.Settle) // the whole log settled: the rebuild is the backlog
	for _, limited := range []bool{false, true} {
		for _, procs := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("limits=%v/processes=%d", limited, procs), func(b *testing.B) {
				var sim *limits.Simulator
				if limited {
					var err error
					if sim, err = limits.New(limits.Config{Scale: 0.005, WriteUnits: 200_000, Lag: limits.Lag{Disabled: true}}); err != nil {
						b.Fatal(err)
					}
				}
				for b.Loop() {
					rebuild(b, cfg, sim, procs, partitions, commits)
				}
			})
		}
	}
}

// rebuild runs procs runners of a new consumer until it handled every
// commit and caught up, and reports the figures.
func rebuild(b *testing.B, cfg eventstore.Config, sim *limits.Simulator, procs, partitions, commits int) {
	name := fmt.Sprintf("rebuild-%d", time.Now().UnixNano())
	var handled atomic.Int64
	var mu sync.Mutex
	caughtUp := map[int]bool{}
	all := make(chan struct{})
	handler := projection.HandlerFunc(func(context.Context, eventstore.Commit) error {
		handled.Add(1)
		return nil
	})
	progress := func(p projection.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.CaughtUp && !caughtUp[p.Partition] {
			if caughtUp[p.Partition] = true; len(caughtUp) == partitions {
				close(all)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var meters []*Meter
	cost := TakeCost()
	for range procs {
		var opts []func(*dynamodb.Options)
		if sim != nil {
			opts = append(opts, sim.Install)
		}
		raw := dynamotest.Client(b, opts...)
		meter := NewMeter(raw)
		meters = append(meters, meter)
		store, err := eventstore.New(meter, cfg)
		if err != nil {
			b.Fatal(err)
		}
		r, err := projection.NewRunner(projection.Config{Store: store, DynamoDB: raw, Table: cfg.Table, Name: name,
			Handler: handler, Partitions: partitions, LeaseDuration: 3 * time.Second, OnProgress: progress})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
				b.Error(err)
			}
		})
	}
	start := time.Now()
	select {
	case <-all:
	case <-time.After(10 * time.Minute):
		b.Error("not caught up in 10 minutes")
	}
	for handled.Load() < int64(commits) && time.Since(start) < 10*time.Minute {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	spent := cost.Since()
	cancel()
	wg.Wait()
	var rcu float64
	for _, m := range meters {
		rcu += m.Usage().RCU
	}
	b.ReportMetric(float64(commits)/elapsed.Seconds(), "events/s")
	b.ReportMetric(rcu/float64(commits), "RCU/event")
	b.ReportMetric(float64(handled.Load())/float64(commits), "handlings/commit")
	spent.Report(b, commits)
}
