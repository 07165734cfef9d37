package eventstore

import (
	"context"
	"iter"
	"time"

	"github.com/dynacommit/eventstore/internal/retry"

	"github.com/cenkalti/backoff/v4"
)

// Polling of an idle Tail: from tailPollMin, growing to tailPollMax while
// nothing arrives, back to tailPollMin when commits do.
const (
	tailPollMin = 100 * time.Millisecond
	tailPollMax = 2 * time.Second
)

// Tail yields the commits after the exclusive checkpoint after, in CommitID
// order, each exactly once, like Scan, and then keeps yielding new commits
// as they settle: a commit is yielded once it is older than the settle
// window, within tailPollMax (2 s) more. While idle it polls with a backoff
// from 100 ms to 2 s, reset when commits arrive; each poll costs one query
// per shard.
//
// Tail ends only when ctx is done, yielding ctx's error once, or on an error
// that retrying cannot cure (a bad checkpoint, a negative settle window,
// ErrShardMismatch, an item that does not decode), yielded once. Transient
// errors (throttling, 5xx, network) are retried from the last yielded
// commit, so none is skipped or repeated. It is safe for concurrent use.
func (s *Store) Tail(ctx context.Context, after string, opts ...ScanOption) iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		lo, settle, err := s.startScan(after, opts)
		if err != nil {
			yield(Commit{}, err)
			return
		}
		idle := backoff.NewExponentialBackOff()
		idle.InitialInterval, idle.MaxInterval, idle.MaxElapsedTime = tailPollMin, tailPollMax, 0
		var last Commit // the last commit yielded: the next round starts at its CommitID, past it
		for {
			var failed error
			stopped, progressed := false, false
			s.scan(ctx, lo, settle, func(c Commit, err error) bool {
				if err != nil {
					failed = err
					return false
				}
				if last.CommitID != "" && !before(last, c) {
					return true // yielded in an earlier round (a run of one CommitID)
				}
				progressed, last = true, c
				lo, _ = parseCommitID(c.CommitID) // decodeStored parsed it already
				stopped = !yield(c, nil)
				return !stopped
			})
			switch {
			case stopped:
				return
			case ctx.Err() != nil:
				yield(Commit{}, ctx.Err())
				return
			case failed != nil && !retry.Transient(failed):
				yield(Commit{}, failed)
				return
			case progressed:
				idle.Reset()
			}
			if !retry.Sleep(ctx, idle.NextBackOff()) {
				yield(Commit{}, ctx.Err())
				return
			}
		}
	}
}
