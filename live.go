package eventstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cenkalti/backoff/v4"
	"github.com/oklog/ulid/v2"
)

// Timing of a live Tail; see doc.go, "Live tail".
const (
	// livePollMin and livePollMax bound the pause between two polls: 200 ms
	// while commits arrive, growing to 1 s (±20%) while idle. A shard whose
	// previous query found new commits is polled at every tick; the others
	// only with the backtrack, about once a second, unless commits start
	// to arrive after a quiet spell, which wakes every shard at once.
	livePollMin = 200 * time.Millisecond
	livePollMax = time.Second
	// liveLookbackMin and liveLookbackMax bound how far before a shard's
	// previous poll its fast query starts: the observed delay between a
	// CommitID's time and the commit's first sight in the index (the
	// write's duration, index lag, small clock skew, a poll's interval),
	// its 99.9th percentile over the last liveLagSamples commits. Commits
	// later than that are found by the predecessor read or the backtrack.
	liveLookbackMin = 200 * time.Millisecond
	liveLookbackMax = time.Second
	liveLagSamples  = 1024
	// liveMergeBelow is the number of items under which a shard's previous
	// query counts as quiet: its backtrack is then the same query as its
	// fast one, from the watermark up, since one query of a few items
	// costs what two cost (a read unit covers 4 KB).
	liveMergeBelow = 4
	// liveBacktrack is how often a live Tail reads the settled range
	// between its watermark and its horizon again, and advances the
	// watermark.
	liveBacktrack = time.Second
	// liveFetchAfter is how long a commit waits for its predecessor to
	// show in the index before the Tail reads the predecessor from the
	// table instead, by key and consistently: one commit that the index
	// shows late does not hold back its aggregate's later versions.
	liveFetchAfter = 200 * time.Millisecond
	// liveFetchMax bounds the predecessor reads of one poll, and
	// liveFetchDepth the versions one read looks back.
	liveFetchMax   = 16
	liveFetchDepth = 8
)

// liveTail is the state of one live Tail. The watermark w is a CommitID
// (or "" before any): every commit with a CommitID <= w has been yielded,
// or was at or before the start checkpoint.
type liveTail struct {
	s        *Store
	o        scanOptions
	yield    func(Commit, error) bool // the caller's, until it returns false; see tailLive
	stopped  bool                     // the caller stopped ranging: yield nothing more
	w        string
	yielded  map[commitKey]struct{}   // commits > w yielded
	held     map[commitKey]heldCommit // commits waiting for their predecessor, by its key
	heldKeys map[commitKey]commitKey  // keys of held commits, to their predecessors' keys
	lastPoll time.Time                // reader time of the previous poll; zero before the first
	shards   map[int]*liveShard       // what the Tail knows of each shard
	busy     bool                     // the previous poll found new commits
	lag      lagWindow                // delays from CommitID time to first sight
	lastBack time.Time                // reader time of the previous backtrack
	probed   time.Time                // reader time of the previous probe (see probe.go)
	started  bool                     // the settled backlog has been read
}

// tailLive runs a live Tail after the checkpoint after; see doc.go, "Live
// tail".
func (s *Store) tailLive(ctx context.Context, after string, o scanOptions, yield func(Commit, error) bool) {
	t := &liveTail{s: s, o: o, w: after, shards: map[int]*liveShard{},
		yielded: map[commitKey]struct{}{}, held: map[commitKey]heldCommit{}, heldKeys: map[commitKey]commitKey{}}
	// Once the caller's loop body returns false, Go forbids calling it
	// again: every path that yields goes through t.yield, and the loop
	// below ends as soon as t.stopped is set.
	t.yield = func(c Commit, err error) bool {
		if t.stopped {
			return false
		}
		t.stopped = !yield(c, err)
		return !t.stopped
	}
	idle := backoff.NewExponentialBackOff()
	idle.InitialInterval, idle.MaxInterval, idle.MaxElapsedTime = livePollMin, livePollMax, 0
	idle.RandomizationFactor = 0.2
	pollUntilDone(ctx, idle, &t.o, t.yield, func() (bool, bool, error) {
		progressed, err := t.poll(ctx)
		return progressed, t.stopped, err
	})
}

