package eventstore

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore/internal/retry"
)

// Polling of an idle strict Tail: from tailPollMin, growing to tailPollMax
// while nothing arrives, back to tailPollMin when commits do.
const (
	tailPollMin = 100 * time.Millisecond
	tailPollMax = 2 * time.Second
)

// tailStrict runs a strict Tail from lo: passes of the streaming scan up to
// the settle horizon, each after the last commit the previous one yielded.
func (s *Store) tailStrict(ctx context.Context, lo ulid.ULID, o scanOptions, yield func(Commit, error) bool) {
	idle := backoff.NewExponentialBackOff()
	idle.InitialInterval, idle.MaxInterval, idle.MaxElapsedTime = tailPollMin, tailPollMax, 0
	var last Commit // the last commit yielded: the next pass starts at its CommitID, past it
	cp := checkpoints{report: o.reportCheckpoint}
	var probed time.Time // see probe.go
	pollUntilDone(ctx, idle, &o, yield, func() (progressed, stopped bool, err error) {
		probe := s.cfg.now().Sub(probed) >= probeEvery
		if probe {
			probed = s.cfg.now()
		}
		s.scan(ctx, lo, o, probe, func(c Commit, e error) bool {
			if e != nil {
				err = e
				return false
			}
			if last.CommitID != "" && !before(last, c) {
				return true // yielded in an earlier pass (a run of one CommitID)
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
		if err == nil && !stopped && ctx.Err() == nil {
			cp.flush() // the pass ended at the horizon: no more of its CommitID
		}
		return progressed, stopped, err
	})
}

// pollUntilDone runs the polls of a Tail, strict or live, until ctx ends or the
// caller stops ranging. poll reads and yields what is new, and reports
// whether it found anything, whether the caller stopped, and its error.
// An error that retrying cannot cure is yielded and ends the Tail; a
// transient one (throttling, 5xx, network) is retried by the next poll, so
// no commit is skipped or repeated. After the first poll that succeeds,
// OnCaughtUp is reported. idle is the pause between two polls, reset when
// one finds commits.
func pollUntilDone(ctx context.Context, idle backoff.BackOff, o *scanOptions, yield func(Commit, error) bool,
	poll func() (progressed, stopped bool, err error)) {
	for {
		progressed, stopped, err := poll()
		switch {
		case stopped, ctx.Err() != nil:
			return
		case err != nil && !retry.Transient(err):
			yield(Commit{}, err)
			return
		case err == nil:
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
