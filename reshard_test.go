package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

// reshardConfig is a store's config for the reshard tests: a 3 s lead
// (the store relies on a schedule for 1.5 s after reading it), a writer
// deadline of 200 ms, so that strict readers settle within 5.2 s.
func reshardConfig(table string, shards int) eventstore.Config {
	return eventstore.WithReshardLead(eventstore.Config{Table: table, ScanShards: shards, MaxCommitLatency: 200 * time.Millisecond}, 3*time.Second)
}

func newReshardStore(tb testing.TB, client *dynamodb.Client, table string, shards int) *eventstore.Store {
	tb.Helper()
	s, err := eventstore.New(client, reshardConfig(table, shards))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// logReader collects what one reader yields.
type logReader struct {
	name string
	mu   sync.Mutex
	got  []eventstore.Commit
	err  error
}

func (r *logReader) run(seq func(func(eventstore.Commit, error) bool)) {
	for c, err := range seq {
		r.mu.Lock()
		if err != nil {
			r.err = err
			r.mu.Unlock()
			return
		}
		r.got = append(r.got, c)
		r.mu.Unlock()
	}
}

func (r *logReader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// acked is the set of commits writers stored: "aggregate/version" to
// CommitID.
type acked struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *acked) add(c eventstore.Commit) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[fmt.Sprintf("%s/%d", c.AggregateID, c.Version)] = c.CommitID
}

// checkReshardLog checks that got holds every commit of want that keep selects
// exactly once, nothing else, and each aggregate's versions in order.
func checkReshardLog(tb testing.TB, name string, got []eventstore.Commit, want map[string]string, keep func(string) bool) {
	tb.Helper()
	seen := map[string]bool{}
	next := map[string]int64{}
	for _, c := range got {
		k := fmt.Sprintf("%s/%d", c.AggregateID, c.Version)
		switch {
		case seen[k]:
			tb.Errorf("%s: %s twice", name, k)
		case want[k] != c.CommitID:
			tb.Errorf("%s: %s (%s) was not stored (stored: %q)", name, k, c.CommitID, want[k])
		case !keep(c.AggregateID):
			tb.Errorf("%s: %s is not in its partition", name, k)
		case c.Version != next[c.AggregateID]:
			tb.Errorf("%s: %s after version %d", name, k, next[c.AggregateID]-1)
		}
		seen[k] = true
		next[c.AggregateID] = c.Version + 1
	}
	missing := 0
	for k := range want {
		if agg, _, _ := strings.Cut(k, "/"); keep(agg) && !seen[k] {
			missing++
		}
	}
	if missing > 0 {
		tb.Errorf("%s: %d of the stored commits missing (yielded %d)", name, missing, len(got))
	}
}

// partitionOf is the partition of p an aggregate is in: FNV-1a of its id
// modulo p, computed here independently of the store.
func partitionOf(aggregateID string, p int) int {
	h := uint32(2166136261)
	for i := 0; i < len(aggregateID); i++ {
		h ^= uint32(aggregateID[i])
		h *= 16777619
	}
	return int(h % uint32(p))
}

