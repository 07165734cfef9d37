package eventstore

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"
)

// The fuzz targets below run in CI for a bounded time each (see Makefile);
// their seed corpora are in testdata/fuzz. Every target checks the same
// two things: no input panics, and every rejection is an error matching
// the documented sentinel.

// validationErrors are the sentinels a commit that fails validate or
// encodeItem may match.
var validationErrors = []error{errEmptyAggregateID, errAggregateIDTooLong, errNegativeVersion, errNoEvents,
	errEmptyEventType, errInvalidEventData, errNotULID, ErrCommitTooLarge, errInvalidUTF8, errEmptyMetadataKey}

func isOneOf(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// FuzzDecodeItem feeds decodeStored attribute maps built from arbitrary
// values, with attributes missing or of the wrong type, and events as
// plain, compressed, truncated or arbitrary binary payloads. What decodes
// must be a valid commit that encodes and decodes to itself; what does not
// must be ErrCorruptCommit.
func FuzzDecodeItem(f *testing.F) {
	id := ulid.MustNew(1_750_000_000_000, bytes.NewReader(make([]byte, 16)))
	ms := strconv.FormatUint(id.Time(), 10)
	f.Add("acct#1", "0", id.String(), ms, []byte(`[{"t":"created","d":{"a":1}}]`), uint8(0), "user", "john", uint16(0))
	f.Add("acct#1", "7", id.String(), ms, []byte(`[{"t":"a"},{"t":"b","d":null,"m":{"k":"v"}}]`), uint8(1), "", "", uint16(0))
	f.Add("acct#1", "7", id.String(), ms, []byte(`[{"t":"a","d":[1,2,3]}]`), uint8(2), "k", "v", uint16(0))
	f.Add("a", "-1", "", "", []byte(`[]`), uint8(3), "k", "v", uint16(0xffff))
	f.Add("a", "99999999999999999999", id.String(), "0", []byte(`[{"t":""}]`), uint8(0), "k", "v", uint16(0x5555))
	// A compression bomb (issue 26): more events than a commit holds.
	f.Add("acct#1", "0", id.String(), ms, deflateBest(tinyEvents(maxCommitEvents+1)), uint8(3), "k", "v", uint16(0))
	f.Fuzz(func(t *testing.T, aggregateID, version, commitID, committedAt string, events []byte, packing uint8, metaKey, metaValue string, shape uint16) {
		item := fuzzItem(aggregateID, version, commitID, committedAt, events, packing, metaKey, metaValue, shape)
		c, err := decodeCommit(item)
		if err != nil {
			if !errors.Is(err, ErrCorruptCommit) {
				t.Fatalf("decodeStored error %v does not match ErrCorruptCommit", err)
			}
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("decodeStored returned a commit that does not validate: %v\n%#v", err, c)
		}
		again, err := encodeCommit(c)
		if errors.Is(err, ErrCommitTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("a decoded commit does not encode: %v", err)
		}
		back, err := decodeCommit(again)
		if err != nil {
			t.Fatalf("a decoded commit, encoded again, does not decode: %v", err)
		}
		if diff := cmp.Diff(c, back); diff != "" {
			t.Fatalf("decode(encode(decode(item))) differs (-first +second):\n%s", diff)
		}
	})
}

// fuzzItem builds an item; each 2-bit field of shape picks, per attribute,
// the right type (0), absent (1), or a wrong type (2, 3).
func fuzzItem(aggregateID, version, commitID, committedAt string, events []byte, packing uint8, metaKey, metaValue string, shape uint16) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{}
	set := func(i int, name string, right types.AttributeValue, raw string) {
		switch shape >> (2 * i) & 3 {
		case 0:
			item[name] = right
		case 2:
			item[name] = &types.AttributeValueMemberN{Value: raw}
		case 3:
			item[name] = &types.AttributeValueMemberL{Value: []types.AttributeValue{right}}
		}
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	set(0, attrAggregateID, s(aggregateID), aggregateID)
	set(1, attrVersion, n(version), version)
	set(2, attrCommitID, s(commitID), commitID)
	set(3, attrCommittedAt, n(committedAt), committedAt)
	var ev types.AttributeValue
	switch packing % 4 {
	case 0:
		ev = s(string(events))
	case 1:
		ev = &types.AttributeValueMemberB{Value: deflate(events)}
	case 2: // a compressed payload cut short
		packed := deflate(events)
		ev = &types.AttributeValueMemberB{Value: packed[:len(packed)/2]}
	case 3:
		ev = &types.AttributeValueMemberB{Value: events}
	}
	set(4, attrEvents, ev, string(events))
	meta := &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{metaKey: s(metaValue)}}
	if packing&4 != 0 {
		meta.Value[metaKey] = n(metaValue)
	}
	if packing&8 != 0 {
		meta.Value = map[string]types.AttributeValue{}
	}
	set(5, attrMetadata, meta, metaValue)
	set(6, attrShard, n("3"), "3")
	return item
}

