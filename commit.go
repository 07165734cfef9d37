package eventstore

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
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

// Store-assigned CommitIDs carry a mark: the last 4 of their 10 bytes of
// entropy are a MAC (SHA-256 under a key this process draws at start) of
// the first 12 bytes, time and 6 random bytes. So the store knows a
// CommitID it assigned from one a caller set, wherever the Commit went in
// between (Update, a retry with a returned Commit), and may replace its
// own when a new decision needs a new one (see follow). An id made
// elsewhere (by a caller, or another process) bears the mark by chance
// once in 2^32: then, if not greater than its predecessor's, it is
// replaced rather than refused. 48 random bits per millisecond are left,
// plenty against collisions between processes.
var markKey = func() (k [32]byte) {
	rand.Read(k[:])
	return k
}()

// markBytes is the size of the mark; randomBytes the entropy left.
const (
	markBytes   = 4
	randomBytes = 10 - markBytes
)

// commitIDs hands out ULIDs that increase strictly within the process, even
// inside one millisecond, for every Store. Safe for concurrent use.
var commitIDs struct {
	sync.Mutex
	last ulid.ULID
}

// nextCommitID returns a marked ULID for the instant now, greater than
// every ULID this process made before (if the clock steps back, the
// previous time is kept, so order within a process never inverts). A
// clock outside the ULID range (before 1970, after the year 10889) is an
// error, and so is running out of ULIDs at the largest time.
func nextCommitID(now time.Time) (ulid.ULID, error) {
	commitIDs.Lock()
	defer commitIDs.Unlock()
	ms := ulid.Timestamp(now)
	if ms > ulid.MaxTime() || now.Before(time.UnixMilli(0)) {
		return ulid.ULID{}, fmt.Errorf("%w: %w: %v", ErrInvalidCommit, errClockOutOfRange, now)
	}
	last := commitIDs.last
	r := randomPart()
	if ms <= last.Time() { // same millisecond, or the clock stepped back
		ms, r = last.Time(), lastRandom(last)+1+r%(1<<16)
		if r >= 1<<(8*randomBytes) { // this millisecond's ids are used up: move on
			ms, r = ms+1, randomPart()
		}
	}
	id, err := markedID(ms, r)
	if err != nil {
		return id, fmt.Errorf("%w: %w: no commit id after %s", ErrInvalidCommit, errNoNextCommitID, last)
	}
	commitIDs.last = id
	return id, nil
}

// newCommitIDAt is a marked ULID at millisecond ms with fresh random
// entropy; past the largest time, an error.
func newCommitIDAt(ms uint64) (ulid.ULID, error) {
	return markedID(ms, randomPart())
}

// markedID is the ULID of time ms, random part r (6 bytes) and the mark.
func markedID(ms, r uint64) (ulid.ULID, error) {
	var id ulid.ULID
	if err := id.SetTime(ms); err != nil {
		return id, err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r)
	copy(id[6:6+randomBytes], b[8-randomBytes:])
	m := mark(id)
	copy(id[16-markBytes:], m[:])
	return id, nil
}

// mark is the MAC of id's time and random part.
func mark(id ulid.ULID) [markBytes]byte {
	var in [len(markKey) + 16 - markBytes]byte
	copy(in[:], markKey[:])
	copy(in[len(markKey):], id[:16-markBytes])
	sum := sha256.Sum256(in[:])
	return [markBytes]byte(sum[:markBytes])
}

// assigned reports whether id is a CommitID this process's store assigned
// (canonical or any case).
func assigned(id string) bool {
	u, _, err := parseAnyCase(id)
	return err == nil && [markBytes]byte(u[16-markBytes:]) == mark(u)
}

// randomPart is 6 random bytes.
func randomPart() uint64 {
	var b [8]byte
	rand.Read(b[8-randomBytes:])
	return binary.BigEndian.Uint64(b[:])
}

// lastRandom is the random part of id.
func lastRandom(id ulid.ULID) uint64 {
	var b [8]byte
	copy(b[8-randomBytes:], id[6:6+randomBytes])
	return binary.BigEndian.Uint64(b[:])
}

// parseCommitID parses a canonical ULID string (26 characters, upper case).
func parseCommitID(s string) (ulid.ULID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil || id.String() != s {
		return ulid.ULID{}, fmt.Errorf("%w: %q", errNotULID, s)
	}
	return id, nil
}

// parseAnyCase parses a ULID in canonical form or any other case (Crockford
// base32 is case-insensitive) and returns it with its canonical string.
// Input from callers (a checkpoint, a caller-set CommitID) goes through it;
// items read from the table must be canonical (parseCommitID), since the
// scan index orders them by their bytes.
func parseAnyCase(s string) (ulid.ULID, string, error) {
	id, err := parseCommitID(strings.ToUpper(s))
	if err != nil {
		return id, s, fmt.Errorf("%w: %q", errNotULID, s)
	}
	return id, id.String(), nil
}

// commitTime is the instant a ULID carries.
func commitTime(id ulid.ULID) time.Time {
	return ulid.Time(id.Time()).UTC()
}

// ulidAt is the smallest ULID of the millisecond of t.
func ulidAt(t time.Time) ulid.ULID {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(t))
	return id
}

// maxULID is the largest ULID.
func maxULID() ulid.ULID {
	var top ulid.ULID
	for i := range top {
		top[i] = 0xff
	}
	return top
}

// increment returns id+1, false if id is the largest ULID.
func increment(id ulid.ULID) (ulid.ULID, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

// decrement returns id-1, false if id is the smallest ULID.
func decrement(id ulid.ULID) (ulid.ULID, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]--
		if id[i] != 0xff {
			return id, true
		}
	}
	return id, false
}