// Reshard 4 -> 16 while two writers run, one of them, and every reader,
// holding the old schedule when the change is written: Scan, a strict
// Tail, a live Tail and 4 partitioned strict Tails each yield every
// commit exactly once, each aggregate in version order, across the
// boundary; every commit sits in the shard its CommitID's epoch assigns,
// and after the boundary the 16 shards share the writes evenly. All of it
// under the limits simulator (1/80 scale: the 4 shards take 50 commits/s,
// the two paced writers offer about 70-95 % of it here, as the log says;
// index lag on).
func TestReshardWhileWriting(t *testing.T) {
	t.Parallel()
	sim, err := limits.New(limits.Config{Scale: 0.0125})
	if err != nil {
		t.Fatal(err)
	}
	client := dynamotest.Client(t, sim.Install)
	table := dynamotest.TableName(t, client)
	ctx := ctxT(t)
	writerOld := newReshardStore(t, client, table, 4)
	if err := writerOld.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	readerOld := newReshardStore(t, client, table, 4)
	resharder := newReshardStore(t, client, table, 4)

	tailCtx, stopTails := context.WithCancel(ctx)
	defer stopTails()
	readers := []*logReader{{name: "strict Tail"}, {name: "live Tail"}}
	var tails sync.WaitGroup
	strict, live := readers[0], readers[1] // readers grows below, while these run
	tails.Go(func() { strict.run(readerOld.Tail(tailCtx, "")) })
	tails.Go(func() { live.run(readerOld.Tail(tailCtx, "", eventstore.Live())) })
	for i := range 4 {
		r := &logReader{name: fmt.Sprintf("partition %d of 4", i)}
		readers = append(readers, r)
		tails.Go(func() { r.run(readerOld.Tail(tailCtx, "", eventstore.Partition(i, 4))) })
	}

	stored := &acked{m: map[string]string{}}
	write := func(s *eventstore.Store, prefix string, until time.Time) {
		next := map[string]int64{}
		for n := 0; time.Now().Before(until); n++ {
			agg := fmt.Sprintf("%s-%d", prefix, n%24)
			c, err := s.Append(ctx, commit(agg, next[agg]))
			if errors.Is(err, eventstore.ErrCommitDeadline) {
				continue // not stored (a 200 ms deadline, throttled or loaded): the version stays free
			}
			if err != nil {
				t.Errorf("Append %s v%d: %v", agg, next[agg], err)
				return
			}
			next[agg]++
			stored.add(c)
			time.Sleep(28 * time.Millisecond) // about 35 commits/s a writer, 70 for the two
		}
	}
	start := time.Now()
	until := start.Add(6 * time.Second) // the boundary is about 4 s in
	var writers sync.WaitGroup
	writers.Go(func() { write(writerOld, "old", until) })
	time.Sleep(time.Second)
	sched, err := resharder.Reshard(ctx, 16)
	if err != nil {
		t.Fatal(err)
	}
	writerNew := newReshardStore(t, client, table, 16) // a store configured after the reshard
	writers.Go(func() { write(writerNew, "new", until) })
	writers.Wait()
	boundary := sched[1].From
	before, after := 0, 0
	for _, id := range stored.m {
		if id < boundary {
			before++
		} else {
			after++
		}
	}
	t.Logf("schedule %v; %d commits before the boundary, %d after (%.0f/s, %.0f %% of the 4 shards' ceiling); %d write throttles",
		sched, before, after, float64(before+after)/until.Sub(start).Seconds(), 100*float64(before+after)/until.Sub(start).Seconds()/50,
		sim.Stats().Total.WriteThrottles)
	if before == 0 || after == 0 {
		t.Fatalf("the writes do not straddle the boundary")
	}

	deadline := time.Now().Add(20 * time.Second)
	for _, r := range readers {
		want := len(stored.m)
		if strings.HasPrefix(r.name, "partition") {
			want = 0
			i, _ := strconv.Atoi(strings.Fields(r.name)[1])
			for k := range stored.m {
				if agg, _, _ := strings.Cut(k, "/"); partitionOf(agg, 4) == i {
					want++
				}
			}
		}
		for r.count() < want && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show
	stopTails()
	tails.Wait()
	scanned := collect(t, readerOld.Scan(ctx, ""))
	checkReshardLog(t, "Scan", scanned, stored.m, func(string) bool { return true })
	for _, r := range readers {
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
		}
		keep := func(string) bool { return true }
		if strings.HasPrefix(r.name, "partition") {
			i, _ := strconv.Atoi(strings.Fields(r.name)[1])
			keep = func(agg string) bool { return partitionOf(agg, 4) == i }
		}
		checkReshardLog(t, r.name, r.got, stored.m, keep)
	}
	checkPlacement(t, client, table, sched, stored.m)
}

