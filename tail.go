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

// Tail yields the commits after the exclusive checkpoint after, each
// exactly once, and then keeps yielding new commits until ctx ends.
//
// By default (strict mode) it yields them in CommitID order, like Scan: a
// commit is yielded once it is older than the settle window, within
// tailPollMax (2 s) more. While idle it polls with a backoff from 100 ms to
// 2 s, reset when commits arrive; each poll costs one query per shard, and
// the first poll and one every 30 s (probeEvery) two more per shard: a
// probe for items whose commitId is not canonical (see probe.go), which it
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
// decode) are yielded once and end the sequence. Transient errors
// (throttling, 5xx, network) are retried, so no commit is skipped or
// repeated. It is safe for concurrent use.
func (s *Store) Tail(ctx context.Context, after string, opts ...ScanOption) iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		lo, settle, err := s.startScan(after, opts)
		if err != nil {
			yield(Commit{}, err)
			return
		}
		o := s.tailOptions(opts)
		if o.live {
			s.tailLive(ctx, after, o, yield)
			return
		}
		idle := backoff.NewExponentialBackOff()
		idle.InitialInterval, idle.MaxInterval, idle.MaxElapsedTime = tailPollMin, tailPollMax, 0
		var last Commit // the last commit yielded: the next round starts at its CommitID, past it
		cp := checkpoints{report: o.reportCheckpoint}
		var probed time.Time // see probe.go
		for {
			var failed error
			stopped, progressed := false, false
			probe := s.cfg.now().Sub(probed) >= probeEvery
			if probe {
				probed = s.cfg.now()
			}
			s.scan(ctx, lo, settle, probe, func(c Commit, err error) bool {
				if err != nil {
					failed = err
					return false
				}
				if last.CommitID != "" && !before(last, c) {
					return true // yielded in an earlier round (a run of one CommitID)
				}
				progressed, last = true, c
				lo, _ = parseCommitID(c.CommitID) // decodeStored parsed it already
				cp.before(c.CommitID)
				stopped = !yield(c, nil)
				if !stopped {
					cp.after(c.CommitID)
				}
				return !stopped
			})
			switch {
			case stopped:
				return
			case ctx.Err() != nil:
				return
			case failed != nil && !retry.Transient(failed):
				yield(Commit{}, failed)
				return
			case failed == nil:
				cp.flush() // the pass ended at the horizon: no more of its CommitID
				o.reportCaughtUp()
			}
			if progressed {
				idle.Reset()
			}
			if !retry.Sleep(ctx, idle.NextBackOff()) {
				return
			}
		}
	}
}