// readSettled yields the commits between the watermark and the settle
// horizon with the strict scan, which streams them a few pages per shard at
// a time, and then advances the watermark to the horizon. A Tail uses it
// for its backlog and again after a pause long enough that a fast query
// would reach into the settled range (a slow consumer, an outage): the
// range is then read once, in pages, however long the pause was.
func (t *liveTail) readSettled(ctx context.Context, probe bool) error {
	lo, err := scanStart(t.w)
	if err != nil {
		return err
	}
	now := t.s.cfg.now()
	h := horizon(now, t.o.settle).String()
	var failed error
	cp := checkpoints{report: func(id string) { t.advance(id) }}
	t.s.scan(ctx, lo, t.o, probe, func(c Commit, err error) bool {
		if err != nil {
			failed = err
			return false
		}
		k := keyOfCommit(c)
		if _, dup := t.yielded[k]; dup { // yielded by a poll, or by a pass cut short
			return true
		}
		if prev, held := t.heldKeys[k]; held { // its predecessor comes first in this scan
			delete(t.held, prev)
			delete(t.heldKeys, k)
		}
		settled := c.CommitID <= h // scan's own horizon is a little later
		if settled {
			cp.before(c.CommitID)
		}
		t.yielded[k] = struct{}{}
		if !t.yield(c, nil) {
			return false
		}
		if settled {
			cp.after(c.CommitID)
		}
		return true
	})
	if failed != nil || t.stopped || ctx.Err() != nil {
		return failed
	}
	t.lastBack, t.lastPoll = now, time.Time{}
	for _, i := range t.s.partShards(t.o.part) { // the next poll reads every shard from the watermark
		sh := t.shard(i)
		sh.lastPoll, sh.lastFresh = time.Time{}, now
	}
	if probe {
		t.probed = now
	}
	t.advance(h)
	return nil
}

// poll runs one fast query per shard, and a backtrack query per shard when
// one is due, and yields what they found; progressed reports new commits.
func (t *liveTail) poll(ctx context.Context) (progressed bool, err error) {
	if err := t.s.checkReader(ctx, t.o.settle); err != nil {
		return false, err
	}
	if !t.started { // the settled backlog first, streaming
		before := len(t.yielded)
		if err := t.readSettled(ctx, true); err != nil || t.stopped {
			return false, err
		}
		t.started, progressed = true, len(t.yielded) > before
	}
	now := t.s.cfg.now()
	if now.Sub(t.probed) >= probeEvery { // as a strict Tail does; see probe.go
		if _, err := t.s.probe(ctx, horizon(now, t.o.settle)); err != nil {
			return false, err
		}
		t.probed = now
	}
	lookback := t.lag.lookback()
	if t.paused(now, lookback) {
		before := len(t.yielded)
		if err := t.readSettled(ctx, false); err != nil || t.stopped {
			return false, err
		}
		progressed = progressed || len(t.yielded) > before
	}
	lo, err := scanStart(t.w)
	if err != nil {
		return false, err
	}
	top, h := scanHorizon(now, 0), horizon(now, t.o.settle)
	backDue := now.Sub(t.lastBack) >= liveBacktrack
	var queries []*dynamodb.QueryInput
	var shardOf []int // the shard of each query
	add := func(shard int, lo, hi ulid.ULID) error {
		qs, err := t.s.shardQueriesOf(ctx, lo, hi, t.o.part, shard)
		for range qs {
			shardOf = append(shardOf, shard)
		}
		queries = append(queries, qs...)
		return err
	}
	for _, i := range t.s.partShards(t.o.part) {
		sh := t.shard(i)
		if !backDue && !sh.active(now) {
			continue // a quiet shard waits for the backtrack, or a wake-up
		}
		fastLo := lo
		if !sh.lastPoll.IsZero() {
			if from := ulidAt(sh.lastPoll.Add(-lookback)); from.Compare(fastLo) > 0 {
				fastLo = from
			}
		}
		var err error
		switch {
		case !backDue || h.Compare(lo) < 0 || fastLo.Compare(lo) == 0:
			err = add(i, fastLo, top) // no backtrack due, or the fast query reaches down to lo
		case sh.returned < liveMergeBelow:
			err = add(i, lo, top) // a quiet shard: one query for both
		default:
			if err = add(i, fastLo, top); err == nil {
				err = add(i, lo, h)
			}
		}
		if err != nil {
			return false, err
		}
	}
	since := make([]time.Time, len(shardOf)) // the previous poll of each query's shard
	for q, i := range shardOf {
		since[q] = t.shard(i).lastPoll
	}
	commits, prevs, found, missed, err := t.read(ctx, queries, since)
	if err != nil {
		return false, err
	}
	t.schedule(now, shardOf, found, missed)
	before := len(t.yielded)
	for _, c := range commits {
		if !t.offer(c, prevs[keyOfCommit(c)]) {
			return false, nil
		}
	}
	if err := t.fetchHeld(ctx, now); err != nil || t.stopped {
		return false, err
	}
	progressed = progressed || len(t.yielded) > before
	t.lastPoll = now
	if backDue && h.String() > t.w {
		t.lastBack = now
		t.advance(h.String())
	}
	return progressed, nil
}

