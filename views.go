package eventstore

import (
	"fmt"
	"iter"
	"time"
)

// EventView is one event with the coordinates of its commit: an element
// of aws-event-stream's getEvents, whose commitTimestamp is CommittedAt.
type EventView struct {
	AggregateID string
	Version     int64
	CommitID    string
	CommittedAt time.Time
	// Index is the event's position in its commit.
	Index int
	Event
}

// Events flattens commits, as Query or Scan yield them, into their events
// in order: aws-event-stream's getEvents is
//
//	eventstore.Events(store.Query(ctx, aggregateID, 0))
//
// An error of commits is yielded once and ends the sequence.
func Events(commits iter.Seq2[Commit, error]) iter.Seq2[EventView, error] {
	return func(yield func(EventView, error) bool) {
		for c, err := range commits {
			if err != nil {
				yield(EventView{}, err)
				return
			}
			for i, e := range c.Events {
				v := EventView{AggregateID: c.AggregateID, Version: c.Version, CommitID: c.CommitID, CommittedAt: c.CommittedAt, Index: i, Event: e}
				if !yield(v, nil) {
					return
				}
			}
		}
	}
}

// Fold applies apply to every event of commits in order, starting from
// state, and returns the final state: the generic way to load an aggregate
// from its history. It stops at the first error, of commits or of apply
// (wrapped with the event's coordinates).
func Fold[S any](commits iter.Seq2[Commit, error], state S, apply func(S, EventView) (S, error)) (S, error) {
	for e, err := range Events(commits) {
		if err != nil {
			return state, err
		}
		if state, err = apply(state, e); err != nil {
			return state, fmt.Errorf("eventstore: fold aggregate %q version %d event %d (%s): %w", e.AggregateID, e.Version, e.Index, e.Type, err)
		}
	}
	return state, nil
}
