package benchmarks

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

// reshardScale is the simulator's scale of BenchmarkReshardCeiling: 1/40
// of AWS, 25 WCU/s per shard, so that 16 shards' ceiling (400 commits/s)
// stays within what DynamoDB Local serves on 2 cores.
const reshardScale = 0.025

// BenchmarkReshardCeiling measures the write ceiling of a table under the
// limits simulator before and after a reshard from 4 to 16 shards: 150 %
// of the 4-shard ceiling is offered, the table is resharded, and once the
// boundary (ReshardLead, a minute ahead) has passed, 150 % of the 16-shard
// ceiling. It reports both rates, their ratio (about 4), and how evenly
// the 16 shards shared the writes after the boundary (the largest
// deviation from 1/16, in %).
func BenchmarkReshardCeiling(b *testing.B) {
	warmUp(b)
	for b.Loop() {
		sim, err := limits.New(limits.Config{Scale: reshardScale, Lag: limits.Lag{Disabled: true}})
		if err != nil {
			b.Fatal(err)
		}
		store, table := newLimitedStore(b, sim, 4)
		ceil := func(shards int) float64 { return 1000 * reshardScale * float64(shards) }
		load := func(shards int, prefix string) *loadResult {
			offered := 1.5 * ceil(shards)
			r := runLoad(b, store, loadConfig{shards: shards, itemKB: 1, offered: offered, writers: max(64, int(offered/4)),
				duration: runLength(20 * time.Second), sim: sim, prefix: prefix})
			if len(r.failed) > 0 || r.unknown > 0 {
				b.Fatalf("%d Appends failed, %d unknown; the first: %v", len(r.failed), r.unknown, r.failed)
			}
			return r
		}
		before := load(4, "before-")
		sched, err := store.Reshard(context.Background(), 16)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("resharded: %v; waiting for the boundary", sched)
		waitForBoundary(b, sched[len(sched)-1].From)
		sim.Reset()
		after := load(16, "after-")
		share := shareSpread(sim.Stats(), table, 16)
		b.Logf("4 shards: %.0f commits/s; 16 shards: %.0f commits/s (%.2fx); largest deviation from 1/16 after the boundary: %.0f %%; load %.1f",
			before.rate(), after.rate(), after.rate()/before.rate(), share, loadAverage())
		b.ReportMetric(before.rate(), "commits/s-4-shards")
		b.ReportMetric(after.rate(), "commits/s-16-shards")
		b.ReportMetric(after.rate()/before.rate(), "x-ceiling")
		b.ReportMetric(share, "%max-share-deviation")
		b.ReportMetric(loadAverage(), "load1")
	}
}

// waitForBoundary sleeps until the CommitID time from, and a second more.
func waitForBoundary(tb testing.TB, from string) {
	tb.Helper()
	id, err := ulid.ParseStrict(from)
	if err != nil {
		tb.Fatal(err)
	}
	time.Sleep(time.Until(ulid.Time(id.Time()).Add(time.Second)))
}

// shareSpread is the largest deviation, in %, of one shard's write units
// on the scan index from an even share of n shards.
func shareSpread(st limits.Stats, table string, n int) float64 {
	var total float64
	units := make([]float64, n)
	for j := range n {
		units[j] = st.Keys[limits.Key{Table: table, Index: eventstore.DefaultIndex, Value: strconv.Itoa(j)}].WriteUnits
		total += units[j]
	}
	worst := 0.0
	for _, u := range units {
		worst = max(worst, 100*abs(u*float64(n)/total-1))
	}
	return worst
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
