package eventstore

import (
	"bytes"
	"encoding/json"
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

// History is aws-event-stream's loadFromHistory: the fields of every
// event's data merged in order, with the list of event types.
type History struct {
	AggregateID string
	// Version and CommittedAt are those of the last commit; Version is -1
	// when there was none.
	Version     int64
	CommittedAt time.Time
	// EventTypes lists the type of every event, in order.
	EventTypes []string
	// Payload holds the merged fields, each the raw JSON of its last value.
	Payload map[string]json.RawMessage
}

// LoadHistory merges the events of commits (one aggregate's, from Query)
// into a History. The merge is shallow, in event order: each top-level
// field of an event whose data is a JSON object replaces the field of that
// name, the last value winning on conflict, a null value included; a nested
// object replaces the earlier object whole. Data that is not an object (an
// array, a string, a number, true, false, null, or none) adds no field, but
// its event type is listed. Within one object, a repeated key counts its
// last value. The first error of commits is returned.
func LoadHistory(commits iter.Seq2[Commit, error]) (History, error) {
	h := History{Version: -1, EventTypes: []string{}, Payload: map[string]json.RawMessage{}}
	return Fold(commits, h, func(h History, e EventView) (History, error) {
		h.AggregateID, h.Version, h.CommittedAt = e.AggregateID, e.Version, e.CommittedAt
		h.EventTypes = append(h.EventTypes, e.Type)
		if d := bytes.TrimLeft(e.Data, " \t\r\n"); len(d) == 0 || d[0] != '{' {
			return h, nil
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(e.Data, &fields); err != nil {
			return h, err // Append checked the data; an item read back is checked too
		}
		for k, v := range fields {
			h.Payload[k] = v
		}
		return h, nil
	})
}
