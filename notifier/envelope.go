package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dynacommit/eventstore"
)

// Schema is the value of an envelope's "schema" field: the name and version
// of the envelope format. A subscriber reading several kinds of message
// from one queue recognises commits by it.
const Schema = "eventstore.commit.v1"

// Envelope is the JSON body of every message the notifier publishes: one
// commit.
//
//	{
//	  "schema": "eventstore.commit.v1",
//	  "aggregateId": "account#42",
//	  "version": 3,
//	  "commitId": "01JD5Q6X1Z8W3V4T2S9R7P6N5M",
//	  "committedAt": "2025-11-23T15:04:05.123Z",
//	  "events": [{"type": "deposited", "data": {"amount": 10}, "metadata": {"k": "v"}}],
//	  "metadata": {"correlationId": "..."}
//	}
//
// data is the event's JSON as appended, compacted (insignificant white
// space removed) and embedded as is; data, metadata and events' metadata
// are left out when empty.
//
// A commit whose message would exceed SNS's 256 KB limit is announced with
// "eventsOmitted": true and neither events nor metadata: the subscriber
// loads the commit with Store.Query(ctx, aggregateId, version), whose first
// commit is this one (see Envelope.Load). The message attribute
// eventsOmitted is then "true" as well.
type Envelope struct {
	Schema        string            `json:"schema"`
	AggregateID   string            `json:"aggregateId"`
	Version       int64             `json:"version"`
	CommitID      string            `json:"commitId"`
	CommittedAt   time.Time         `json:"committedAt"`
	Events        []EnvelopeEvent   `json:"events,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	EventsOmitted bool              `json:"eventsOmitted,omitempty"`
}

// EnvelopeEvent is one event of an Envelope.
type EnvelopeEvent struct {
	Type     string            `json:"type"`
	Data     json.RawMessage   `json:"data,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// NewEnvelope returns the envelope of c, with its events and metadata.
func NewEnvelope(c eventstore.Commit) Envelope {
	events := make([]EnvelopeEvent, len(c.Events))
	for i, e := range c.Events {
		events[i] = EnvelopeEvent{Type: e.Type, Data: e.Data, Metadata: e.Metadata}
	}
	return Envelope{
		Schema:      Schema,
		AggregateID: c.AggregateID,
		Version:     c.Version,
		CommitID:    c.CommitID,
		CommittedAt: c.CommittedAt.UTC(),
		Events:      events,
		Metadata:    c.Metadata,
	}
}

// omitted is the envelope without events and metadata: the marker of an
// oversized commit.
func (e Envelope) omitted() Envelope {
	e.Events, e.Metadata, e.EventsOmitted = nil, nil, true
	return e
}

// Commit returns the commit the envelope carries. When EventsOmitted is
// true its Events and Metadata are nil: load the commit with Load.
func (e Envelope) Commit() eventstore.Commit {
	c := eventstore.Commit{
		AggregateID: e.AggregateID,
		Version:     e.Version,
		CommitID:    e.CommitID,
		CommittedAt: e.CommittedAt,
		Metadata:    e.Metadata,
	}
	if len(e.Events) > 0 {
		c.Events = make([]eventstore.Event, len(e.Events))
		for i, ev := range e.Events {
			c.Events[i] = eventstore.Event{Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata}
		}
	}
	return c
}

// Load returns the whole commit: the envelope's own when it carries the
// events, otherwise the commit read from store with a consistent Query at
// the envelope's version. It fails with the store's error, or when the
// commit stored there is not the envelope's (another table, or a commit
// removed since). It is safe for concurrent use.
func (e Envelope) Load(ctx context.Context, store *eventstore.Store) (eventstore.Commit, error) {
	if !e.EventsOmitted {
		return e.Commit(), nil
	}
	for c, err := range store.Query(ctx, e.AggregateID, e.Version) {
		if err != nil {
			return eventstore.Commit{}, err
		}
		if c.Version != e.Version || c.CommitID != e.CommitID {
			break
		}
		return c, nil
	}
	return eventstore.Commit{}, fmt.Errorf("notifier: commit %s (aggregate %q version %d) is not in the store",
		e.CommitID, e.AggregateID, e.Version)
}

// Decode parses a message body: an envelope as published (raw message
// delivery, Lambda's Sns.Message), or the JSON notification SNS wraps it in
// when it delivers to an SQS queue without raw message delivery. It fails
// with ErrInvalidEnvelope when the body is neither, or lacks the schema,
// aggregate id or commit id.
func Decode(body []byte) (Envelope, error) {
	var probe struct {
		Type    string `json:"Type"`
		Message *string
		Schema  string `json:"schema"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrInvalidEnvelope, err)
	}
	if probe.Schema == "" && probe.Type == "Notification" && probe.Message != nil {
		body = []byte(*probe.Message)
	}
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrInvalidEnvelope, err)
	}
	switch {
	case e.Schema != Schema:
		return Envelope{}, fmt.Errorf("%w: schema %q, want %q", ErrInvalidEnvelope, e.Schema, Schema)
	case e.AggregateID == "" || e.CommitID == "":
		return Envelope{}, fmt.Errorf("%w: no aggregateId or commitId", ErrInvalidEnvelope)
	}
	return e, nil
}
