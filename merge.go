package eventstore

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore/internal/retry"
)

// The engine of the reads: pages of a query, decoded (Query, Scan, Tail),
// and the shards of the scan index read in parallel, each a page ahead,
// and merged by CommitID (Scan, Tail).

// pages runs in and yields each page of items, following LastEvaluatedKey
// until the last page or until the caller stops. A page that fails with a
// transient error is asked for again, from the same key, so no item is
// skipped or repeated. The SDK sends each page once (oneAttempt): the
// store's own retry paces a throttled reader with a short backoff, where
// the SDK's would wait seconds and spend the client's retry quota, which
// the writers of the same client need.
func (s *Store) pages(ctx context.Context, in *dynamodb.QueryInput) iter.Seq2[[]map[string]types.AttributeValue, error] {
	opts := append(slices.Clip(s.opts), oneAttempt)
	return func(yield func([]map[string]types.AttributeValue, error) bool) {
		in := *in
		for {
			out, err := retry.Do(ctx, func() (*dynamodb.QueryOutput, error) { return s.client.Query(ctx, &in, opts...) })
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(out.Items, nil) || len(out.LastEvaluatedKey) == 0 {
				return
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
}

// oneAttempt makes the SDK send a request once, without its own retries.
func oneAttempt(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

// decodePage decodes a page of items, skipping fences (see outcome.go),
// fetching offloaded events in parallel, and upcasting the events (see
// Upcaster): every read that yields commits decodes them here, and only
// they are upcast (the identity check of a retry decodes the stored item
// itself). On error it returns the commits before the failing item.
func (s *Store) decodePage(ctx context.Context, items []map[string]types.AttributeValue) ([]Commit, error) {
	commits := make([]Commit, 0, len(items))
	var refs []*blobRef // refs[i] belongs to commits[i]; nil while no commit is offloaded
	var failed error
	now := s.cfg.now()
	for _, item := range items {
		if isFence(item) || isGuard(item) || expired(item, now) { // expired: see doc.go, "Deleting and expiring an aggregate"
			continue
		}
		c, ref, err := decodeStored(item)
		if err != nil {
			failed = err
			break
		}
		if ref != nil && refs == nil {
			refs = make([]*blobRef, len(commits), len(items))
		}
		if refs != nil {
			refs = append(refs, ref)
		}
		commits = append(commits, c)
	}
	if refs != nil {
		if err := s.fetchAll(ctx, commits, refs); err != nil {
			return nil, err
		}
	}
	for i := range commits {
		if err := s.upcast(&commits[i]); err != nil {
			return commits[:i], err
		}
	}
	return commits, failed
}

// scan yields the commits from lo to the settle horizon, merging the shards.
// With probe, it also looks for items whose commitId is not canonical,
// which the horizon would hide (see probe.go), and yields the first one's
// error at its place in CommitID order.
func (s *Store) scan(ctx context.Context, lo ulid.ULID, o scanOptions, probe bool, yield func(Commit, error) bool) {
	settle := o.settle
	if err := s.checkReader(ctx, settle); err != nil {
		yield(Commit{}, err)
		return
	}
	ctx = pagesOf(ctx, OpScan)
	hi := scanHorizon(s.cfg.now(), settle)
	if hi.Compare(lo) < 0 {
		return
	}
	corruptAt, corrupt := "", error(nil)
	if probe {
		if corruptAt, corrupt = s.probe(ctx, hi); corrupt != nil && corruptAt < lo.String() {
			yield(Commit{}, corrupt)
			return
		}
	}
	queries, err := s.shardQueries(ctx, lo, hi, o.part)
	if err != nil {
		yield(Commit{}, err)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	readers := s.readShards(ctx, queries, o.part, &wg)
	sources := make([]sorted[Commit], len(readers))
	for i, r := range readers {
		sources[i] = r
	}
	var last Commit
	stopped := false
	mergeSorted(sources, before, func(c Commit, err error) bool {
		more := s.scanStep(ctx, yield, &last, corruptAt, corrupt)(c, err)
		stopped = stopped || !more || err != nil
		return more
	})
	if corrupt != nil && !stopped {
		yield(Commit{}, corrupt)
	}
}

// scanStep is the body of scan's merge: it yields one commit (or error)
// and reports whether to go on. corrupt, if not nil, is yielded instead of
// the first commit past corruptAt.
func (s *Store) scanStep(ctx context.Context, yield func(Commit, error) bool, last *Commit, corruptAt string, corrupt error) func(Commit, error) bool {
	return func(c Commit, err error) bool {
		switch {
		case err != nil:
			return yield(c, err)
		case ctx.Err() != nil: // nothing more once the caller cancelled
			yield(Commit{}, ctx.Err())
			return false
		case corrupt != nil && c.CommitID > corruptAt:
			yield(Commit{}, corrupt)
			return false
		case last.CommitID != "" && !before(*last, c): // equal CommitIDs are ordered by AggregateID
			yield(Commit{}, fmt.Errorf("%w: aggregate %q version %d: commit %s out of order after %s (aggregate %q)",
				ErrCorruptCommit, c.AggregateID, c.Version, c.CommitID, last.CommitID, last.AggregateID))
			return false
		}
		*last = c
		return yield(c, nil)
	}
}

// scanHorizon is the largest CommitID a scan at now with the settle window
// yields: the horizon, or the largest ULID when settle is 0.
func scanHorizon(now time.Time, settle time.Duration) ulid.ULID {
	if settle <= 0 {
		return maxULID()
	}
	return horizon(now, settle)
}

// horizon is the last ULID of the millisecond before now-settle, even when
// settle is 0: what a Tail at now treats as settled.
func horizon(now time.Time, settle time.Duration) ulid.ULID {
	var h ulid.ULID
	_ = h.SetTime(ulid.Timestamp(now.Add(-settle)) - 1)
	for i := 6; i < len(h); i++ {
		h[i] = 0xff
	}
	return h
}

// versionsQuery is a consistent Query of one aggregate's items whose
// version compares with v by op ("<", ">=", ...), in version order; the
// caller sets the direction, a limit or a projection.
func (s *Store) versionsQuery(aggregateID, op string, v int64) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                aws.String(s.cfg.Table),
		ConsistentRead:           aws.Bool(true),
		KeyConditionExpression:   aws.String("#a = :a AND #v " + op + " :v"),
		ExpressionAttributeNames: map[string]string{"#a": attrAggregateID, "#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": &types.AttributeValueMemberS{Value: aggregateID},
			":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)},
		},
	}
}

// shardQuery reads one shard's commits with lo <= CommitID <= hi, in
// CommitID order.
func (s *Store) shardQuery(shard int, lo, hi ulid.ULID) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                aws.String(s.cfg.Table),
		IndexName:                aws.String(s.cfg.Index),
		KeyConditionExpression:   aws.String("#s = :s AND #c BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#s": attrShard, "#c": attrCommitID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s":  &types.AttributeValueMemberN{Value: strconv.Itoa(shard)},
			":lo": &types.AttributeValueMemberS{Value: lo.String()},
			":hi": &types.AttributeValueMemberS{Value: hi.String()},
		},
	}
}

// shardReader fetches the pages of one shard in its own goroutine, one page
// ahead of the merge: while the caller works through a page, the next one
// is on its way. At most three pages per shard are in memory: the one being
// merged, the one waiting in pages, and the one being fetched.
type shardReader struct {
	pages chan []Commit // closed after the last page; err is set before
	err   error
	page  []Commit // the page being merged
}

// readShards starts one reader per query, each keeping the commits of
// the partition part. The readers stop when ctx ends; the caller must
// cancel ctx and then wait on wg.
func (s *Store) readShards(ctx context.Context, queries []*dynamodb.QueryInput, part partition, wg *sync.WaitGroup) []*shardReader {
	readers := make([]*shardReader, len(queries))
	for i, in := range queries {
		r := &shardReader{pages: make(chan []Commit, 1)}
		readers[i] = r
		wg.Go(func() { r.run(ctx, s, in, part) })
	}
	return readers
}

func (r *shardReader) run(ctx context.Context, s *Store, in *dynamodb.QueryInput, part partition) {
	defer close(r.pages)
	for items, err := range s.pages(ctx, in) {
		if err != nil {
			r.err = err
			return
		}
		page, err := s.decodePage(ctx, part.keep(items))
		r.err = err
		if len(page) > 0 {
			select {
			case r.pages <- page:
			case <-ctx.Done():
				r.err = ctx.Err()
				return
			}
		}
		if r.err != nil {
			return
		}
	}
}

// head returns the reader's next commit, waiting for a page if need be;
// false when the shard is exhausted, with the error if it failed.
func (r *shardReader) head() (Commit, bool, error) {
	for len(r.page) == 0 {
		page, ok := <-r.pages
		if !ok {
			return Commit{}, false, r.err
		}
		r.page = page
	}
	return r.page[0], true, nil
}

// pop drops the commit head returned.
func (r *shardReader) pop() { r.page = r.page[1:] }

// sorted is one source of a k-way merge, in order.
type sorted[T any] interface {
	// head returns the next element without taking it; false at the end,
	// with the error that ended the source, if any.
	head() (T, bool, error)
	// pop drops the element head returned.
	pop()
}

// mergeSorted yields the elements of every source as one sequence ordered
// by less. The first error ends it. A linear pick of the smallest head is
// cheaper than a heap for the few shards a table has.
func mergeSorted[T any](sources []sorted[T], less func(a, b T) bool, yield func(T, error) bool) {
	var zero T
	live := make([]sorted[T], 0, len(sources))
	heads := make([]T, 0, len(sources))
	for _, src := range sources {
		v, ok, err := src.head()
		if err != nil {
			yield(zero, err)
			return
		}
		if ok {
			live, heads = append(live, src), append(heads, v)
		}
	}
	for len(live) > 0 {
		pick := 0
		for i := range heads {
			if less(heads[i], heads[pick]) {
				pick = i
			}
		}
		if !yield(heads[pick], nil) {
			return
		}
		src := live[pick]
		src.pop()
		v, ok, err := src.head()
		switch {
		case err != nil:
			yield(zero, err)
			return
		case ok:
			heads[pick] = v
		default:
			live, heads = append(live[:pick], live[pick+1:]...), append(heads[:pick], heads[pick+1:]...)
		}
	}
}

// pulled is a sorted source reading an iter.Seq2. Call stop when done.
type pulled[T any] struct {
	next    func() (T, error, bool)
	stop    func()
	v       T
	ok      bool
	err     error
	fetched bool
}

func pull[T any](seq iter.Seq2[T, error]) *pulled[T] {
	next, stop := iter.Pull2(seq)
	return &pulled[T]{next: next, stop: stop}
}

func (p *pulled[T]) head() (T, bool, error) {
	if !p.fetched {
		p.v, p.err, p.ok = p.next()
		p.ok = p.ok && p.err == nil
		p.fetched = true
	}
	return p.v, p.ok, p.err
}

func (p *pulled[T]) pop() { p.fetched = false }

// before is the global log's order: by CommitID, and by AggregateID among
// commits that share a CommitID (only caller-set ids can; see doc.go,
// "Causal order").
func before(a, b Commit) bool {
	return a.CommitID < b.CommitID || (a.CommitID == b.CommitID && a.AggregateID < b.AggregateID)
}
