package eventstore

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func same(e Event) (Event, error) { return e, nil }

// TestNewRefusesUpcasterLoops: New refuses upcasters a read could follow
// forever, or that could not run, with an error naming them, and returns
// no store (New sends no request, so nothing is written).
func TestNewRefusesUpcasterLoops(t *testing.T) {
	t.Parallel()
	up := func(typ, v, toType, toV string) Upcaster {
		return Upcaster{Type: typ, Version: v, ToType: toType, ToVersion: toV, Upcast: same}
	}
	tests := []struct {
		name      string
		upcasters []Upcaster
		want      error  // matched with errors.Is; nil: any error
		mention   string // in the message
	}{
		{"v1 -> v2 -> v1", []Upcaster{up("a", "1", "", "2"), up("a", "2", "", "1")}, errUpcasterLoop, `"a" version "1" -> "a" version "2" -> "a" version "1"`},
		{"to itself", []Upcaster{up("a", "1", "", "1")}, errUpcasterLoop, `"a" version "1" -> "a" version "1"`},
		{"to itself, type named", []Upcaster{up("a", "", "a", "")}, errUpcasterLoop, `"a" (no version)`},
		{"through a rename", []Upcaster{up("a", "1", "b", "1"), up("b", "1", "a", "1")}, errUpcasterLoop, `"b" version "1"`},
		{"a tail into a loop", []Upcaster{up("a", "1", "", "2"), up("a", "2", "", "3"), up("a", "3", "", "2")}, errUpcasterLoop, `"a" version "2" -> "a" version "3" -> "a" version "2"`},
		{"two for one key", []Upcaster{up("a", "1", "", "2"), up("a", "1", "", "3")}, errDuplicateUpcaster, "Config.Upcasters[0] and [1]"},
		{"no type", []Upcaster{up("", "1", "a", "2")}, nil, "empty Type"},
		{"no func", []Upcaster{{Type: "a", Version: "1", ToVersion: "2"}}, nil, "nil Upcast"},
		{"not UTF-8", []Upcaster{up("a", "\xff", "", "2")}, errInvalidUTF8, "Config.Upcasters[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(&dynamodb.Client{}, Config{Table: "events", Upcasters: tt.upcasters})
			if err == nil || s != nil {
				t.Fatalf("New = %v, %v; want an error", s, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("New: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("New: %v, want it to mention %s", err, tt.mention)
			}
			if n := strings.Count(err.Error(), errUpcasterLoop.Error()); tt.want == errUpcasterLoop && n != 1 {
				t.Errorf("New reports the loop %d times: %v", n, err)
			}
		})
	}
}

// TestUpcasterChains: chains that end are accepted, however long, and
// compose; an event no upcaster selects is left as it is; the version is
// stamped as declared.
func TestUpcasterChains(t *testing.T) {
	t.Parallel()
	var list []Upcaster
	for v := range 20 { // v0 -> v1 -> ... -> v20, in reverse order of registration
		list = append([]Upcaster{{Type: "a", Version: strconv.Itoa(v), ToVersion: strconv.Itoa(v + 1), Upcast: func(e Event) (Event, error) {
			e.Data = append(e.Data[:len(e.Data)-1], []byte(`,"s`+strconv.Itoa(v)+`":1}`)...)
			return e, nil
		}}}, list...)
	}
	list = append(list, Upcaster{Type: "old", ToType: "a", ToVersion: "0", Upcast: same})
	s, err := New(&dynamodb.Client{}, Config{Table: "events", Upcasters: list})
	if err != nil {
		t.Fatal(err)
	}
	c := Commit{AggregateID: "x", Events: []Event{
		{Type: "old", Data: json.RawMessage(`{"k":0}`)},
		{Type: "a", Data: json.RawMessage(`{"k":1}`), Metadata: map[string]string{"v": "20"}},
		{Type: "b", Data: json.RawMessage(`{"k":2}`), Metadata: map[string]string{"v": "1"}},
	}}
	if err := s.upcast(&c); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString(`{"k":0`)
	for v := range 20 {
		want.WriteString(`,"s` + strconv.Itoa(v) + `":1`)
	}
	want.WriteString("}")
	if got := c.Events[0]; got.Type != "a" || got.Metadata["v"] != "20" || string(got.Data) != want.String() {
		t.Errorf("event 0 = %s %v %s, want a v20 %s", got.Type, got.Metadata, got.Data, want.String())
	}
	for i, e := range c.Events[1:] {
		if string(e.Data) != `{"k":`+strconv.Itoa(i+1)+`}` {
			t.Errorf("event %d changed: %s %v %s", i+1, e.Type, e.Metadata, e.Data)
		}
	}
}
