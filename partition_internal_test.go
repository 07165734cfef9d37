package eventstore

import (
	"slices"
	"testing"
)

// A reader that picks its shards one by one (the live Tail) must take,
// for a partition, every shard any epoch of the schedule may hold it in:
// partition 5 of 8 is in shard 1 of 4 before a reshard to 16, and in
// shards 5 and 13 after it.
func TestPartShardsCoverEveryEpoch(t *testing.T) {
	sched := ShardSchedule{{Shards: 4}, {From: "01M90000000000000000000000", Shards: 16}}
	for p := 1; p <= 8; p++ {
		for i := range p {
			part := partition{i: i, p: p, set: true}
			got := unionShards(sched, part)
			for _, e := range sched {
				for _, j := range part.shards(e.Shards) {
					if !slices.Contains(got, j) {
						t.Errorf("partition %d of %d: shard %d of epoch %d missing from %v", i, p, j, e.Shards, got)
					}
				}
			}
		}
	}
	if got := unionShards(sched, partition{i: 5, p: 8, set: true}); !slices.Equal(got, []int{1, 5, 13}) {
		t.Errorf("partition 5 of 8 over 4 then 16 shards: %v, want [1 5 13]", got)
	}
	if got := unionShards(sched, partition{}); len(got) != 16 {
		t.Errorf("no partition: %d shards, want all 16", len(got))
	}
}
