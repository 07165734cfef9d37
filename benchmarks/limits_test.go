package benchmarks

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

// The benchmarks at DynamoDB's limits run the store through the limits
// simulator (dynamotest/limits) at 1/10 of AWS's per-partition limits:
// 100 WCU/s and 300 RCU/s per key value. A shard is one partition of the
// scan index, so the write ceiling is 100 × ScanShards ÷ ceil(item KB)
// commits/s here, 1,000 × ScanShards ÷ ceil(item KB) on AWS.
//
// Each benchmark iteration is one run of -limits.seconds (default 20 s;
// with -short 4 s, and TestOverload 10 s); run them with -benchtime 3x for
// three runs and take the medians (make test-long).
var limitsSeconds = flag.Float64("limits.seconds", 0, "length of one run of the benchmarks at the limits, in seconds (0: 20, or 4 with -short)")

// runLength is the length of one run at the limits.
func runLength(long time.Duration) time.Duration {
	switch {
	case *limitsSeconds > 0:
		return time.Duration(*limitsSeconds * float64(time.Second))
	case testing.Short():
		return 4 * time.Second
	}
	return long
}

// simScale is the simulator's scale: 1/10 of AWS.
const simScale = 0.1

// limitsAggregates is how many aggregates the load writes to, round robin.
const limitsAggregates = 1000

// loadConfig is a write load.
type loadConfig struct {
	shards   int           // the store's ScanShards
	itemKB   int           // commit size: 1 or 2 (KB, DynamoDB's item size rules)
	offered  float64       // commits/s offered; 0: as fast as the writers go
	writers  int           // concurrent writers
	duration time.Duration // how long commits are offered
	sim      *limits.Simulator
	prefix   string // of the aggregate ids, so that loads on one table do not meet
}

// loadResult is what a load achieved.
type loadResult struct {
	acked      map[string]eventstore.Commit // by CommitID
	ackedAt    map[string]time.Time         // when its Append returned
	inWindow   int                          // commits acknowledged while the load was offered
	elapsed    time.Duration
	refused    int // ErrCommitDeadline: definitely not stored
	retried    int // ErrOutcomeUnknown, retried with the same Commit
	unknown    int // still unknown after the retry
	failed     []error
	dropped    int // offered commits no writer was free to take
	writeUnits float64
	throttles  int64
}

// rate is commits/s acknowledged while the load was offered.
func (r *loadResult) rate() float64 { return float64(r.inWindow) / r.elapsed.Seconds() }

// padding returns a metadata value that makes a commit's item kb KB in
// DynamoDB's size rules (just under kb × 1,024 bytes: kb write units).
// Random letters, so that compression does not shrink it.
func padding(r *rand.Rand, kb int) map[string]string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, kb*1024-padOverhead)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return map[string]string{"pad": string(b)}
}

// padOverhead is the size of a padded commit's item besides its pad, with
// a margin: its keys, ids, timestamps and the compressed events.
const padOverhead = 420

// newLimitedStore returns a store on a new table with shards scan shards,
// whose client goes through sim (none: straight to DynamoDB Local).
func newLimitedStore(tb testing.TB, sim *limits.Simulator, shards int) (*eventstore.Store, string) {
	tb.Helper()
	var opts []func(*dynamodb.Options)
	if sim != nil {
		opts = append(opts, sim.Install)
	}
	client := dynamotest.Client(tb, opts...)
	table := dynamotest.TableName(tb, client)
	store, _ := dynamotest.NewStore(tb, eventstore.Config{Table: table, ScanShards: shards}, opts...)
	return store, table
}

