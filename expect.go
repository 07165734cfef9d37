package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// DefaultAppendNextAttempts is how many appends AppendNext tries, by
// default, before it gives up on an aggregate others keep writing to.
const DefaultAppendNextAttempts = 5

// AppendNext appends c at the next version of its aggregate, whatever that
// is (KurrentDB's "any" expected state): it reads the latest version with
// one consistent Query, appends at the version after it, and when another
// writer takes that version first, reads and appends again, up to
// Config.AppendNextAttempts times, with a short random pause between. It
// sets c.Version; the returned Commit has the version it was stored at.
// Use it for commits that do not depend on the aggregate's state (a log of
// facts); where a decision depends on the state, load the aggregate and
// Append at the version after it.
//
// Each attempt takes a fresh CommitID unless the caller set one. If
// c.CommitID is set, as when retrying an AppendNext that failed with an
// unknown outcome with the Commit it returned, the first attempt is at
// c.Version as given, so that a commit stored there by the earlier call is
// recognised rather than stored twice.
//
// Errors: those of Append, validation before any request; when every
// attempt met a conflict, the last *VersionConflictError. It is safe for
// concurrent use.
func (s *Store) AppendNext(ctx context.Context, c Commit) (Commit, error) {
	ctx, t := s.observe(ctx, OpAppendNext)
	c, err := s.appendNext(ctx, c)
	return c, s.done(ctx, t, stored(err, 1), err)
}

func (s *Store) appendNext(ctx context.Context, c Commit) (Commit, error) {
	fresh := c.CommitID == ""
	if fresh {
		c.Version = 0 // chosen below; 0 for validation
	}
	p, err := s.prepare(&c)
	if err != nil {
		return c, err
	}
	pause := backoff.NewExponentialBackOff()
	pause.InitialInterval, pause.MaxInterval, pause.MaxElapsedTime = 10*time.Millisecond, 200*time.Millisecond, 0
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			note(ctx, func(o *Observation) { o.Retries++ })
			if fresh {
				c.CommitID = ""
				s.assignCommitID(&c) // a new id cannot fail
			}
		}
		prev, err := s.nextLink(ctx, &c, fresh || attempt > 1)
		if err == nil {
			err = follow(&c, prev, fresh)
		}
		if err != nil {
			return c, err
		}
		c, err = s.write(ctx, c, p, prev)
		var conflict *VersionConflictError
		switch {
		case !errors.As(err, &conflict):
			return c, err
		case attempt >= s.cfg.AppendNextAttempts:
			return c, fmt.Errorf("eventstore: AppendNext of aggregate %q gave up after %d attempts: %w", c.AggregateID, attempt, err)
		}
		if !sleep(ctx, pause.NextBackOff()) {
			return c, fmt.Errorf("eventstore: AppendNext of aggregate %q: %w", c.AggregateID, ctx.Err())
		}
	}
}

// nextLink returns the predecessor of c's version; when reread, it first
// sets c.Version to the one after the latest, whose CommitID is then the
// predecessor: no request beyond the latest Query.
func (s *Store) nextLink(ctx context.Context, c *Commit, reread bool) (string, error) {
	if !reread {
		return s.predecessor(ctx, c.AggregateID, c.Version)
	}
	latest, holder, err := s.latest(ctx, c.AggregateID)
	if err != nil {
		return "", err
	}
	c.Version = latest + 1
	return holder, nil
}

// AppendNew appends c as version 0, the first commit of an aggregate that
// must not exist yet (KurrentDB's "no stream" expected state). It reads
// the latest version with one consistent Query and fails with an error
// matching ErrAggregateExists, holding a *VersionConflictError, if the
// aggregate has any commit, or if another writer creates it first. It sets
// c.Version to 0.
//
// As with Append, retrying with the returned Commit (its CommitID set)
// after an unknown outcome reports success if the earlier call stored it.
// Errors: those of Append, validation before any request. It is safe for
// concurrent use.
func (s *Store) AppendNew(ctx context.Context, c Commit) (Commit, error) {
	ctx, t := s.observe(ctx, OpAppendNew)
	c, err := s.appendNew(ctx, c)
	return c, s.done(ctx, t, stored(err, 1), err)
}

func (s *Store) appendNew(ctx context.Context, c Commit) (Commit, error) {
	retry := c.CommitID != ""
	c.Version = 0
	p, err := s.prepare(&c)
	if err != nil {
		return c, err
	}
	latest, holder, err := s.latest(ctx, c.AggregateID)
	if err != nil {
		return c, err
	}
	if latest < 0 {
		c, err = s.write(ctx, c, p, "")
		if errors.Is(err, ErrVersionConflict) {
			err = fmt.Errorf("%w: %w", ErrAggregateExists, err)
		}
		return c, err
	}
	if latest > 0 {
		holder = ""
		if retry { // is version 0 this commit, stored by the earlier call?
			item, err := s.readKey(ctx, c)
			if err != nil {
				return c, fmt.Errorf("eventstore: AppendNew of aggregate %q: %w", c.AggregateID, err)
			}
			holder, _ = stringAttr(item, attrCommitID)
		}
	}
	if holder == c.CommitID {
		note(ctx, func(o *Observation) { o.Duplicates++ })
		return c, nil
	}
	note(ctx, func(o *Observation) { o.Conflicts++ })
	return c, fmt.Errorf("%w: aggregate %q has commits up to version %d (%w)", ErrAggregateExists, c.AggregateID, latest,
		&VersionConflictError{AggregateID: c.AggregateID, Version: 0, CommitID: holder})
}
