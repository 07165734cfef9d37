package notifier

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/dynacommit/eventstore"
)

func testCommit(events ...eventstore.Event) eventstore.Commit {
	return eventstore.Commit{
		AggregateID: "account#1", Version: 7, CommitID: "01JD5Q6X1Z8W3V4T2S9R7P6N5M",
		CommittedAt: time.UnixMilli(1732374245123).UTC(), Events: events,
	}
}

// bigData is a JSON string of about n bytes.
func bigData(n int) json.RawMessage {
	return json.RawMessage(`"` + strings.Repeat("x", n) + `"`)
}

func TestNewMessageFitsOrMarks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		events  []eventstore.Event
		omitted bool
	}{
		{"small", []eventstore.Event{{Type: "a", Data: bigData(10)}}, false},
		{"just under", []eventstore.Event{{Type: "a", Data: bigData(MaxMessageBytes - 400)}}, false},
		{"just over", []eventstore.Event{{Type: "a", Data: bigData(MaxMessageBytes - 100)}}, true},
		{"many events", func() (es []eventstore.Event) {
			for i := range 100 {
				es = append(es, eventstore.Event{Type: fmt.Sprint("t", i%3), Data: bigData(3000)})
			}
			return es
		}(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCommit(tc.events...)
			c.Metadata = map[string]string{"correlationId": "x"}
			m := newMessage(c, false)
			if m.size() > MaxMessageBytes {
				t.Fatalf("message of %d bytes, over the limit", m.size())
			}
			if m.omitted != tc.omitted {
				t.Fatalf("omitted = %v, want %v", m.omitted, tc.omitted)
			}
			env, err := Decode([]byte(m.body))
			if err != nil {
				t.Fatal(err)
			}
			_, attrOmitted := m.attrs[AttrEventsOmitted]
			if env.EventsOmitted != tc.omitted || attrOmitted != tc.omitted {
				t.Fatalf("envelope eventsOmitted %v, attribute present %v; want %v", env.EventsOmitted, attrOmitted, tc.omitted)
			}
			if tc.omitted && (env.Events != nil || env.Metadata != nil) {
				t.Fatalf("marker carries events or metadata: %.200s", m.body)
			}
			if !tc.omitted && len(env.Events) != len(tc.events) {
				t.Fatalf("envelope has %d events, want %d", len(env.Events), len(tc.events))
			}
			if env.CommitID != c.CommitID || env.Version != c.Version || env.AggregateID != c.AggregateID {
				t.Fatalf("envelope identity %+v", env)
			}
		})
	}
}

func TestNewMessageWithoutRoomForEventTypes(t *testing.T) {
	t.Parallel()
	var events []eventstore.Event
	for i := range 3000 { // 3000 distinct 100-byte type names: 300 KB of attribute
		events = append(events, eventstore.Event{Type: fmt.Sprintf("%0100d", i)})
	}
	m := newMessage(testCommit(events...), false)
	if !m.omitted || m.size() > MaxMessageBytes {
		t.Fatalf("omitted %v, size %d", m.omitted, m.size())
	}
	if _, ok := m.attrs[AttrEventTypes]; ok {
		t.Fatal("eventTypes kept although it alone passes the limit")
	}
}

func TestNewMessageAttributes(t *testing.T) {
	t.Parallel()
	c := testCommit(eventstore.Event{Type: "b"}, eventstore.Event{Type: "a"}, eventstore.Event{Type: "b"})
	m := newMessage(c, true)
	got := map[string]string{}
	for name, v := range m.attrs {
		got[name] = aws.ToString(v.DataType) + " " + aws.ToString(v.StringValue)
	}
	want := map[string]string{
		AttrAggregateID: "String account#1",
		AttrVersion:     "Number 7",
		AttrCommitID:    "String 01JD5Q6X1Z8W3V4T2S9R7P6N5M",
		AttrEventTypes:  `String.Array ["b","a"]`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("attributes %v, want %v", got, want)
	}
	if m.group != "account#1" {
		t.Fatalf("group %q", m.group)
	}
}