// liveShard is what a live Tail knows of one shard.
type liveShard struct {
	lastPoll  time.Time // reader time of its previous fast query; zero: from the watermark
	lastFresh time.Time // reader time of its last query that found new commits
	returned  int       // items its previous query returned
}

// active reports whether the shard has found new commits within the last
// liveBacktrack: it is then polled at every tick (an index that shows
// commits late may leave a few polls of a busy shard empty).
func (sh *liveShard) active(now time.Time) bool { return now.Sub(sh.lastFresh) < liveBacktrack }

func (t *liveTail) shard(i int) *liveShard {
	sh, ok := t.shards[i]
	if !ok {
		sh = &liveShard{}
		t.shards[i] = sh
	}
	return sh
}

// schedule records what a poll's queries found, per shard: the shards
// that found new commits are polled at every tick; when commits arrive
// after a quiet spell, every shard is. missed are the lookback samples of
// the new commits (see read).
func (t *liveTail) schedule(now time.Time, shardOf []int, found [][2]int, missed []time.Duration) {
	polled := map[int]bool{}
	for q, i := range shardOf {
		sh := t.shard(i)
		if !polled[i] {
			polled[i], sh.returned = true, 0
		}
		sh.lastPoll, sh.returned = now, sh.returned+found[q][0]
		if found[q][1] > 0 {
			sh.lastFresh = now
		}
	}
	fresh := false
	for _, f := range found {
		fresh = fresh || f[1] > 0
	}
	if fresh && !t.busy { // commits arrive after a quiet spell: wake every shard
		for _, i := range t.s.partShards(t.o.part) {
			t.shard(i).lastFresh = now
		}
	}
	t.busy = fresh
	for _, d := range missed {
		t.lag.add(d)
	}
}

// lagWindow keeps the last liveLagSamples delays from a commit's time to
// its first sight in the index.
type lagWindow struct {
	samples []time.Duration
	next    int
}

func (l *lagWindow) add(d time.Duration) {
	if len(l.samples) < liveLagSamples {
		l.samples = append(l.samples, d)
		return
	}
	l.samples[l.next] = d
	l.next = (l.next + 1) % liveLagSamples
}

// lookback is the 99.9th percentile of the delays, within
// liveLookbackMin and liveLookbackMax; the maximum before any sample.
func (l *lagWindow) lookback() time.Duration {
	if len(l.samples) == 0 {
		return liveLookbackMax
	}
	sorted := slices.Clone(l.samples)
	slices.Sort(sorted)
	return min(max(sorted[len(sorted)*999/1000], liveLookbackMin), liveLookbackMax)
}

// heldCommit is a commit waiting for its predecessor, since when.
type heldCommit struct {
	c     Commit
	since time.Time
}

