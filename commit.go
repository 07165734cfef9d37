package eventstore

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// maxAggregateIDBytes is DynamoDB's partition key limit.
const maxAggregateIDBytes = 2048

// Event is one thing that happened. The store never interprets Data beyond
// checking that it is valid JSON (or empty).
type Event struct {
	Type     string
	Data     json.RawMessage // empty Data is stored as absent and read back as nil
	Metadata map[string]string
}

// Commit is the unit of atomicity: events that happened together, stored as
// one DynamoDB item, all or none. Version is the commit's 0-based sequence
// number inside its aggregate.
type Commit struct {
	AggregateID string
	Version     int64
	CommitID    string    // a ULID; set by Append unless the caller set one
	CommittedAt time.Time // the instant of CommitID, set by Append
	Events      []Event
	Metadata    map[string]string // commit headers: correlation id, user, ...
}

// validate checks what can be checked without the network. The returned
// error wraps one of the validation sentinels of errors.go.
func (c *Commit) validate() error {
	if err := validateAggregateID(c.AggregateID); err != nil {
		return err
	}
	if c.Version < 0 {
		return fmt.Errorf("%w: aggregate %q version %d", ErrNegativeVersion, c.AggregateID, c.Version)
	}
	if len(c.Events) == 0 {
		return fmt.Errorf("%w: aggregate %q version %d", ErrNoEvents, c.AggregateID, c.Version)
	}
	for i, e := range c.Events {
		if e.Type == "" {
			return fmt.Errorf("%w: aggregate %q version %d event %d", ErrEmptyEventType, c.AggregateID, c.Version, i)
		}
		if len(e.Data) > 0 && !json.Valid(e.Data) {
			return fmt.Errorf("%w: aggregate %q version %d event %d (%s)", ErrInvalidEventData, c.AggregateID, c.Version, i, e.Type)
		}
	}
	if c.CommitID != "" {
		if _, err := parseCommitID(c.CommitID); err != nil {
			return err
		}
	}
	return nil
}

func validateAggregateID(id string) error {
	if id == "" {
		return ErrEmptyAggregateID
	}
	if len(id) > maxAggregateIDBytes || !utf8.ValidString(id) {
		return fmt.Errorf("%w: %d bytes", ErrAggregateIDTooLong, len(id))
	}
	return nil
}