// checkPlacement reads the whole scan index and checks that every commit
// is in the shard its CommitID's epoch assigns.
func checkPlacement(tb testing.TB, client *dynamodb.Client, table string, sched eventstore.ShardSchedule, stored map[string]string) {
	tb.Helper()
	found := 0
	for shard := range sched[len(sched)-1].Shards {
		p := dynamodb.NewQueryPaginator(client, &dynamodb.QueryInput{
			TableName:                 aws.String(table),
			IndexName:                 aws.String(eventstore.DefaultIndex),
			KeyConditionExpression:    aws.String("#s = :s"),
			ExpressionAttributeNames:  map[string]string{"#s": "shard"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: strconv.Itoa(shard)}},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctxT(tb))
			if err != nil {
				tb.Fatal(err)
			}
			for _, item := range page.Items {
				agg := item["aggregateId"].(*types.AttributeValueMemberS).Value
				id := item["commitId"].(*types.AttributeValueMemberS).Value
				if want := sched.Shard(agg, id); want != shard {
					tb.Errorf("%s commit %s is in shard %d, its epoch assigns %d", agg, id, shard, want)
				}
				found++
			}
		}
	}
	if found != len(stored) {
		tb.Errorf("the scan index holds %d commits, the writers stored %d", found, len(stored))
	}
}