func TestGroupID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 129)
	for id, hashed := range map[string]bool{
		"account#42":                  false,
		`!"#$%&'()*+,-./:;<=>?@[\]^_`: false,
		"{|}~`":                       false,
		strings.Repeat("y", 128):      false,
		long:                          true,
		"with space":                  true,
		"ünïcode":                     true,
		"tab\there":                   true,
	} {
		g := GroupID(id)
		if hashed {
			if !strings.HasPrefix(g, "sha256:") || len(g) != 71 || g == GroupID(id+"x") {
				t.Errorf("GroupID(%q) = %q, want a distinct sha256: group", id, g)
			}
			continue
		}
		if g != id {
			t.Errorf("GroupID(%q) = %q, want the id itself", id, g)
		}
	}
}

// A deduplication id fits SNS's rules (1 to 128 characters, letters,
// digits, punctuation) for any aggregate id, and differs for every pair
// (aggregate, version), even ids that embed NUL bytes and digits.
func TestDeduplicationID(t *testing.T) {
	t.Parallel()
	type key struct {
		id      string
		version int64
	}
	keys := []key{
		{"a", 0}, {"a", 1}, {"b", 0}, {"a\x001", 2}, {"a\x0012", 0}, {"a", 12}, {"a1", 2},
		{"", 0}, {"ünïcode id", 7}, {strings.Repeat("x", 2048), 1<<63 - 1}, {"\x00", -1},
	}
	seen := map[string]key{}
	for _, k := range keys {
		d := DeduplicationID(k.id, k.version)
		if len(d) < 1 || len(d) > 128 || !printableASCII(d) {
			t.Errorf("DeduplicationID(%.20q, %d) = %q: not a valid MessageDeduplicationId", k.id, k.version, d)
		}
		if other, ok := seen[d]; ok {
			t.Errorf("DeduplicationID(%.20q, %d) = DeduplicationID(%.20q, %d)", k.id, k.version, other.id, other.version)
		}
		seen[d] = k
		if m := newMessage(eventstore.Commit{AggregateID: k.id, Version: k.version}, true); m.dedup != d {
			t.Errorf("message of (%.20q, %d): dedup %q, want %q", k.id, k.version, m.dedup, d)
		}
	}
	if m := newMessage(eventstore.Commit{AggregateID: "a"}, false); m.dedup != "" {
		t.Errorf("message for a standard topic has dedup %q", m.dedup)
	}
}

func TestBatchLen(t *testing.T) {
	t.Parallel()
	small := newMessage(testCommit(eventstore.Event{Type: "a"}), false)
	big := newMessage(testCommit(eventstore.Event{Type: "a", Data: bigData(100_000)}), false)
	for _, tc := range []struct {
		msgs []message
		want int
	}{
		{[]message{small}, 1},
		{repeat(small, 25), 10},
		{[]message{big, big, big}, 2},
		{[]message{small, big, big, big}, 3},
	} {
		if got := batchLen(tc.msgs); got != tc.want {
			t.Errorf("batchLen of %d messages = %d, want %d", len(tc.msgs), got, tc.want)
		}
	}
}

func repeat(m message, n int) []message {
	out := make([]message, n)
	for i := range out {
		out[i] = m
	}
	return out
}

func TestFirstFailed(t *testing.T) {
	t.Parallel()
	entry := func(id, code string, sender bool) types.BatchResultErrorEntry {
		return types.BatchResultErrorEntry{Id: aws.String(id), Code: aws.String(code), SenderFault: sender}
	}
	if i, err := firstFailed(nil, 5); i != 0 || err != nil {
		t.Fatalf("no failure: %d, %v", i, err)
	}
	i, err := firstFailed([]types.BatchResultErrorEntry{entry("4", "InvalidParameter", true), entry("2", "InternalError", false)}, 5)
	var ee *EntryError
	if i != 2 || !errors.As(err, &ee) || ee.Code != "InternalError" || !transient(err) {
		t.Fatalf("got %d, %v (transient %v); want 2, a transient InternalError", i, err, transient(err))
	}
	if i, err := firstFailed([]types.BatchResultErrorEntry{entry("x", "Weird", true)}, 5); i != 0 || transient(err) {
		t.Fatalf("unknown id: got %d, %v; want 0 and not transient", i, err)
	}
}

