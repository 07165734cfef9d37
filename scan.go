package eventstore

import (
	"context"
	"iter"
)

// Scan and Tail: the global log, read to its settle horizon or followed.

// Scan yields every commit of the table in CommitID order, each exactly
// once, starting after the exclusive checkpoint after (the CommitID of the
// last commit the caller processed, or "" for the beginning). It queries
// every shard of the scan index in parallel, a page ahead of the caller,
// and merges them, so memory stays within a few pages per shard whatever
// the size of the table. It yields only commits older than the settle
// window (Config.Settle or WithSettle), so that a commit whose write was
// slow cannot appear later behind a checkpoint the caller already passed.
// See doc.go, "Settle window". Throttling and server errors are retried
// with backoff, resuming the failed page, so no commit is skipped or
// repeated.
//
// Every aggregate's commits come in version order (CommitIDs are causal;
// see doc.go, "Causal order"). Commits that share a caller-set CommitID are
// yielded adjacently, ordered by AggregateID, and a checkpoint at that
// CommitID covers all of them: checkpoint after the last of such a run
// (the store never assigns equal ids).
//
// Reads of the index are eventually consistent. An error (ErrInvalidCommitID
// for a bad checkpoint, a DynamoDB error after retries, an item that does
// not decode, an *UpcastError, ErrShardMismatch, ErrSettleMismatch for a settle window
// shorter than the table's recorded writer deadline plus SettleAllowance,
// an error for the Live option) is yielded once and ends the sequence;
// OnCaughtUp and OnCheckpoint do nothing here. An item of the scan index
// that is no commit of the table (a commitId that is not a canonical ULID,
// wherever it sorts, or a negative version) is yielded as ErrCorruptCommit
// at its place in CommitID order, never skipped; one that sorts before the checkpoint,
// among the ULIDs, was the error of the scan that passed it. An item whose
// shard is not one of 0..ScanShards-1 is in no shard Scan reads: finding it
// takes a read of the whole index, which the eventstore command's verify
// does. Scan stops its requests
// once the caller stops ranging. It is safe for
// concurrent use.
func (s *Store) Scan(ctx context.Context, after string, opts ...ScanOption) iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		o, lo, err := s.readOptions(after, opts)
		if err == nil && o.live {
			err = errLiveScan
		}
		if err != nil {
			yield(Commit{}, err)
			return
		}
		s.scan(ctx, lo, o, true, yield)
	}
}

// Tail yields the commits after the exclusive checkpoint after, each
// exactly once, and then keeps yielding new commits until ctx ends.
//
// By default (strict mode) it yields them in CommitID order, like Scan: a
// commit is yielded once it is older than the settle window, within
// tailPollMax (2 s) more. While idle it polls with a backoff from 100 ms to
// 2 s, reset when commits arrive; each poll costs one query per shard, and
// the first poll and one every 30 s (probeEvery) two more per shard: a
// probe for items whose commitId is not canonical (see doc.go, "Guarantees"), which it
// yields as ErrCorruptCommit. The checkpoint to restart from is the last
// CommitID yielded.
//
// With Live, a commit is yielded typically within 100-300 ms of its
// Append, in version order per aggregate but not in one global CommitID
// order; see Live and doc.go, "Live tail". OnCaughtUp and OnCheckpoint
// report when the backlog is done and where a restart may begin, in both
// modes.
//
// When ctx ends, Tail ends the sequence without yielding an error: every
// error it yields is a real failure. Those that retrying cannot cure (a
// bad checkpoint, a negative settle window, ErrShardMismatch, an item that does not
// decode, an *UpcastError) are yielded once and end the sequence. Transient errors
// (throttling, 5xx, network) are retried, so no commit is skipped or
// repeated. It is safe for concurrent use.
func (s *Store) Tail(ctx context.Context, after string, opts ...ScanOption) iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		o, lo, err := s.readOptions(after, opts)
		switch {
		case err != nil:
			yield(Commit{}, err)
		case o.live:
			s.tailLive(ctx, after, o, yield)
		default:
			s.tailStrict(ctx, lo, o, yield)
		}
	}
}
