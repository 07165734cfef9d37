package eventstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
)

// Input at the edges: each case is either stored and read back exactly, by
// Query and by Scan, or refused with its sentinel before any request.
// README's Reliability section tables these cases.
func TestEdgesRoundTripOrRefuse(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	ev := func(data string) []eventstore.Event {
		return []eventstore.Event{{Type: "t", Data: json.RawMessage(data)}}
	}
	many := make([]eventstore.Event, 10_000)
	for i := range many {
		many[i] = eventstore.Event{Type: "tick", Data: json.RawMessage(fmt.Sprint(i))}
	}
	nested := func(d int) string { return strings.Repeat("[", d) + strings.Repeat("]", d) }
	tests := []struct {
		name string
		c    eventstore.Commit
		want error // nil: stored and read back exactly
	}{
		{"aggregate id: Cyrillic", eventstore.Commit{AggregateID: "счёт#42"}, nil},
		{"aggregate id: emoji and combining marks", eventstore.Commit{AggregateID: "口座/😀/e\u0301"}, nil},
		{"aggregate id: NUL byte", eventstore.Commit{AggregateID: "a\x00b"}, nil},
		{"aggregate id: 1 byte", eventstore.Commit{AggregateID: "x"}, nil},
		{"aggregate id: 2048 bytes (DynamoDB's key limit)", eventstore.Commit{AggregateID: strings.Repeat("k", 2048)}, nil},
		{"aggregate id: 1024 two-byte runes", eventstore.Commit{AggregateID: strings.Repeat("é", 1024)}, nil},
		{"aggregate id: 2049 bytes", eventstore.Commit{AggregateID: strings.Repeat("k", 2049)}, eventstore.ErrInvalidCommit},
		{"aggregate id: 2047 bytes and a 2-byte rune", eventstore.Commit{AggregateID: strings.Repeat("k", 2047) + "é"}, eventstore.ErrInvalidCommit},
		{"aggregate id: not UTF-8", eventstore.Commit{AggregateID: "a\xffb"}, eventstore.ErrInvalidCommit},
		{"aggregate id: empty", eventstore.Commit{}, eventstore.ErrInvalidCommit},
		{"version: the largest int64, a gap", eventstore.Commit{Version: 1<<63 - 1}, eventstore.ErrVersionGap},
		{"events: 1", eventstore.Commit{Events: ev(`{"a":1}`)}, nil},
		{"events: 10,000 small ones", eventstore.Commit{Events: many}, nil},
		{"events: none", eventstore.Commit{Events: []eventstore.Event{}}, eventstore.ErrInvalidCommit},
		{"data: absent", eventstore.Commit{Events: []eventstore.Event{{Type: "t"}}}, nil},
		{"data: null", eventstore.Commit{Events: ev(`null`)}, nil},
		{"data: an array", eventstore.Commit{Events: ev(`[1,"two",{"3":[]}]`)}, nil},
		{"data: a huge number (1e400)", eventstore.Commit{Events: ev(`1e400`)}, nil},
		{"data: a 10,000-digit integer", eventstore.Commit{Events: ev(strings.Repeat("9", 10_000))}, nil},
		{"data: -0.0", eventstore.Commit{Events: ev(`-0.0`)}, nil},
		{"data: escapes, a lone surrogate, HTML", eventstore.Commit{Events: ev(`"\u0000\ud800 <b>&amp;</b> \u2028"`)}, nil},
		{"data: raw Unicode", eventstore.Commit{Events: ev(`{"ключ":"😀"}`)}, nil},
		{"data: inner whitespace", eventstore.Commit{Events: ev("{ \"a\" :\n\t1 }")}, nil},
		{"data: nested 9,998 deep", eventstore.Commit{Events: ev(nested(9998))}, nil},
		{"data: nested 9,999 deep", eventstore.Commit{Events: ev(nested(9999))}, eventstore.ErrInvalidCommit},
		{"data: whitespace around the value (trimmed)", eventstore.Commit{Events: ev(" {\"a\":1}\n")}, nil},
		{"data: whitespace only", eventstore.Commit{Events: ev(" \n")}, eventstore.ErrInvalidCommit},
		{"data: not UTF-8", eventstore.Commit{Events: ev("\"a\xffb\"")}, eventstore.ErrInvalidCommit},
		{"data: not JSON", eventstore.Commit{Events: ev(`{"a":}`)}, eventstore.ErrInvalidCommit},
		{"type: Unicode, 10 KB", eventstore.Commit{Events: []eventstore.Event{{Type: "créé 😀 " + strings.Repeat("t", 10_000)}}}, nil},
		{"type: not UTF-8", eventstore.Commit{Events: []eventstore.Event{{Type: "t\xff"}}}, eventstore.ErrInvalidCommit},
		{"type: empty", eventstore.Commit{Events: []eventstore.Event{{Data: json.RawMessage(`1`)}}}, eventstore.ErrInvalidCommit},
		{"commit metadata: empty value, Unicode key", eventstore.Commit{Metadata: map[string]string{"k": "", "ключ": "😀"}}, nil},
		{"commit metadata: 1,000 keys", eventstore.Commit{Metadata: manyKeys(1000)}, nil},
		{"commit metadata: empty key", eventstore.Commit{Metadata: map[string]string{"": "v"}}, eventstore.ErrInvalidCommit},
		{"commit metadata: value not UTF-8", eventstore.Commit{Metadata: map[string]string{"k": "\xff"}}, eventstore.ErrInvalidCommit},
		{"event metadata: empty key and empty value", eventstore.Commit{Events: []eventstore.Event{
			{Type: "t", Metadata: map[string]string{"": "empty key", "k": ""}}}}, nil},
		{"event metadata: key not UTF-8", eventstore.Commit{Events: []eventstore.Event{
			{Type: "t", Metadata: map[string]string{"\xff": "v"}}}}, eventstore.ErrInvalidCommit},
	}
	var stored []eventstore.Commit
	for i, tt := range tests {
		c := tt.c
		if c.AggregateID == "" && tt.name != "aggregate id: empty" {
			c.AggregateID = fmt.Sprintf("edge-%02d", i)
		}
		if c.Events == nil {
			c.Events = ev(`{}`)
		}
		got, err := s.Append(ctxT(t), c)
		switch {
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: Append = %v, want %v", tt.name, err, tt.want)
		case tt.want == nil && err != nil:
			t.Errorf("%s: Append = %v, want it stored", tt.name, err)
		case tt.want == nil:
			read := collect(t, s.Query(ctxT(t), c.AggregateID, c.Version))
			if len(read) != 1 {
				t.Errorf("%s: Query read %d commits, want 1", tt.name, len(read))
			} else if diff := cmp.Diff(got, read[0]); diff != "" {
				t.Errorf("%s: read back differs (-appended +read):\n%.2000s", tt.name, diff)
			}
			stored = append(stored, got)
		}
	}
	// Scan reads the same commits, in CommitID (here: append) order.
	if diff := cmp.Diff(stored, collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0)))); diff != "" {
		t.Errorf("Scan differs from what was appended (-appended +scanned):\n%.2000s", diff)
	}
	if n := countItems(t, client, table); n != len(stored) {
		t.Errorf("table holds %d commits, want the %d stored: a refused commit was written", n, len(stored))
	}
}

func manyKeys(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("key-%04d", i)] = strings.Repeat("v", i%50)
	}
	return m
}
