package eventstore

import (
	"context"
	"iter"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// shardReader fetches the pages of one shard in its own goroutine, one page
// ahead of the merge: while the caller works through a page, the next one
// is on its way. At most three pages per shard are in memory: the one being
// merged, the one waiting in pages, and the one being fetched.
type shardReader struct {
	pages chan []Commit // closed after the last page; err is set before
	err   error
	page  []Commit // the page being merged
}

// readShards starts one reader per query. The readers stop when ctx ends;
// the caller must cancel ctx and then wait on wg.
func (s *Store) readShards(ctx context.Context, queries []*dynamodb.QueryInput, wg *sync.WaitGroup) []*shardReader {
	readers := make([]*shardReader, len(queries))
	for i, in := range queries {
		r := &shardReader{pages: make(chan []Commit, 1)}
		readers[i] = r
		wg.Go(func() { r.run(ctx, s, in) })
	}
	return readers
}

func (r *shardReader) run(ctx context.Context, s *Store, in *dynamodb.QueryInput) {
	defer close(r.pages)
	for items, err := range s.pages(ctx, in) {
		if err != nil {
			r.err = err
			return
		}
		page, err := s.decodePage(ctx, items)
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
