package eventstore

import (
	"context"
	"fmt"
	"iter"
)

// Query yields the commits of one aggregate in version order, from
// fromVersion on, with strongly consistent reads: a commit Append stored
// before Query began is seen. It pages through results of any size and sends
// no further request once the caller stops ranging.
//
// An error (ErrInvalidCommit for a bad aggregate id or a negative
// fromVersion, a DynamoDB error, or an
// item that does not decode, wrapping ErrCorruptCommit; ErrAggregateDeleted
// for an aggregate Delete deleted, before any of its commits) is yielded
// once and ends the sequence. Commits that expired (Config.TTL, Expire,
// Delete) are skipped, and snapshots are never yielded. Query is safe for
// concurrent use.
func (s *Store) Query(ctx context.Context, aggregateID string, fromVersion int64) iter.Seq2[Commit, error] {
	return s.query(pagesOf(ctx, OpQuery), aggregateID, fromVersion)
}

// query is Query, its requests reported under ctx's operation.
func (s *Store) query(ctx context.Context, aggregateID string, fromVersion int64) iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		if err := validateAggregateID(aggregateID); err != nil {
			yield(Commit{}, fmt.Errorf("%w: %w", ErrInvalidCommit, err))
			return
		}
		if fromVersion < 0 {
			yield(Commit{}, fmt.Errorf("%w: %w: query aggregate %q from version %d", ErrInvalidCommit, errNegativeVersion, aggregateID, fromVersion))
			return
		}
		in := s.versionsQuery(aggregateID, ">=", fromVersion)
		for page, err := range s.pages(ctx, in) {
			if err != nil {
				yield(Commit{}, fmt.Errorf("eventstore: query aggregate %q: %w", aggregateID, err))
				return
			}
			if err := deletedIn(page, aggregateID, s.cfg.now()); err != nil {
				yield(Commit{}, err)
				return
			}
			commits, err := s.decodePage(ctx, page)
			for _, c := range commits {
				if ctx.Err() != nil { // nothing more once the caller cancelled
					yield(Commit{}, fmt.Errorf("eventstore: query aggregate %q: %w", aggregateID, ctx.Err()))
					return
				}
				if c.AggregateID != aggregateID {
					err = fmt.Errorf("%w: aggregate %q version %d returned by a query of aggregate %q",
						ErrCorruptCommit, c.AggregateID, c.Version, aggregateID)
					break
				}
				s.seen.add(c.AggregateID, c.Version, c.CommitID)
				if !yield(c, nil) {
					return
				}
			}
			if err != nil {
				yield(Commit{}, err)
				return
			}
		}
	}
}