// fetchHeld reads from the table the predecessors of the commits that
// have waited liveFetchAfter for them, and yields what it finds, the
// waiting commits after them.
func (t *liveTail) fetchHeld(ctx context.Context, now time.Time) error {
	var due []Commit
	for _, h := range t.held {
		if now.Sub(h.since) >= liveFetchAfter {
			due = append(due, h.c)
		}
	}
	slices.SortFunc(due, func(a, b Commit) int { return strings.Compare(a.CommitID, b.CommitID) })
	for _, c := range due[:min(len(due), liveFetchMax)] {
		if _, waiting := t.heldKeys[keyOfCommit(c)]; !waiting { // released by an earlier read
			continue
		}
		if err := t.fetchBefore(ctx, c); err != nil || t.stopped {
			return err
		}
	}
	return nil
}

// fetchBefore reads up to liveFetchDepth versions before the held commit c
// from the table, newest first, down to one the Tail has yielded, holds
// or covers by its watermark, and offers those it has not seen, oldest
// first.
func (t *liveTail) fetchBefore(ctx context.Context, c Commit) error {
	in := t.s.versionsQuery(c.AggregateID, "<", c.Version)
	in.ScanIndexForward, in.Limit = aws.Bool(false), aws.Int32(liveFetchDepth)
	var items []map[string]types.AttributeValue
	prevs := map[commitKey]string{}
	for page, err := range t.s.pages(pagesOf(ctx, OpScan), in) {
		if err != nil {
			return err
		}
		for _, item := range page {
			k, ok := itemKey(item)
			if !ok || k.id <= t.w {
				break
			}
			_, yielded := t.yielded[k]
			_, held := t.heldKeys[k]
			if yielded || held {
				break
			}
			prev, err := prevOf(item)
			if err != nil {
				return fmt.Errorf("%w: aggregate %q commit %s: prev: %w", ErrCorruptCommit, k.aggregate, k.id, err)
			}
			prevs[k] = prev
			items = append(items, item)
		}
		break // one page: Limit bounds it
	}
	slices.Reverse(items)
	found, err := t.s.decodePage(ctx, items)
	if err != nil {
		return err
	}
	if n := len(found); n > 0 && found[n-1].Version == c.Version-1 && t.heldKeys[keyOfCommit(c)].id != found[n-1].CommitID {
		return fmt.Errorf("%w: aggregate %q version %d: its predecessor is commit %s, but version %d is %s",
			ErrCorruptCommit, c.AggregateID, c.Version, t.heldKeys[keyOfCommit(c)].id, c.Version-1, found[n-1].CommitID)
	}
	for _, p := range found {
		t.lag.add(t.s.cfg.now().Sub(p.CommittedAt)) // the index had not shown it yet
		if !t.offer(p, prevs[keyOfCommit(p)]) {
			return nil
		}
	}
	return nil
}

// paused reports whether the previous poll is so long ago (the consumer
// was slow, or requests failed) that a fast query from it would reach into
// the settled range, which the backtrack reads too: the Tail then reads
// the settled range once with readSettled instead, and only the window
// above it with fast queries, so its memory stays bounded by a settle
// window of commits whatever the length of the pause.
func (t *liveTail) paused(now time.Time, lookback time.Duration) bool {
	if t.lastPoll.IsZero() {
		return false
	}
	return ulidAt(t.lastPoll.Add(-lookback)).Compare(horizon(now, t.o.settle)) <= 0
}