// apiError is an SNS error as the SDK returns it.
type apiError struct{ code string }

func (e apiError) Error() string                 { return e.code }
func (e apiError) ErrorCode() string             { return e.code }
func (e apiError) ErrorMessage() string          { return e.code }
func (e apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultUnknown }

func TestTransient(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for err, want := range map[error]bool{
		apiError{"Throttled"}:                                    true,
		apiError{"KMSThrottling"}:                                true,
		apiError{"InternalError"}:                                true,
		apiError{"Throttling"}:                                   true,
		apiError{"NotFound"}:                                     false,
		apiError{"InvalidParameter"}:                             false,
		apiError{"AuthorizationError"}:                           false,
		refused:                                                  true,
		&retry.MaxAttemptsError{Err: refused}:                    true,
		&EntryError{Code: "Throttled", SenderFault: true}:        true,
		&EntryError{Code: "InvalidParameter", SenderFault: true}: false,
		errors.New("context canceled"):                           false,
	} {
		if got := transient(err); got != want {
			t.Errorf("transient(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestMessageBodyKeepsData(t *testing.T) {
	t.Parallel()
	data := json.RawMessage(`{"html": "<a href=\"x\">&amp;</a>", "n": [1, 2]}`)
	m := newMessage(testCommit(eventstore.Event{Type: "t", Data: data}), false)
	want := `"data":{"html":"<a href=\"x\">&amp;</a>","n":[1,2]}`
	if !strings.Contains(m.body, want) || strings.HasSuffix(m.body, "\n") {
		t.Fatalf("body %s\ndoes not hold %s", m.body, want)
	}
}

// TestTraceContextAttributes: a commit's W3C trace context (commit metadata
// traceparent and tracestate, as eventstoreotel.Inject writes them) rides
// in message attributes of the same names, even on the marker of an
// oversized commit, whose envelope has no metadata; a value SNS would refuse
// (empty, not printable ASCII, too long) is left out, never failing the
// publish.
func TestTraceContextAttributes(t *testing.T) {
	t.Parallel()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		name             string
		metadata         map[string]string
		data             json.RawMessage
		parent, tracesta string
	}{
		{"none", nil, bigData(1), "", ""},
		{"traceparent", map[string]string{"traceparent": tp}, bigData(1), tp, ""},
		{"both", map[string]string{"traceparent": tp, "tracestate": "a=1, b=2"}, bigData(1), tp, "a=1, b=2"},
		{"oversized", map[string]string{"traceparent": tp}, bigData(MaxMessageBytes), tp, ""},
		{"empty", map[string]string{"traceparent": ""}, bigData(1), "", ""},
		{"control", map[string]string{"traceparent": "00-\x01"}, bigData(1), "", ""},
		{"non-ASCII", map[string]string{"traceparent": "é"}, bigData(1), "", ""},
		{"too long", map[string]string{"tracestate": strings.Repeat("a", maxTraceAttrBytes+1)}, bigData(1), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCommit(eventstore.Event{Type: "a", Data: tc.data})
			c.Metadata = tc.metadata
			m := newMessage(c, false)
			for name, want := range map[string]string{AttrTraceparent: tc.parent, AttrTracestate: tc.tracesta} {
				v, ok := m.attrs[name]
				switch {
				case want == "" && ok:
					t.Errorf("attribute %s = %q, want none", name, aws.ToString(v.StringValue))
				case want != "" && (aws.ToString(v.StringValue) != want || aws.ToString(v.DataType) != "String"):
					t.Errorf("attribute %s = %+v, want String %q", name, v, want)
				}
			}
			if m.size() > MaxMessageBytes {
				t.Errorf("message of %d bytes, over the limit", m.size())
			}
		})
	}
}
