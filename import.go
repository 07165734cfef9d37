package eventstore

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Import stores c, a commit of history (an export of another table), with
// its own CommitID and CommittedAt: the item Append would write, under the
// same conditional put, but without the writer deadline, which refuses any
// CommitID older than Config.MaxCommitLatency. It is for loading history
// into a table that no reader is scanning or tailing yet: a reader past an
// imported commit's CommitID would never see it. The Notifier is not
// called.
//
// Import is idempotent: when c's key already holds c itself (same CommitID
// and content, see identity.go; a re-run after a crash), it reports
// success and writes nothing; the same CommitID with other content is a
// *CommitMismatchError. Errors: a validation error before any request, an invalid or
// missing CommitID included, and one not greater than version
// c.Version-1's; *VersionGapError when version c.Version-1 is not stored
// (import an aggregate's commits in version order); *VersionConflictError when another commit
// holds the version; ErrCommitDeadline if an Append of this very CommitID
// missed its deadline at this key, which fenced it out for good;
// ErrShardMismatch. Any other error leaves the outcome
// unknown: import the same commit again.
//
// Import is safe for concurrent use.
func (s *Store) Import(ctx context.Context, c Commit) (Commit, error) {
	if _, err := parseCommitID(c.CommitID); err != nil {
		return c, err
	}
	p, err := s.prepare(&c)
	if err != nil {
		return c, err
	}
	prev, err := s.chain(ctx, []Commit{c}, []bool{false}) // causal order, as Append keeps it
	if err != nil {
		return c, err
	}
	enc, err := s.stage(ctx, c, p, prev[0], s.checkShards) // no writer deadline to check
	if err != nil {
		return c, err
	}
	cond, names, values := putCondition(c.CommitID)
	err = s.conditionalPut(ctx, enc.item, cond, names, values)
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		s.seen.add(c.AggregateID, c.Version, c.CommitID)
		return c, nil
	case errors.As(err, &failed):
		err = s.heldBy(ctx, c, failed.Item, err)
		s.dropBlobs(ctx, err, nil, enc)
		return c, err
	default:
		return c, unknown(err, "eventstore: import aggregate %q version %d (commit %s, outcome unknown: import it again)",
			c.AggregateID, c.Version, c.CommitID)
	}
}
