package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
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
	CommitID    string    // a ULID; set by Append unless the caller set one (see Store.Append)
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
// error matches ErrInvalidCommit and says the precise reason.
func (c *Commit) validate() error {
	if err := c.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommit, err)
	}
	return nil
}

// check returns the first problem of c, without the ErrInvalidCommit prefix.
func (c *Commit) check() error {
	if err := validateAggregateID(c.AggregateID); err != nil {
		return err
	}
	if c.Version < 0 {
		return fmt.Errorf("%w: aggregate %q version %d", errNegativeVersion, c.AggregateID, c.Version)
	}
	if len(c.Events) == 0 {
		return fmt.Errorf("%w: aggregate %q version %d", errNoEvents, c.AggregateID, c.Version)
	}
	for i, e := range c.Events {
		if err := e.validate(); err != nil {
			return fmt.Errorf("%w: aggregate %q version %d event %d (%s)", err, c.AggregateID, c.Version, i, e.Type)
		}
	}
	if err := validateMetadata(c.Metadata, false); err != nil {
		return fmt.Errorf("%w: aggregate %q version %d: commit metadata", err, c.AggregateID, c.Version)
	}
	for k := range c.Metadata { // a DynamoDB map's keys; event metadata is JSON, without this limit
		if len(k) > maxMapKeyBytes {
			return fmt.Errorf("%w: aggregate %q version %d: key of %d bytes, DynamoDB's limit is %d", errMetadataKeyTooLong, c.AggregateID, c.Version, len(k), maxMapKeyBytes)
		}
	}
	if c.CommitID != "" {
		if _, err := parseCommitID(c.CommitID); err != nil {
			return fmt.Errorf("commit id: %w", err)
		}
	}
	return nil
}

// validate returns the sentinel an event breaks, if any.
func (e *Event) validate() error {
	switch {
	case e.Type == "":
		return errEmptyEventType
	case !utf8.ValidString(e.Type):
		return fmt.Errorf("%w: event type", errInvalidUTF8)
	}
	if err := validateData(e.Data); err != nil {
		return err
	}
	return validateMetadata(e.Metadata, true)
}

// validateData accepts empty data or a JSON text that the store keeps byte
// for byte: UTF-8 (json.Valid does not check it, and DynamoDB would
// replace bad bytes) without whitespace around the value (decoding drops
// it), and nested no deeper than encoding/json reads back once stored.
func validateData(data json.RawMessage) error {
	switch {
	case len(data) == 0:
		return nil
	case !json.Valid(data):
		return errInvalidEventData
	case !utf8.Valid(data):
		return fmt.Errorf("%w: not UTF-8", errInvalidEventData)
	case isJSONSpace(data[0]) || isJSONSpace(data[len(data)-1]):
		// prepare trims it (trimData); a caller of validate alone did not.
		return fmt.Errorf("%w: whitespace around the value would not be kept (trim it)", errInvalidEventData)
	case len(data) > 2*maxDataDepth && !json.Valid(slices.Concat([]byte("[["), data, []byte("]]"))):
		// Only data this long can nest this deep. Stored, it sits two
		// levels down ([{"d": data}]), where encoding/json's depth limit
		// must still let it be read.
		return fmt.Errorf("%w: nested more than %d deep", errInvalidEventData, maxDataDepth)
	}
	return nil
}

// maxDataDepth is how deep event data may nest: encoding/json's limit
// (10,000) less the two levels of the stored form ([{"d": data}]), so that
// what Append stores can always be read back.
const maxDataDepth = 10000 - 2

func isJSONSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// trimData trims the JSON whitespace around each event's Data (as
// json.Encoder's trailing newline), which decoding would not keep, so that
// the commit Append stores and returns is the one Query reads back, byte
// for byte. Data that is whitespace only stays, for validation to refuse.
// The caller's events are not modified: c gets a copy when one changes.
func trimData(c *Commit) {
	copied := false
	for i, e := range c.Events {
		trimmed := bytes.TrimFunc(e.Data, func(r rune) bool { return r < utf8.RuneSelf && isJSONSpace(byte(r)) })
		if len(trimmed) == len(e.Data) || len(trimmed) == 0 {
			continue
		}
		if !copied {
			c.Events, copied = slices.Clone(c.Events), true
		}
		c.Events[i].Data = trimmed
	}
}

// maxMapKeyBytes bounds a commit metadata key, a DynamoDB map key. DynamoDB
// refuses names and map keys of 64 KB or more; DynamoDB Local fails with
// an internal error (HTTP 500, which looks like an unknown outcome) past
// 50,000 characters, its JSON parser's limit of a name (measured: 50,000
// bytes pass, 51,000 fail). The store takes the smaller bound, so that a
// commit behaves alike on both.
const maxMapKeyBytes = 50_000

// validateMetadata checks that metadata keeps its keys and values: all
// UTF-8, and no empty key where it becomes a DynamoDB map (emptyKeyOK is
// false for commit metadata; event metadata is JSON, where "" is a key).
func validateMetadata(m map[string]string, emptyKeyOK bool) error {
	for k, v := range m {
		switch {
		case k == "" && !emptyKeyOK:
			return errEmptyMetadataKey
		case !utf8.ValidString(k):
			return fmt.Errorf("%w: metadata key %q", errInvalidUTF8, k)
		case !utf8.ValidString(v):
			return fmt.Errorf("%w: metadata %q value", errInvalidUTF8, k)
		}
	}
	return nil
}

// validateAggregateID returns the problem of an aggregate id, without the
// ErrInvalidCommit prefix.
func validateAggregateID(id string) error {
	switch {
	case id == "":
		return errEmptyAggregateID
	case len(id) > maxAggregateIDBytes:
		return fmt.Errorf("%w: %d bytes", errAggregateIDTooLong, len(id))
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: aggregate id", errInvalidUTF8)
	}
	return nil
}
