package eventstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"
)

// Update runs one command on an aggregate, the loop of a command handler:
// it loads the aggregate's commits (consistently, with Query), calls decide
// with them, and appends the events decide returns as one commit at the
// version after the last loaded one. decide gets the history as a
// sequence, ready for Fold; it returns the new events, none to change
// nothing, or an error to refuse the command. It may be called several
// times, so it must not have side effects.
//
// Update treats the three outcomes of Append as they need: stored (nil, or
// a *NotifyError, returned with the stored Commit); not stored, so reload
// and decide again with a new CommitID (*VersionConflictError when another
// writer took the version, ErrCommitDeadline); unknown (any other error),
// so retry the same returned Commit, which either finds it stored or
// settles it. Both kinds of retry together are bounded by
// Config.AppendNextAttempts, with a short pause before each.
//
// Errors: decide's error, as it returned it; a validation error of the
// commit, before any request; when every attempt failed, an error that
// says how many attempts Update made and wraps the last attempt's: a
// *VersionConflictError (errors.As; it matches ErrVersionConflict) or
// ErrCommitDeadline, or an unknown outcome (ErrOutcomeUnknown: the commit
// may be stored; retrying Update then reloads and decides on what is
// there); ErrTableNotFound or ErrTableMismatch at once; ctx's error. With no events to append it
// returns a zero Commit and nil. It is safe for concurrent use.
func (s *Store) Update(ctx context.Context, aggregateID string,
	decide func(history iter.Seq2[Commit, error]) ([]Event, error)) (Commit, error) {
	return s.update(ctx, aggregateID, func(ctx context.Context) (Commit, []Event, error) {
		return s.loadAndDecide(ctx, aggregateID, decide)
	})
}

// update is the loop of Update and UpdateFrom; load loads the aggregate
// and decides: it returns the next commit and its events.
func (s *Store) update(ctx context.Context, aggregateID string, load func(context.Context) (Commit, []Event, error)) (Commit, error) {
	ctx, t := s.observe(ctx, OpUpdate)
	c, err := s.updateLoop(ctx, aggregateID, load)
	note(ctx, func(o *Observation) {
		o.AggregateID = aggregateID
		if c.CommitID != "" {
			o.Version, o.CommitID = c.Version, c.CommitID
		}
	})
	return c, s.done(ctx, t, stored(err, min(len(c.Events), 1)), err)
}

// updateLoop loads, decides and appends until a commit is stored, the
// decision is final, or the attempts are spent.
func (s *Store) updateLoop(ctx context.Context, aggregateID string, load func(context.Context) (Commit, []Event, error)) (Commit, error) {
	var c Commit
	var err error
	reload := true
	for attempt := range s.cfg.AppendNextAttempts {
		if attempt > 0 {
			note(ctx, func(o *Observation) { o.Retries++ })
			if !updatePause(ctx, attempt) {
				return c, ctx.Err()
			}
		}
		if reload {
			var events []Event
			if c, events, err = load(ctx); err != nil || len(events) == 0 {
				return c, err
			}
			c.Events = events
			if _, err := s.prepare(&c); err != nil {
				return c, err // invalid: no retry can store it
			}
		}
		var notify *NotifyError
		c, err = s.Append(ctx, c)
		switch {
		case err == nil, errors.As(err, &notify), errors.Is(err, ErrShardMismatch), ctx.Err() != nil:
			return c, err
		case errors.Is(err, ErrVersionConflict), errors.Is(err, ErrCommitDeadline):
			if errors.Is(err, ErrVersionConflict) {
				note(ctx, func(o *Observation) { o.Conflicts++ })
			}
			reload, c.CommitID = true, ""
		case errors.Is(err, ErrOutcomeUnknown):
			reload = false // the same commit again
		default: // final: no retry can store it (a missing table, a mismatch)
			return c, err
		}
	}
	return c, fmt.Errorf("eventstore: Update of aggregate %q gave up after %d attempts (Config.AppendNextAttempts): %w",
		aggregateID, s.cfg.AppendNextAttempts, err)
}

// loadAndDecide loads the aggregate and asks decide for the events of a commit at
// the next version.
func (s *Store) loadAndDecide(ctx context.Context, aggregateID string,
	decide func(iter.Seq2[Commit, error]) ([]Event, error)) (Commit, []Event, error) {
	var history []Commit
	for c, err := range s.Query(ctx, aggregateID, 0) {
		if err != nil {
			return Commit{}, nil, err
		}
		history = append(history, c)
	}
	latest := int64(-1)
	if n := len(history); n > 0 {
		latest = history[n-1].Version
	}
	events, err := decide(func(yield func(Commit, error) bool) {
		for _, c := range slices.Clone(history) {
			if !yield(c, nil) {
				return
			}
		}
	})
	return nextCommit(aggregateID, latest, events, err)
}

// nextCommit is the commit after version latest, for decide's events and
// error.
func nextCommit(aggregateID string, latest int64, events []Event, err error) (Commit, []Event, error) {
	if err != nil || len(events) == 0 {
		return Commit{}, nil, err
	}
	return Commit{AggregateID: aggregateID, Version: latest + 1}, events, nil
}

// updatePause waits a little longer before each retry: false if ctx ended.
func updatePause(ctx context.Context, attempt int) bool {
	t := time.NewTimer(time.Duration(attempt) * 20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