// FuzzDecodeEvents feeds the events attribute alone, as a string or as a
// binary payload taken raw or compressed first.
func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte(`[{"t":"created","d":{"a":1},"m":{"k":"v"}}]`), uint8(0))
	f.Add([]byte(`[{"t":"a","d":"x"},{"t":"b","d":1e999}]`), uint8(1))
	f.Add(deflate([]byte(`[{"t":"a","d":"x"}]`)), uint8(2))
	f.Add([]byte(`[{"t":"a","m":{}}]`), uint8(0))
	f.Add([]byte(`[{"t":"a","d":"\ud800"}]`), uint8(0))
	f.Add(deflateBest(tinyEvents(maxCommitEvents+1)), uint8(2)) // a compression bomb (issue 26)
	f.Fuzz(func(t *testing.T, payload []byte, packing uint8) {
		var av types.AttributeValue
		switch packing % 3 {
		case 0:
			av = &types.AttributeValueMemberS{Value: string(payload)}
		case 1:
			av = &types.AttributeValueMemberB{Value: deflate(payload)}
		case 2:
			av = &types.AttributeValueMemberB{Value: payload}
		}
		events, err := decodeEvents(av)
		if err != nil {
			return // decodeStored wraps it in ErrCorruptCommit
		}
		if len(events) > maxCommitEvents {
			t.Fatalf("decoded %d events, over the %d a commit holds", len(events), maxCommitEvents)
		}
		c := Commit{AggregateID: "a", Events: events}
		if err := c.validate(); err != nil {
			t.Fatalf("decoded events do not validate: %v\n%#v", err, events)
		}
		raw, err := appendEventsJSON(nil, events)
		if err != nil {
			t.Fatalf("decoded events do not encode: %v", err)
		}
		again := packEvents(raw, itemOverhead)
		back, err := decodeEvents(again)
		if err != nil {
			t.Fatalf("decoded events, encoded again, do not decode: %v", err)
		}
		if diff := cmp.Diff(events, back); diff != "" {
			t.Fatalf("events differ after a second round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzCommitRoundTrip builds commits from arbitrary parts: what validates
// encodes and decodes to an equal commit; what does not is refused with a
// validation sentinel, and so is what does not fit in an item.
func FuzzCommitRoundTrip(f *testing.F) {
	f.Add("acct#1", int64(0), "created", []byte(`{"a":1}`), "k", "v", uint16(1), "user", "john", "")
	f.Add("ünï#😀", int64(1<<40), "t", []byte(`null`), "", "", uint16(3000), "", "x", "")
	f.Add("a", int64(-1), "", []byte(`{`), "k", "\xff", uint16(0), "k", "v", "01JZ0000000000000000000001")
	f.Add("a", int64(5), "t", []byte(" [1, 2] "), "k", "v", uint16(2), "k", "", "01jz0000000000000000000001")
	f.Add("a", int64(5), "t", []byte("\"\xff\""), "k", "v", uint16(2), "k", "", "")
	f.Fuzz(func(t *testing.T, aggregateID string, version int64, typ string, data []byte, eventKey, eventValue string,
		events uint16, metaKey, metaValue, commitID string) {
		c := Commit{AggregateID: aggregateID, Version: version, CommitID: commitID}
		for i := range int(events % 5000) {
			e := Event{Type: typ, Data: data}
			if i%2 == 1 {
				e.Metadata = map[string]string{eventKey: eventValue}
			}
			c.Events = append(c.Events, e)
		}
		if metaKey != "" || metaValue != "" {
			c.Metadata = map[string]string{metaKey: metaValue}
		}
		if c.CommitID == "" {
			c.CommitID = newCommitID(time.Now()).String()
		}
		if id, err := parseCommitID(c.CommitID); err == nil {
			c.CommittedAt = commitTime(id)
		}
		err := c.validate()
		if err != nil {
			if !isOneOf(err, validationErrors) {
				t.Fatalf("validate error %v matches no validation sentinel", err)
			}
			return
		}
		item, err := encodeCommit(c)
		if err != nil {
			if !errors.Is(err, ErrCommitTooLarge) {
				t.Fatalf("encodeItem of a valid commit: %v, want success or ErrCommitTooLarge", err)
			}
			return
		}
		for name, av := range item {
			if s, ok := av.(*types.AttributeValueMemberS); ok && !utf8.ValidString(s.Value) {
				t.Fatalf("attribute %s is not UTF-8: DynamoDB would change it", name)
			}
		}
		got, err := decodeCommit(item)
		if err != nil {
			t.Fatalf("decodeStored of an encoded valid commit: %v", err)
		}
		if diff := cmp.Diff(normalized(c), got); diff != "" {
			t.Fatalf("round trip (-sent +decoded):\n%s", diff)
		}
	})
}

// normalized is c as the store reads it back: empty Data and empty
// metadata maps are not stored, so they read back as nil (see Event).
func normalized(c Commit) Commit {
	c.Events = slices.Clone(c.Events)
	for i, e := range c.Events {
		if len(e.Data) == 0 {
			c.Events[i].Data = nil
		}
		if len(e.Metadata) == 0 {
			c.Events[i].Metadata = nil
		}
	}
	if len(c.Metadata) == 0 {
		c.Metadata = nil
	}
	return c
}

// FuzzParseCommitID checks CommitID and checkpoint parsing: a CommitID
// read from the table parses only in its canonical form, a checkpoint in
// any case (a ULID is case-insensitive), and starts a scan just after it.
func FuzzParseCommitID(f *testing.F) {
	f.Add(ulid.MustNew(1_750_000_000_000, bytes.NewReader(make([]byte, 16))).String())
	f.Add("")
	f.Add("7ZZZZZZZZZZZZZZZZZZZZZZZZZ")
	f.Add("8ZZZZZZZZZZZZZZZZZZZZZZZZZ")
	f.Add("01jz0000000000000000000001")
	f.Add("01JZ000000000000000000000U")
	f.Add("01JZ0000000000000000000001\x00")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseCommitID(s)
		if err != nil {
			if !errors.Is(err, errNotULID) {
				t.Fatalf("parseCommitID(%q) error %v does not match errNotULID", s, err)
			}
		} else if len(s) != 26 || id.String() != s || commitTime(id).UnixMilli() != int64(id.Time()) {
			t.Fatalf("parseCommitID(%q) = %s at %v: not canonical", s, id, commitTime(id))
		}
		lo, err := scanStart(s)
		switch {
		case err != nil:
			if !errors.Is(err, ErrInvalidCommitID) {
				t.Fatalf("scanStart(%q) error %v does not match ErrInvalidCommitID", s, err)
			}
		case s == "":
			if !lo.IsZero() {
				t.Fatalf(`scanStart("") = %s, want the smallest ULID`, lo)
			}
		case lo.Compare(id) != 1:
			t.Fatalf("scanStart(%q) = %s, not after the checkpoint", s, lo)
		}
		id, canonErr := parseCommitID(strings.ToUpper(s))
		if parsed := s == "" || canonErr == nil && strings.EqualFold(id.String(), s); err == nil && !parsed {
			t.Fatalf("scanStart accepted %q, which parseCommitID refuses", s)
		} else if err != nil && parsed && id.String() != "7ZZZZZZZZZZZZZZZZZZZZZZZZZ" {
			t.Fatalf("scanStart(%q): %v, but it is a valid CommitID short of the largest", s, err)
		}
	})
}

// Data nested just under encoding/json's depth limit passed json.Valid but
// could not be read back once wrapped in the stored form: a commit that
// broke every Query and Scan reaching it. Validation now refuses it.
func TestValidDataAlwaysDecodes(t *testing.T) {
	nest := func(open, close string, d int) []byte {
		return []byte(strings.Repeat(open, d) + `"[{\"[" ` + strings.Repeat(close, d))
	}
	for d := maxDataDepth - 2; d <= 10001; d++ {
		for _, data := range [][]byte{nest("[", "]", d), nest(`{"k":`, "}", d)} {
			c := Commit{AggregateID: "a", CommitID: "01JZ0000000000000000000001", Events: []Event{{Type: "x", Data: data}}}
			c.CommittedAt = commitTime(ulid.MustParse(c.CommitID))
			err := c.validate()
			if (err == nil) != (d <= maxDataDepth) {
				t.Fatalf("depth %d (%.2s): validate = %v", d, data, err)
			}
			if err != nil {
				if !errors.Is(err, errInvalidEventData) {
					t.Fatalf("depth %d: %v, want errInvalidEventData", d, err)
				}
				continue
			}
			item, err := encodeCommit(c)
			if err == nil {
				_, err = decodeCommit(item)
			}
			if err != nil {
				t.Fatalf("depth %d validates but does not round-trip: %v", d, err)
			}
		}
	}
}