// read runs the queries in parallel and returns the commits they found
// that are neither yielded nor held yet, in the global log's order, with
// the CommitIDs of their predecessors, and, for each query, how many items
// it returned and how many of them were new. Items already yielded are not
// decoded (nor their offloaded events fetched). For each new commit of a
// query whose shard was polled before (since), it returns the lookback
// that poll would have needed to see it: since minus the commit's time,
// what the index's delay showing it exceeded (at least 0).
func (t *liveTail) read(ctx context.Context, queries []*dynamodb.QueryInput, since []time.Time) ([]Commit, map[commitKey]string, [][2]int, []time.Duration, error) {
	ctx = pagesOf(ctx, OpScan)
	results := make([][]map[string]types.AttributeValue, len(queries))
	errs := make([]error, len(queries))
	var wg sync.WaitGroup
	for i, in := range queries {
		wg.Go(func() {
			for page, err := range t.s.pages(ctx, in) {
				if err != nil {
					errs[i] = err
					return
				}
				results[i] = append(results[i], t.o.part.keep(page)...)
			}
		})
	}
	wg.Wait()
	var fresh []map[string]types.AttributeValue
	prevs := map[commitKey]string{}
	found := make([][2]int, len(queries)) // items returned, and new ones
	var missed []time.Duration
	for i, items := range results {
		if errs[i] != nil {
			return nil, nil, nil, nil, errs[i]
		}
		found[i][0] = len(items)
		for _, item := range items {
			k, ok := itemKey(item)
			if ok && !t.wanted(k, prevs) {
				continue
			}
			if ok {
				prev, err := prevOf(item)
				if err != nil {
					return nil, nil, nil, nil, fmt.Errorf("%w: aggregate %q commit %s: prev: %w", ErrCorruptCommit, k.aggregate, k.id, err)
				}
				prevs[k] = prev
			}
			found[i][1]++
			fresh = append(fresh, item)
			if id, err := ulid.ParseStrict(k.id); ok && err == nil && !since[i].IsZero() {
				missed = append(missed, max(since[i].Sub(commitTime(id)), 0))
			}
		}
	}
	commits, err := t.s.decodePage(ctx, fresh)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	slices.SortFunc(commits, func(a, b Commit) int {
		return cmp.Or(strings.Compare(a.CommitID, b.CommitID), strings.Compare(a.AggregateID, b.AggregateID))
	})
	return commits, prevs, found, missed, nil
}

// wanted reports whether the commit is neither covered by the watermark,
// yielded, held, nor already found by another query of this poll.
func (t *liveTail) wanted(k commitKey, found map[commitKey]string) bool {
	if k.id <= t.w {
		return false
	}
	_, yielded := t.yielded[k]
	_, held := t.heldKeys[k]
	_, dup := found[k]
	return !yielded && !held && !dup
}

// offer yields c if its predecessor has been yielded, and holds it back
// otherwise; false when the caller stopped ranging.
func (t *liveTail) offer(c Commit, prev string) bool {
	if !t.ready(prev, c.AggregateID) {
		t.held[commitKey{prev, c.AggregateID}] = heldCommit{c, t.s.cfg.now()}
		t.heldKeys[keyOfCommit(c)] = commitKey{prev, c.AggregateID}
		return true
	}
	return t.emit(c)
}

// ready reports whether the commit whose predecessor is prev may be
// yielded: it has none (version 0, or written before predecessors were
// recorded), or the predecessor was yielded.
func (t *liveTail) ready(prev, aggregateID string) bool {
	if prev == "" || prev <= t.w {
		return true
	}
	_, ok := t.yielded[commitKey{prev, aggregateID}]
	return ok
}

// emit yields c, then the held commits that waited for it, in a chain.
func (t *liveTail) emit(c Commit) bool {
	for {
		k := keyOfCommit(c)
		t.yielded[k] = struct{}{}
		if !t.yield(c, nil) {
			return false
		}
		next, ok := t.held[k]
		if !ok {
			return true
		}
		delete(t.held, k)
		delete(t.heldKeys, keyOfCommit(next.c))
		c = next.c
	}
}

// advance moves the watermark to w, yields the held commits whose
// predecessor it now covers, forgets the yielded CommitIDs it covers, and
// reports the checkpoint; false when the caller stopped ranging.
func (t *liveTail) advance(w string) bool {
	if w <= t.w {
		return true
	}
	t.w = w
	var release []Commit
	for prev, h := range t.held {
		if prev.id <= w {
			release = append(release, h.c)
			delete(t.held, prev)
			delete(t.heldKeys, keyOfCommit(h.c))
		}
	}
	slices.SortFunc(release, func(a, b Commit) int { return strings.Compare(a.CommitID, b.CommitID) })
	for _, c := range release {
		if !t.emit(c) {
			return false
		}
	}
	for k := range t.yielded {
		if k.id <= w {
			delete(t.yielded, k)
		}
	}
	t.o.reportCheckpoint(w)
	return true
}