// After the boundary, each of the 16 shards carries within ±20 % of 1/16
// of the writes: 3,200 aggregates, one commit each, by AppendAll.
func TestReshardSpreadsWrites(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	ctx := ctxT(t)
	cfg := eventstore.WithReshardLead(eventstore.Config{Table: table, ScanShards: 4}, 500*time.Millisecond)
	s, err := eventstore.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	sched, err := s.Reshard(ctx, 16)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // past the boundary
	const aggregates = 3200
	for b := 0; b < aggregates; b += eventstore.MaxAppendAll {
		batch := make([]eventstore.Commit, 0, eventstore.MaxAppendAll)
		for i := b; i < b+eventstore.MaxAppendAll; i++ {
			batch = append(batch, commit(fmt.Sprintf("spread-%d", i), 0))
		}
		stored, err := s.AppendAll(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range stored {
			if c.CommitID < sched[1].From {
				t.Fatalf("commit %s is before the boundary %s", c.CommitID, sched[1].From)
			}
		}
	}
	low, high := 0, 0
	for shard := range 16 {
		out, err := client.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(table), IndexName: aws.String(eventstore.DefaultIndex), Select: types.SelectCount,
			KeyConditionExpression:    aws.String("#s = :s"),
			ExpressionAttributeNames:  map[string]string{"#s": "shard"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: strconv.Itoa(shard)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		n := int(out.Count)
		if low == 0 || n < low {
			low = n
		}
		high = max(high, n)
		if share := float64(n) * 16 / aggregates; share < 0.8 || share > 1.2 {
			t.Errorf("shard %d carries %d of %d writes, %.2f of its 1/16 share", shard, n, aggregates, share)
		}
	}
	t.Logf("16 shards carry %d to %d writes each (1/16 = %d)", low, high, aggregates/16)
}

// Two processes resharding at once: one wins, the other gets
// ErrReshardConflict, and the schedule is the winner's. Counts that are
// not larger multiples are refused, and nothing is written.
func TestReshardRace(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	ctx := ctxT(t)
	a := newReshardStore(t, client, table, 4)
	if err := a.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4, 2, 6, 0, -4} {
		if _, err := a.Reshard(ctx, n); err == nil || !strings.Contains(err.Error(), "multiple of 4") {
			t.Errorf("Reshard(%d) = %v, want the count refused", n, err)
		}
	}
	for round, counts := range [][2]int{{16, 8}, {32, 64}} {
		b := newReshardStore(t, client, table, 4)
		if _, err := b.ShardSchedule(ctx); err != nil { // both read the same schedule
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var results [2]eventstore.ShardSchedule
		var errs [2]error
		start := make(chan struct{})
		for i, s := range []*eventstore.Store{a, b} {
			wg.Go(func() {
				<-start
				results[i], errs[i] = s.Reshard(ctx, counts[i])
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i := range 2 {
			switch {
			case errs[i] == nil:
				won = i
			case !errors.Is(errs[i], eventstore.ErrReshardConflict) && !strings.Contains(errs[i].Error(), "multiple of"):
				t.Errorf("round %d: the loser's error is %v, want ErrReshardConflict", round, errs[i])
			}
		}
		if won < 0 || errs[1-won] == nil {
			t.Fatalf("round %d: errors %v, want exactly one winner", round, errs)
		}
		got, err := a.ShardSchedule(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(results[won]) || len(got) != round+2 {
			t.Errorf("round %d: schedule %v, the winner wrote %v", round, got, results[won])
		}
		t.Logf("round %d: %v won with %v; the other: %v", round, counts[won], got, errs[1-won])
	}
}

// oldCheckShards is the check a store of the previous version (without
// shard schedules) made of the metadata item before its first write,
// copied from table.go's checkMeta as it was: scanShards must be a number
// attribute, at least 1, and the store's own count.
func oldCheckShards(ctx context.Context, client *dynamodb.Client, table string, scanShards int) error {
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore"},
			"version":     &types.AttributeValueMemberN{Value: "-1"},
		},
	})
	if err != nil {
		return err
	}
	attr, ok := out.Item["scanShards"].(*types.AttributeValueMemberN)
	if !ok {
		return fmt.Errorf("%w: metadata item of table %s: scanShards: want a number attribute, have %T", eventstore.ErrTableMismatch, table, out.Item["scanShards"])
	}
	n, err := strconv.ParseInt(attr.Value, 10, 64)
	if err != nil || n < 1 {
		return fmt.Errorf("%w: metadata item of table %s: scanShards %v", eventstore.ErrTableMismatch, table, err)
	}
	if n != int64(scanShards) {
		return fmt.Errorf("%w: table %s was created with ScanShards %d, the store has %d", eventstore.ErrShardMismatch, table, n, scanShards)
	}
	return nil
}

// A store of the previous version is accepted before the first reshard
// and refused after it, whatever its ScanShards; this version accepts
// any count of the schedule and refuses others.
func TestReshardRefusesOldStores(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	ctx := ctxT(t)
	s := newReshardStore(t, client, table, 4)
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := oldCheckShards(ctx, client, table, 4); err != nil {
		t.Fatalf("before resharding, an old store is refused: %v", err)
	}
	if _, err := s.Reshard(ctx, 16); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4, 16, 1, 64} {
		err := oldCheckShards(ctx, client, table, n)
		if !errors.Is(err, eventstore.ErrTableMismatch) {
			t.Errorf("an old store with ScanShards %d after resharding: %v, want ErrTableMismatch", n, err)
		}
	}
	for _, n := range []int{4, 16} {
		if _, err := newReshardStore(t, client, table, n).Append(ctx, commit(fmt.Sprintf("a-%d", n), 0)); err != nil {
			t.Errorf("ScanShards %d, a count of the schedule: %v", n, err)
		}
	}
	if _, err := newReshardStore(t, client, table, 8).Append(ctx, commit("b", 0)); !errors.Is(err, eventstore.ErrShardMismatch) {
		t.Errorf("ScanShards 8, no count of the schedule: %v, want ErrShardMismatch", err)
	}
}

// 4 live Tails, each of one of 4 partitions, while writers run: together
// they yield every commit exactly once, each aggregate in version order;
// each stops while the writers run and restarts from its own last
// checkpoint, and skips nothing (it repeats only commits after that
// checkpoint, which the first run's count up to it leaves out).
func TestPartitionedTails(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{ScanShards: 4, MaxCommitLatency: 200 * time.Millisecond})
	ctx := ctxT(t)
	stored := &acked{m: map[string]string{}}
	var writers sync.WaitGroup
	until := time.Now().Add(8 * time.Second) // past a settle window: the first runs' checkpoints cover commits
	for w := range 3 {
		writers.Go(func() {
			next := map[string]int64{}
			for n := 0; time.Now().Before(until); n++ {
				agg := fmt.Sprintf("p%d-%d", w, n%16)
				c, err := s.Append(ctx, commit(agg, next[agg]))
				if errors.Is(err, eventstore.ErrCommitDeadline) {
					continue // not stored (a 200 ms deadline on a loaded machine): the version stays free
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				next[agg]++
				stored.add(c)
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	type run struct {
		got        []eventstore.Commit
		checkpoint string
	}
	runs := make([][2]run, 4)
	var tails sync.WaitGroup
	for i := range 4 {
		tails.Go(func() {
			for half := range 2 {
				r := &runs[i][half]
				from, end := "", until.Add(-time.Second) // the first run stops while the writers run
				if half == 1 {
					from, end = runs[i][0].checkpoint, until.Add(3*time.Second)
				}
				tctx, cancel := context.WithDeadline(ctx, end)
				for c, err := range s.Tail(tctx, from, eventstore.Live(), eventstore.Partition(i, 4),
					eventstore.OnCheckpoint(func(cp string) { r.checkpoint = cp })) {
					if err != nil {
						t.Errorf("partition %d: %v", i, err)
						break
					}
					r.got = append(r.got, c)
				}
				cancel()
			}
		})
	}
	writers.Wait()
	tails.Wait()
	union := map[string]int{}
	for i := range 4 {
		keep := func(agg string) bool { return partitionOf(agg, 4) == i }
		first, second := runs[i][0], runs[i][1]
		checkRun(t, fmt.Sprintf("partition %d, first run", i), first.got, stored.m, keep)
		checkRun(t, fmt.Sprintf("partition %d, restart", i), second.got, stored.m, keep)
		covered := 0
		for _, c := range first.got {
			if c.CommitID <= first.checkpoint {
				union[fmt.Sprintf("%s/%d", c.AggregateID, c.Version)]++
				covered++
			}
		}
		if covered == 0 {
			t.Errorf("partition %d: its checkpoint %s covers none of the %d commits of its first run", i, first.checkpoint, len(first.got))
		}
		for _, c := range second.got {
			if c.CommitID <= first.checkpoint {
				t.Errorf("partition %d: the restart from %s yielded %s", i, first.checkpoint, c.CommitID)
			}
			union[fmt.Sprintf("%s/%d", c.AggregateID, c.Version)]++
		}
		t.Logf("partition %d: %d commits, checkpoint %s covers %d; the restart yielded %d", i, len(first.got), first.checkpoint, covered, len(second.got))
	}
	for k := range stored.m {
		if union[k] != 1 {
			t.Errorf("%s yielded %d times across the partitions", k, union[k])
		}
	}
	if len(union) != len(stored.m) {
		t.Errorf("the partitions yielded %d commits, the writers stored %d", len(union), len(stored.m))
	}
}

// checkRun checks one run of a Tail: each commit once, stored, of its
// partition, and each aggregate's versions increasing by one.
func checkRun(tb testing.TB, name string, got []eventstore.Commit, stored map[string]string, keep func(string) bool) {
	tb.Helper()
	seen := map[string]bool{}
	last := map[string]int64{}
	for _, c := range got {
		k := fmt.Sprintf("%s/%d", c.AggregateID, c.Version)
		if seen[k] || stored[k] != c.CommitID || !keep(c.AggregateID) {
			tb.Errorf("%s: %s (%s): twice, not stored or not of the partition", name, k, c.CommitID)
		}
		if v, ok := last[c.AggregateID]; ok && c.Version != v+1 {
			tb.Errorf("%s: %s after version %d", name, k, v)
		}
		seen[k], last[c.AggregateID] = true, c.Version
	}
}

// A partition outside 0 <= i < p is refused by Scan and Tail.
func TestPartitionInvalid(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	for _, pt := range [][2]int{{4, 4}, {-1, 4}, {0, 0}, {0, -2}} {
		for name, seq := range map[string]func(func(eventstore.Commit, error) bool){
			"Scan": s.Scan(ctxT(t), "", eventstore.Partition(pt[0], pt[1])),
			"Tail": s.Tail(ctxT(t), "", eventstore.Partition(pt[0], pt[1]), eventstore.Live()),
		} {
			var err error
			for _, e := range seq {
				err = e
				break
			}
			if err == nil || !strings.Contains(err.Error(), "invalid partition") {
				t.Errorf("%s with Partition(%d, %d): %v, want invalid partition", name, pt[0], pt[1], err)
			}
		}
	}
}
