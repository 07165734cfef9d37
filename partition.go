package eventstore

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
)

// Partitions of the log (the Partition option), and the one place a range
// of CommitIDs becomes the queries of the scan index: split at the shard
// schedule's boundaries, each piece read with its own count, only the
// shards a partition needs.

// partition is partition i of p of the aggregates: those whose hash is i
// modulo p. The zero partition is the whole log.
type partition struct {
	i, p int
	set  bool // Partition was given; see readOptions
}

// holds reports whether the aggregate is in the partition.
func (pt partition) holds(aggregateID string) bool {
	return !pt.set || pt.p <= 1 || int(aggregateHash(aggregateID)%uint32(pt.p)) == pt.i
}

// shards returns the shards, of n, that may hold the partition's
// aggregates. Shard j holds the hashes h = j mod n, the partition those
// with h = i mod p; both hold for some h exactly when j = i modulo
// gcd(n, p). So when p divides n a partition reads n/p shards, when n
// divides p one, and otherwise the shards of its residue modulo the
// greatest common divisor (all of them when it is 1).
func (pt partition) shards(n int) []int {
	step := 1
	if pt.set && pt.p > 1 {
		step = gcd(n, pt.p)
	}
	out := make([]int, 0, n/step)
	for j := pt.i % step; j < n; j += step {
		out = append(out, j)
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// keep drops the items of aggregates outside the partition. An item
// without a readable aggregate id is kept: decoding it reports it.
func (pt partition) keep(items []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	if !pt.set || pt.p <= 1 {
		return items
	}
	out := items[:0:0]
	for _, item := range items {
		id, err := stringAttr(item, attrAggregateID)
		if err != nil || pt.holds(id) {
			out = append(out, item)
		}
	}
	return out
}

// shardQueries returns the queries of the scan index that read the
// commits of the partition with lo <= CommitID <= hi: the range split at
// the shard schedule's boundaries, each piece a query per shard of its
// count that the partition needs. The schedule is the one the store knows
// if it is right up to hi's time (or now, for a range open above), and
// read again otherwise (see scheduleThrough): no reader reads a range, nor
// advances a horizon over it, with a count it could have missed.
func (s *Store) shardQueries(ctx context.Context, lo, hi ulid.ULID, part partition) ([]*dynamodb.QueryInput, error) {
	return s.shardQueriesOf(ctx, lo, hi, part, -1)
}

// shardQueriesOf is shardQueries for shard number only alone (in every
// epoch that has it), or for every shard when only is -1: a live Tail
// polls its busy shards more often than its quiet ones.
func (s *Store) shardQueriesOf(ctx context.Context, lo, hi ulid.ULID, part partition, only int) ([]*dynamodb.QueryInput, error) {
	through := s.cfg.now()
	if t := time.UnixMilli(int64(hi.Time())); t.Before(through) {
		through = t
	}
	sched, err := s.scheduleThrough(ctx, through)
	if err != nil {
		return nil, err
	}
	var queries []*dynamodb.QueryInput
	for _, pc := range sched.split(lo, hi) {
		for _, j := range part.shards(pc.n) {
			if only < 0 || j == only {
				queries = append(queries, s.shardQuery(j, pc.lo, pc.hi))
			}
		}
	}
	return queries, nil
}

// allShards is the number of shards any epoch of the schedule the store
// knows uses: the newest count, since counts only grow.
func (s *Store) allShards() int { return s.current().last().Shards }

// partShards returns the shard numbers, in any epoch of the schedule the
// store knows, that may hold the partition's aggregates: the union of each
// epoch's (see partition.shards), in order. One epoch's set need not hold
// another's (a partition i of p reads shards j = i mod gcd(n, p), and the
// gcd grows with n), so a reader that picks its shards one by one must
// take them all.
func (s *Store) partShards(part partition) []int {
	return unionShards(s.current(), part)
}

func unionShards(sched ShardSchedule, part partition) []int {
	seen := map[int]bool{}
	var out []int
	for _, e := range sched {
		for _, j := range part.shards(e.Shards) {
			if !seen[j] {
				seen[j] = true
				out = append(out, j)
			}
		}
	}
	slices.Sort(out)
	return out
}
