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
	// LandedLate is set by Append, AppendAll, AppendNext and AppendNew
	// only, never stored, and false on reads: the commit is stored, but
	// Append learned so only after its writer deadline (the deadline cut
	// its put short and the fence found it, or a retry with an old Commit
	// found it), so it may have landed after readers passed its time and
	// skipped it. That cannot happen while every request is delivered
	// within SettleAllowance; see doc.go, "Settle window".
	LandedLate bool
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
		if err := e.validate(); err != nil {
			return fmt.Errorf("%w: aggregate %q version %d event %d (%s)", err, c.AggregateID, c.Version, i, e.Type)
		}
	}
	if err := validateMetadata(c.Metadata, false); err != nil {
		return fmt.Errorf("%w: aggregate %q version %d: commit metadata", err, c.AggregateID, c.Version)
	}
	if c.CommitID != "" {
		if _, err := parseCommitID(c.CommitID); err != nil {
			return err
		}
	}
	return nil
}

// validate returns the sentinel an event breaks, if any.
func (e *Event) validate() error {
	switch {
	case e.Type == "":
		return ErrEmptyEventType
	case !utf8.ValidString(e.Type):
		return fmt.Errorf("%w: event type", ErrInvalidUTF8)
	}
	if err := validateData(e.Data); err != nil {
		return err
	}
	return validateMetadata(e.Metadata, true)
}

// validateData accepts empty data or a JSON text that the store keeps byte
// for byte: UTF-8 (json.Valid does not check it, and DynamoDB would
// replace bad bytes) without whitespace around the value (decoding drops it).
func validateData(data json.RawMessage) error {
	switch {
	case len(data) == 0:
		return nil
	case !validJSON(data):
		return ErrInvalidEventData
	case !utf8.Valid(data):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidEventData)
	case isJSONSpace(data[0]) || isJSONSpace(data[len(data)-1]):
		return fmt.Errorf("%w: whitespace around the value would not be kept (trim it)", ErrInvalidEventData)
	case len(data) > 2*maxDataDepth && jsonDepth(data) > maxDataDepth:
		return fmt.Errorf("%w: nested more than %d deep", ErrInvalidEventData, maxDataDepth)
	}
	return nil
}

// maxDataDepth is how deep event data may nest: encoding/json's limit
// (10,000) less the two levels of the stored form ([{"d": data}]), so that
// what Append stores can always be read back.
const maxDataDepth = 10000 - 2

// jsonDepth is the deepest nesting of arrays and objects in valid JSON.
func jsonDepth(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, b := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped, inString = b == '\\', b != '"'
		case b == '"':
			inString = true
		case b == '[' || b == '{':
			depth++
			deepest = max(deepest, depth)
		case b == ']' || b == '}':
			depth--
		}
	}
	return deepest
}

func isJSONSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// validateMetadata checks that metadata keeps its keys and values: all
// UTF-8, and no empty key where it becomes a DynamoDB map (emptyKeyOK is
// false for commit metadata; event metadata is JSON, where "" is a key).
func validateMetadata(m map[string]string, emptyKeyOK bool) error {
	for k, v := range m {
		switch {
		case k == "" && !emptyKeyOK:
			return ErrEmptyMetadataKey
		case !utf8.ValidString(k):
			return fmt.Errorf("%w: metadata key %q", ErrInvalidUTF8, k)
		case !utf8.ValidString(v):
			return fmt.Errorf("%w: metadata %q value", ErrInvalidUTF8, k)
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
