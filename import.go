package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore/internal/retry"
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
// and content, see doc.go, "Guarantees"; a re-run after a crash), it reports
// success and writes nothing; the same CommitID with other content is a
// *CommitMismatchError. Errors: a validation error before any request, an invalid or
// missing CommitID included, and one not greater than version
// c.Version-1's; *VersionGapError when version c.Version-1 is not stored
// (import an aggregate's commits in version order); *VersionConflictError when another commit
// holds the version; ErrCommitDeadline if an Append of this very CommitID
// missed its deadline at this key, which fenced it out for good;
// ErrShardMismatch; with offloaded events, ErrSettleMismatch as for
// Append. Any other error leaves the outcome unknown: import the same
// commit again.
//
// Offloaded events: the blob's key records when it was written (see
// importBlobKey), and the item is sent within Config.MaxCommitLatency of
// that, never later, so that Store.Orphaned, which judges a blob by that
// time, never sweeps the blob of an import still on its way. An upload that
// takes longer stores nothing (an unknown outcome: import it again).
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
	enc, written, err := s.stageImport(ctx, c, p, prev[0])
	if err != nil {
		return c, err
	}
	putCtx := ctx
	if enc.blob != nil {
		remaining := written.Add(s.cfg.MaxCommitLatency).Sub(s.cfg.now())
		if remaining <= 0 {
			s.cfg.Offload.Delete(ctx, enc.blobKey) // best effort: no item will point to it
			return c, unknown(fmt.Errorf("storing its offloaded events took longer than Config.MaxCommitLatency %v; nothing stored", s.cfg.MaxCommitLatency),
				"eventstore: import aggregate %q version %d (commit %s: import it again)", c.AggregateID, c.Version, c.CommitID)
		}
		var cancel context.CancelFunc
		putCtx, cancel = context.WithTimeout(ctx, remaining) // no attempt once Orphaned may judge the blob
		defer cancel()
	}
	cond, names, values := putCondition(c.CommitID)
	err = s.pacedPut(ctx, putCtx, enc.item, cond, names, values, s.cfg.now().Add(retry.For))
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		s.seen.add(c.AggregateID, c.Version, c.CommitID)
		return c, nil
	case errors.As(err, &failed):
		err = s.heldBy(ctx, c, failed.Item, err)
		if ref, _ := decodeRef(failed.Item); err == nil && enc.blob != nil && (ref == nil || ref.key != enc.blobKey) {
			s.cfg.Offload.Delete(ctx, enc.blobKey) // best effort: the stored commit points to its own blob
		}
		s.dropBlobs(ctx, err, nil, enc)
		return c, err
	default:
		return c, unknown(err, "eventstore: import aggregate %q version %d (commit %s, outcome unknown: import it again)",
			c.AggregateID, c.Version, c.CommitID)
	}
}

// stageImport is stage for Import: the table's check, as a writer's when
// the events are offloaded (their put has a deadline, see Import), and the
// blob first, under a key that records the time it is written, returned.
func (s *Store) stageImport(ctx context.Context, c Commit, p packed, prev string) (encoded, time.Time, error) {
	if err := s.scheduleFor(ctx, c.CommitID); err != nil { // the shard count at c's CommitID
		return encoded{}, time.Time{}, failedBefore(err)
	}
	enc, err := s.encodeItem(c, p)
	if err == nil {
		err = linkItem(c, enc.item, prev)
	}
	if err != nil {
		return enc, time.Time{}, err
	}
	check := s.checkShards // without a blob, no deadline to check
	if enc.blob != nil {
		check = s.checkWriter
	}
	if err := check(ctx); err != nil {
		return enc, time.Time{}, failedBefore(err)
	}
	if enc.blob == nil {
		return enc, time.Time{}, nil
	}
	written := s.cfg.now()
	key, err := importBlobKey(enc.blobKey, written)
	if err != nil {
		return enc, time.Time{}, err
	}
	enc.blobKey = key
	enc.item[attrEventsKey] = &types.AttributeValueMemberS{Value: enc.blobKey}
	if err := checkItemSize(c, enc.item); err != nil {
		return enc, time.Time{}, err
	}
	if err := s.storeBlobs(ctx, enc); err != nil {
		return enc, time.Time{}, failedBefore(err)
	}
	return enc, written, nil
}
