package notifier

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/dynacommit/eventstore"
)

// MaxMessageBytes is SNS's limit on one message, body and attributes
// together (256 KiB); a PublishBatch request has the same limit in total.
const MaxMessageBytes = 256 * 1024

// Names of the message attributes of every message.
const (
	// AttrAggregateID (String) is the commit's aggregate id.
	AttrAggregateID = "aggregateId"
	// AttrVersion (Number) is the commit's version.
	AttrVersion = "version"
	// AttrCommitID (String) is the commit's CommitID.
	AttrCommitID = "commitId"
	// AttrEventTypes (String.Array) lists the distinct types of the
	// commit's events, in order of first appearance. An SNS filter policy
	// such as {"eventTypes": ["deposited"]} matches a message if any element
	// equals "deposited" (on AWS; fauxqs 1.9.2 does not match array
	// elements).
	AttrEventTypes = "eventTypes"
	// AttrEventsOmitted (String, "true") is present only on the marker of
	// an oversized commit: the envelope has no events, load the commit
	// with Query.
	AttrEventsOmitted = "eventsOmitted"
	// AttrTraceparent and AttrTracestate (String) carry the commit's W3C
	// Trace Context: the values of its metadata keys of the same names
	// (which eventstoreotel.Inject writes), so that a subscriber links its
	// span to the producer's, even for the marker of an oversized commit.
	// Present only when the commit has them, as printable ASCII of at most
	// 512 bytes.
	AttrTraceparent = "traceparent"
	AttrTracestate  = "tracestate"
)

// maxTraceAttrBytes bounds a trace context attribute: W3C's limit of a
// tracestate header (a traceparent is 55 bytes).
const maxTraceAttrBytes = 512

// message is one commit ready to publish.
type message struct {
	commit  eventstore.Commit
	body    string
	attrs   map[string]types.MessageAttributeValue
	group   string // MessageGroupId, FIFO topics only
	dedup   string // MessageDeduplicationId, FIFO topics only
	omitted bool
}

// newMessage builds the message of c: its full envelope if the message fits
// in MaxMessageBytes, else the marker without events and metadata (and, in
// the absurd case of a commit whose distinct event type names alone pass
// the limit, without the eventTypes attribute).
func newMessage(c eventstore.Commit, fifo bool) message {
	env := NewEnvelope(c)
	m := message{commit: c, attrs: attributes(c)}
	if fifo {
		m.group = GroupID(c.AggregateID)
		m.dedup = DeduplicationID(c.AggregateID, c.Version)
	}
	m.body = marshal(env)
	if m.size() <= MaxMessageBytes && utf8.ValidString(m.body) {
		return m
	}
	m.omitted = true
	m.body = marshal(env.omitted())
	m.attrs[AttrEventsOmitted] = stringAttr("String", "true")
	if m.size() > MaxMessageBytes {
		delete(m.attrs, AttrEventTypes)
	}
	return m
}

// marshal encodes an envelope without escaping <, > and & (SNS carries
// any UTF-8), so event data keeps its bytes, compacted.
func marshal(env Envelope) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil { // cannot happen: Append validated every event's data
		b.Reset()
		enc.Encode(env.omitted())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// attributes returns the message attributes of c.
func attributes(c eventstore.Commit) map[string]types.MessageAttributeValue {
	names, seen := make([]string, 0, len(c.Events)), make(map[string]bool, len(c.Events))
	for _, e := range c.Events {
		if !seen[e.Type] {
			seen[e.Type] = true
			names = append(names, e.Type)
		}
	}
	list, _ := json.Marshal(names)
	attrs := map[string]types.MessageAttributeValue{
		AttrAggregateID: stringAttr("String", c.AggregateID),
		AttrVersion:     stringAttr("Number", strconv.FormatInt(c.Version, 10)),
		AttrCommitID:    stringAttr("String", c.CommitID),
		AttrEventTypes:  stringAttr("String.Array", string(list)),
	}
	for _, name := range []string{AttrTraceparent, AttrTracestate} {
		if v := c.Metadata[name]; v != "" && len(v) <= maxTraceAttrBytes && printableOrSpace(v) {
			attrs[name] = stringAttr("String", v)
		}
	}
	return attrs
}

// printableOrSpace reports whether s holds only characters from ' ' to '~',
// as a W3C trace context header does.
func printableOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func stringAttr(dataType, value string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(dataType), StringValue: aws.String(value)}
}

// size is what the message counts against SNS's limit: the body, and each
// attribute's name, data type and value.
func (m message) size() int {
	n := len(m.body)
	for name, v := range m.attrs {
		n += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// maxGroupID is SNS's limit on a MessageGroupId.
const maxGroupID = 128

// GroupID returns the MessageGroupId of an aggregate's messages on a FIFO
// topic: the aggregate id itself when SNS accepts it (1 to 128 characters,
// each a letter, a digit or ASCII punctuation), otherwise "sha256:" and the
// hex SHA-256 of the aggregate id. Either way, all the commits of one
// aggregate share one group, so subscribers receive them in order.
func GroupID(aggregateID string) string {
	if len(aggregateID) >= 1 && len(aggregateID) <= maxGroupID && printableASCII(aggregateID) {
		return aggregateID
	}
	sum := sha256.Sum256([]byte(aggregateID))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// printableASCII reports whether s holds only characters from '!' to '~':
// letters, digits and punctuation, no space.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// DeduplicationID returns the MessageDeduplicationId of a commit's message
// on a FIFO topic: the hex SHA-256 of the aggregate id, a NUL byte and the
// version in decimal (64 characters, within SNS's 128). A commit is
// identified by its aggregate and version, not by its CommitID, which
// commits of different aggregates may share when callers set it, and SNS
// deduplicates topic-wide. The version holds no NUL, so distinct (aggregate,
// version) pairs hash distinct inputs.
func DeduplicationID(aggregateID string, version int64) string {
	sum := sha256.Sum256([]byte(aggregateID + "\x00" + strconv.FormatInt(version, 10)))
	return hex.EncodeToString(sum[:])
}