// runLoad offers cfg's load to store and waits for every writer. Each
// writer owns every writers-th aggregate and appends the next version of
// them in turn. An Append whose outcome is unknown is retried once with the
// same Commit, as the API contract asks of a caller; one refused
// (ErrCommitDeadline) leaves its version free for the next commit.
func runLoad(tb testing.TB, store *eventstore.Store, cfg loadConfig) *loadResult {
	tb.Helper()
	res := &loadResult{acked: map[string]eventstore.Commit{}, ackedAt: map[string]time.Time{}}
	var mu sync.Mutex
	if cfg.sim != nil {
		cfg.sim.Reset()
	}
	ctx := context.Background()
	tokens := make(chan struct{}, cfg.writers)
	var offering atomic.Bool
	offering.Store(true)
	start := time.Now()
	go func() { // the offered load: one token per commit
		defer close(tokens)
		if cfg.offered <= 0 {
			for time.Since(start) < cfg.duration {
				tokens <- struct{}{}
			}
			return
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		sent := 0
		for now := range tick.C {
			elapsed := now.Sub(start)
			if elapsed >= cfg.duration {
				return
			}
			for due := int(elapsed.Seconds() * cfg.offered); sent < due; sent++ {
				select {
				case tokens <- struct{}{}:
				default:
					mu.Lock()
					res.dropped++
					mu.Unlock()
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range cfg.writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 21))
			var aggs []string
			for a := w; a < limitsAggregates; a += cfg.writers {
				aggs = append(aggs, fmt.Sprintf("%slimits-%04d", cfg.prefix, a))
			}
			next := make([]int64, len(aggs))
			for i := 0; ; i++ {
				if _, ok := <-tokens; !ok {
					return
				}
				k := i % len(aggs)
				c := eventstore.Commit{AggregateID: aggs[k], Version: next[k],
					Events:   []eventstore.Event{{Type: "loaded", Data: []byte(`{"n":1}`)}},
					Metadata: padding(r, cfg.itemKB)}
				got, err := store.Append(ctx, c)
				retried := false
				if errors.Is(err, eventstore.ErrOutcomeUnknown) {
					retried = true
					got, err = store.Append(ctx, got)
				}
				mu.Lock()
				if retried {
					res.retried++
				}
				switch {
				case err == nil:
					res.acked[got.CommitID] = got
					res.ackedAt[got.CommitID] = time.Now()
					if offering.Load() {
						res.inWindow++
					}
					next[k]++
				case errors.Is(err, eventstore.ErrCommitDeadline):
					res.refused++
				case errors.Is(err, eventstore.ErrOutcomeUnknown):
					res.unknown++
				default:
					res.failed = append(res.failed, err)
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(cfg.duration)
	offering.Store(false)
	mu.Lock()
	res.elapsed = time.Since(start)
	mu.Unlock()
	wg.Wait()
	if cfg.sim != nil {
		st := cfg.sim.Stats()
		res.writeUnits = st.Total.WriteUnits
		res.throttles = st.Total.WriteThrottles
	}
	return res
}

// report adds a load's figures to b.
func (r *loadResult) report(b *testing.B, ceiling float64) {
	b.ReportMetric(r.rate(), "commits/s")
	if ceiling > 0 {
		b.ReportMetric(100*r.rate()/ceiling, "%ceiling")
	}
	if n := len(r.acked); n > 0 && r.writeUnits > 0 {
		b.ReportMetric(r.writeUnits/float64(n), "WCU/commit")
	}
	b.ReportMetric(float64(r.throttles)/r.elapsed.Seconds(), "throttles/s")
	b.ReportMetric(float64(r.refused), "refused")
	b.ReportMetric(float64(r.dropped)/r.elapsed.Seconds(), "not-taken/s")
	b.ReportMetric(float64(r.retried), "unknown-retried")
	b.ReportMetric(loadAverage(), "load1")
}

// loadAverage is the machine's 1-minute load average (Linux), -1 if it
// cannot be read: the other load a figure was measured under.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(data), &l); err != nil {
		return -1
	}
	return l
}

// newSimulator returns a simulator at 1/10 scale with lag, or none.
func newSimulator(tb testing.TB, lag limits.Lag) *limits.Simulator {
	tb.Helper()
	sim, err := limits.New(limits.Config{Scale: simScale, Lag: lag})
	if err != nil {
		tb.Fatal(err)
	}
	return sim
}

// ceiling is the write ceiling at 1/10 scale: 100 commits/s per shard per
// started KB.
func ceiling(shards, kb int) float64 { return 1000 * simScale * float64(shards) / float64(kb) }

// BenchmarkWriteCeiling offers 150 % of the write ceiling (100 × shards ÷
// KB commits/s under the simulator at 1/10 scale) to the store, 1,000
// aggregates, and reports the commits/s acknowledged, the write units per
// commit (table and scan index) and the throttles. The bare rows offer
// as much as 64 writers can send, with no simulator: what DynamoDB Local
// serves on this machine, the measuring instrument's own ceiling.
func BenchmarkWriteCeiling(b *testing.B) {
	warmUp(b)
	for _, tc := range []struct {
		shards, kb int
		bare       bool
	}{{4, 1, false}, {8, 1, false}, {4, 2, false}, {4, 1, true}, {8, 1, true}} {
		name := fmt.Sprintf("shards=%d/kb=%d", tc.shards, tc.kb)
		if tc.bare {
			name = fmt.Sprintf("bare/shards=%d/kb=%d", tc.shards, tc.kb)
		}
		b.Run(name, func(b *testing.B) {
			cfg := loadConfig{shards: tc.shards, itemKB: tc.kb, writers: 64, duration: runLength(20 * time.Second)}
			if !tc.bare {
				cfg.sim = newSimulator(b, limits.Lag{Disabled: true})
				cfg.offered = 1.5 * ceiling(tc.shards, tc.kb)
				cfg.writers = max(64, int(cfg.offered/4))
			}
			var runs []*loadResult
			for b.Loop() {
				store, _ := newLimitedStore(b, cfg.sim, tc.shards) // a new table: versions start at 0
				r := runLoad(b, store, cfg)
				if len(r.failed) > 0 {
					b.Fatalf("%d Appends failed, the first: %v", len(r.failed), r.failed[0])
				}
				b.Logf("%s: %.0f commits/s, %.2f WCU/commit, %d throttles, %d refused, %d retried, %d offered not taken, load %.1f",
					name, r.rate(), r.writeUnits/float64(max(1, len(r.acked))), r.throttles, r.refused, r.retried, r.dropped, loadAverage())
				runs = append(runs, r)
			}
			median(runs).report(b, ceilingOf(tc.shards, tc.kb, tc.bare))
		})
	}
}

func ceilingOf(shards, kb int, bare bool) float64 {
	if bare {
		return 0
	}
	return ceiling(shards, kb)
}

// median returns the run of the median rate.
func median(runs []*loadResult) *loadResult {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b *loadResult) int {
		switch {
		case a.rate() < b.rate():
			return -1
		case a.rate() > b.rate():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// checkOverload checks the guarantees of a load past the ceiling: every
// acknowledged commit read back by Scan exactly once, nothing stored
// that its Append did not acknowledge, no outcome unknown after the
// caller's retry, and throughput at least 90 % of the ceiling.
func checkOverload(tb testing.TB, store *eventstore.Store, r *loadResult, ceil float64) {
	tb.Helper()
	if len(r.failed) > 0 {
		tb.Errorf("%d Appends failed, the first: %v", len(r.failed), r.failed[0])
	}
	if r.unknown > 0 {
		tb.Errorf("%d Appends left their outcome unknown after the caller's retry", r.unknown)
	}
	seen := map[string]bool{}
	for c, err := range store.Scan(context.Background(), "", eventstore.WithSettle(0)) {
		if err != nil {
			tb.Fatal(err)
		}
		if seen[c.CommitID] {
			tb.Errorf("commit %s (%s v%d) read back twice", c.CommitID, c.AggregateID, c.Version)
		}
		seen[c.CommitID] = true
		if _, ok := r.acked[c.CommitID]; !ok {
			tb.Errorf("commit %s (%s v%d) is stored but its Append did not learn it", c.CommitID, c.AggregateID, c.Version)
		}
	}
	for id, c := range r.acked {
		if !seen[id] {
			tb.Errorf("acknowledged commit %s (%s v%d) not read back", id, c.AggregateID, c.Version)
		}
	}
	switch {
	case r.rate() >= 0.9*ceil:
	case r.throttles == 0: // the simulator never was the limit: the machine was
		tb.Logf("%.0f commits/s without a throttle: this machine, loaded, could not offer the ceiling of %.0f; the guarantees were checked, the throughput was not", r.rate(), ceil)
	default:
		tb.Errorf("%.0f commits/s at 120 %% of the ceiling, under 90 %% of its %.0f", r.rate(), ceil)
	}
}

// overloadConfig is 120 % of the ceiling of 4 shards, 1 KB commits, with
// writers enough to take it while throttled writers wait out their
// deadline.
func overloadConfig(tb testing.TB, d time.Duration) loadConfig {
	return loadConfig{shards: 4, itemKB: 1, offered: 1.2 * ceiling(4, 1), writers: 512, duration: d,
		sim: newSimulator(tb, limits.Lag{Disabled: true})}
}

// TestOverload offers 120 % of the write ceiling (4 shards, 1 KB commits,
// 1,000 aggregates, the simulator at 1/10 scale) for 10 s (-limits.seconds
// to change it): the store holds its guarantees and its throughput stays
// at 90 % of the ceiling or more. BenchmarkOverload is its long form.
func TestOverload(t *testing.T) {
	d := 10 * time.Second
	if *limitsSeconds > 0 {
		d = runLength(d)
	}
	cfg := overloadConfig(t, d)
	store, _ := newLimitedStore(t, cfg.sim, cfg.shards)
	r := runLoad(t, store, cfg)
	t.Logf("%.0f commits/s (ceiling %.0f), %d acknowledged, %d refused, %d retried, %d throttles, %d not taken; load %.1f",
		r.rate(), ceiling(4, 1), len(r.acked), r.refused, r.retried, r.throttles, r.dropped, loadAverage())
	checkOverload(t, store, r, ceiling(4, 1))
}

// BenchmarkOverload is TestOverload for 60 s a run (-limits.seconds).
func BenchmarkOverload(b *testing.B) {
	warmUp(b)
	cfg := overloadConfig(b, runLength(60*time.Second))
	var runs []*loadResult
	for b.Loop() {
		store, _ := newLimitedStore(b, cfg.sim, cfg.shards)
		r := runLoad(b, store, cfg)
		checkOverload(b, store, r, ceiling(4, 1))
		b.Logf("overload: %.0f commits/s, %d refused, %d retried, %d throttles, %d offered not taken, load %.1f",
			r.rate(), r.refused, r.retried, r.throttles, r.dropped, loadAverage())
		runs = append(runs, r)
	}
	median(runs).report(b, ceiling(4, 1))
}

// queryCounter counts the Query requests of a reader.
type queryCounter struct {
	eventstore.DynamoDBAPI
	queries atomic.Int64
}

func (c *queryCounter) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.queries.Add(1)
	return c.DynamoDBAPI.Query(ctx, in, optFns...)
}

// consumer is a Tail with its own simulator in front of the shared one, so
// that its read units are counted apart while it still meets the shared
// buckets and the index lag of the writers' simulator.
type consumer struct {
	own     *limits.Simulator
	queries *queryCounter
	lat     *Latencies

	mu       sync.Mutex
	next     map[string]int64 // per aggregate, the version expected next
	disorder []string
	errs     []error
	caughtUp chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

// startConsumer starts a Tail of table (live or strict) whose requests go
// through a simulator of its own (no limit: it counts), then shared.
func startConsumer(tb testing.TB, shared *limits.Simulator, table string, shards int, opts ...eventstore.ScanOption) *consumer {
	tb.Helper()
	own, err := limits.New(limits.Config{Scale: 100, Lag: limits.Lag{Disabled: true}})
	if err != nil {
		tb.Fatal(err)
	}
	client := dynamotest.Client(tb, func(o *dynamodb.Options) {
		shared.Install(o)
		own.Install(o) // outermost: own counts, shared limits and hides lagged items
	})
	c := &consumer{own: own, queries: &queryCounter{DynamoDBAPI: client}, lat: NewLatencies(),
		next: map[string]int64{}, caughtUp: make(chan struct{}), done: make(chan struct{})}
	reader, err := eventstore.New(c.queries, eventstore.Config{Table: table, ScanShards: shards})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	var once sync.Once
	opts = append(opts, eventstore.OnCaughtUp(func() { once.Do(func() { close(c.caughtUp) }) }))
	go func() {
		defer close(c.done)
		for cm, err := range reader.Tail(ctx, "", opts...) {
			if err != nil {
				if ctx.Err() == nil {
					c.mu.Lock()
					c.errs = append(c.errs, err)
					c.mu.Unlock()
				}
				continue // a Tail's error ends it, unless it is transient
			}
			c.lat.Arrived(cm.CommitID, time.Now())
			c.mu.Lock()
			if cm.Version != c.next[cm.AggregateID] {
				c.disorder = append(c.disorder, fmt.Sprintf("%s v%d after v%d", cm.AggregateID, cm.Version, c.next[cm.AggregateID]-1))
			}
			c.next[cm.AggregateID] = cm.Version + 1
			c.mu.Unlock()
		}
	}()
	tb.Cleanup(c.stop)
	return c
}

// waitCaughtUp waits until c has caught up, up to 30 s.
func (c *consumer) waitCaughtUp(tb testing.TB) {
	tb.Helper()
	select {
	case <-c.caughtUp:
		return
	case <-c.done:
	case <-time.After(30 * time.Second):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tb.Fatalf("a Tail did not catch up on an empty table within 30 s: %v", c.errs)
}

func (c *consumer) stop() {
	c.cancel()
	<-c.done
}

// await waits until c has yielded every commit r acknowledged (up to limit), and
// checks each arrived once, in version order per aggregate, without error.
func (c *consumer) await(tb testing.TB, name string, r *loadResult, limit time.Duration) {
	tb.Helper()
	acked := r.acked
	for id, at := range r.ackedAt {
		c.lat.Sent(id, at)
	}
	deadline := time.Now().Add(limit)
	for c.lat.Missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := c.lat.Missing(); n > 0 {
		tb.Errorf("%s: %d of %d acknowledged commits not yielded within %v", name, n, len(acked), limit)
	}
	if n := c.lat.Repeated(); n > 0 {
		tb.Errorf("%s: %d commits yielded twice", name, n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.disorder) > 0 {
		tb.Errorf("%s: %d commits out of version order, the first: %s", name, len(c.disorder), c.disorder[0])
	}
	if len(c.errs) > 0 {
		tb.Errorf("%s: %d errors, the first: %v", name, len(c.errs), c.errs[0])
	}
}

// issueLag is the index lag model of issue 21: half of the commits visible
// within 50 ms, 1 % after 300 ms, 0.1 % after 3 s.
var issueLag = limits.Lag{P50: 50 * time.Millisecond, P99: 300 * time.Millisecond, Tail: 3 * time.Second, TailFraction: 0.001, Seed: 21}

// liveFigures is what one run of BenchmarkLiveAtLoad measured.
type liveFigures struct {
	rate             float64 // commits/s acknowledged
	p50, p99, max    time.Duration
	liveRU, strictRU float64 // read units per commit
	idle             float64 // queries/s per shard of an idle live Tail
}

// runLiveAtLoad starts a live and a strict Tail on a new table of 4
// shards, measures the live one idle for 4 s, then offers 80 % of the write
// ceiling (320 commits/s of 1 KB, 1,000 aggregates) for d, the writers'
// simulator at 1/10 scale with the issue's lag model.
func runLiveAtLoad(tb testing.TB, d time.Duration) liveFigures {
	shared := newSimulator(tb, issueLag)
	store, table := newLimitedStore(tb, shared, 4)
	live := startConsumer(tb, shared, table, 4, eventstore.Live())
	strict := startConsumer(tb, shared, table, 4)
	live.waitCaughtUp(tb)
	strict.waitCaughtUp(tb)
	live.queries.queries.Store(0)
	time.Sleep(4 * time.Second)
	f := liveFigures{idle: float64(live.queries.queries.Load()) / 4 / 4}
	live.own.Reset()
	strict.own.Reset()
	r := runLoad(tb, store, loadConfig{shards: 4, itemKB: 1, offered: 0.8 * ceiling(4, 1), writers: 128, duration: d, sim: shared})
	if len(r.failed) > 0 || r.unknown > 0 {
		tb.Fatalf("%d Appends failed, %d unknown", len(r.failed), r.unknown)
	}
	live.await(tb, "live Tail", r, 30*time.Second)
	strict.await(tb, "strict Tail", r, 60*time.Second)
	n := float64(len(r.acked))
	f.rate = r.rate()
	f.p50, f.p99, f.max = live.lat.Percentiles()
	f.liveRU = live.own.Stats().Total.ReadUnits / n
	f.strictRU = strict.own.Stats().Total.ReadUnits / n
	tb.Logf("live Tail at %.0f commits/s (80 %% of 400), %d commits: p50 %v, p99 %v, max %v; read units per commit live %.3f, strict %.3f (%.2fx); idle %.2f queries/s per shard; load %.1f",
		f.rate, len(r.acked), f.p50, f.p99, f.max, f.liveRU, f.strictRU, f.liveRU/f.strictRU, f.idle, loadAverage())
	return f
}

// BenchmarkLiveAtLoad measures a live Tail at 80 % of the write ceiling
// (4 shards, 1 KB commits, 1,000 aggregates, the simulator at 1/10 scale
// with the issue's lag model): latency from Append's return to its yield,
// read units per commit of the live Tail and of a strict one (each counted
// by its own simulator), and an idle live Tail's queries/s per shard.
// Each iteration is one run; the figures are the medians of the runs.
func BenchmarkLiveAtLoad(b *testing.B) {
	warmUp(b)
	var runs []liveFigures
	for b.Loop() {
		runs = append(runs, runLiveAtLoad(b, runLength(20*time.Second)))
	}
	med := func(get func(liveFigures) float64) float64 {
		v := make([]float64, len(runs))
		for i, f := range runs {
			v[i] = get(f)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(med(func(f liveFigures) float64 { return f.rate }), "commits/s")
	b.ReportMetric(med(func(f liveFigures) float64 { return ms(f.p50) }), "p50-ms")
	b.ReportMetric(med(func(f liveFigures) float64 { return ms(f.p99) }), "p99-ms")
	b.ReportMetric(med(func(f liveFigures) float64 { return f.liveRU }), "live-RU/commit")
	b.ReportMetric(med(func(f liveFigures) float64 { return f.strictRU }), "strict-RU/commit")
	b.ReportMetric(med(func(f liveFigures) float64 { return f.idle }), "idle-queries/s/shard")
	b.ReportMetric(loadAverage(), "load1")
}

// A third live consumer on a saturated shard is throttled. One shard at
// its write ceiling (100 commits/s of 1 KB under the simulator at 1/10
// scale), whose scan-index partition serves 50 read units/s here: about
// what two live Tails read, with a quarter to spare (a live Tail reads
// about 0.2 units per 1 KB commit). Two consumers read the load; then a
// third joins and the load runs again: the simulator counts read throttles
// on the index partition. Every consumer rides them out: every commit
// once, each aggregate in version order, no error.
func TestThirdLiveConsumerThrottled(t *testing.T) {
	shared, err := limits.New(limits.Config{Scale: simScale, ReadUnits: 500, Lag: limits.Lag{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	store, table := newLimitedStore(t, shared, 1)
	ixKey := limits.Key{Table: table, Index: eventstore.DefaultIndex, Value: "0"}
	var consumers []*consumer
	var acked []*loadResult
	throttles := make([]int64, 2)
	for phase := range 2 {
		for len(consumers) < 2+phase {
			c := startConsumer(t, shared, table, 1, eventstore.Live())
			c.waitCaughtUp(t)
			consumers = append(consumers, c)
		}
		cfg := loadConfig{shards: 1, itemKB: 1, offered: ceiling(1, 1), writers: 32, duration: runLength(8 * time.Second), sim: shared,
			prefix: fmt.Sprintf("phase%d-", phase)}
		r := runLoad(t, store, cfg)
		if len(r.failed) > 0 || r.unknown > 0 {
			t.Fatalf("%d Appends failed, %d unknown", len(r.failed), r.unknown)
		}
		acked = append(acked, r)
		all := &loadResult{acked: map[string]eventstore.Commit{}, ackedAt: map[string]time.Time{}}
		for _, r := range acked {
			maps.Copy(all.acked, r.acked)
			maps.Copy(all.ackedAt, r.ackedAt)
		}
		var units []string
		for i, c := range consumers {
			c.await(t, fmt.Sprintf("consumer %d", i+1), all, 60*time.Second)
			units = append(units, fmt.Sprintf("%.3f", c.own.Stats().Total.ReadUnits/float64(len(all.acked))))
		}
		ix := shared.Stats().Keys[ixKey]
		throttles[phase] = ix.ReadThrottles
		t.Logf("%d consumers, %.0f commits/s on 1 shard: index partition since the start: %.0f read units (%.1f/s over this load), %d read throttles; read units per commit per consumer since it started %v; load %.1f",
			len(consumers), r.rate(), ix.ReadUnits, ix.ReadUnits/r.elapsed.Seconds(), ix.ReadThrottles, units, loadAverage())
	}
	if throttles[1] == 0 {
		t.Error("no read throttled on the index partition with three consumers: the test does not test a consumer too many")
	}
}
