package eventstore

import (
	"context"
	"fmt"
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
// false when the shard is exhausted or failed (then see r.err).
func (r *shardReader) head() (Commit, bool) {
	for len(r.page) == 0 {
		page, ok := <-r.pages
		if !ok {
			return Commit{}, false
		}
		r.page = page
	}
	return r.page[0], true
}

// merge yields the commits of every reader, each in CommitID order, as one
// sequence in increasing (CommitID, AggregateID) order: commits sharing a
// CommitID (only caller-set ids can) are yielded adjacently, by
// AggregateID. Only a pair that does not increase is corruption. The
// first error ends it.
// A linear pick of the smallest head is cheaper than a heap for the few
// shards a table has.
func merge(readers []*shardReader, yield func(Commit, error) bool) {
	live := make([]*shardReader, 0, len(readers))
	for _, r := range readers {
		if _, ok := r.head(); ok {
			live = append(live, r)
		} else if r.err != nil {
			yield(Commit{}, r.err)
			return
		}
	}
	var last Commit
	for len(live) > 0 {
		pick := 0
		for i, r := range live {
			if before(r.page[0], live[pick].page[0]) {
				pick = i
			}
		}
		r := live[pick]
		c := r.page[0]
		if last.CommitID != "" && !before(last, c) {
			yield(Commit{}, fmt.Errorf("%w: aggregate %q version %d: commit %s out of order after %s (aggregate %q)",
				ErrCorruptCommit, c.AggregateID, c.Version, c.CommitID, last.CommitID, last.AggregateID))
			return
		}
		last = c
		if !yield(c, nil) {
			return
		}
		r.page = r.page[1:]
		if _, ok := r.head(); !ok {
			if r.err != nil {
				yield(Commit{}, r.err)
				return
			}
			live = append(live[:pick], live[pick+1:]...)
		}
	}
}

// before is the global log's order: by CommitID, and by AggregateID among
// commits that share a CommitID.
func before(a, b Commit) bool {
	return a.CommitID < b.CommitID || (a.CommitID == b.CommitID && a.AggregateID < b.AggregateID)
}
